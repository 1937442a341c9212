"""What a participant's successive records say happened to its tracks (the webhooks' track
events)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cluster.models import TrackRecord
from sfu.control.presence import track_events

CAMERA = TrackRecord("TR_c", "video", source="camera")
MIC = TrackRecord("TR_m", "audio", source="microphone")
SCREEN = TrackRecord("TR_s", "video", source="screen")


def _muted(track: TrackRecord, muted: bool = True) -> TrackRecord:
    return TrackRecord(track.id, track.kind, muted, track.source)


def test_each_change_is_one_event_gone_tracks_first() -> None:
    assert track_events((), (CAMERA, MIC)) == [
        ("track_published", CAMERA),
        ("track_published", MIC),
    ]
    assert track_events((CAMERA, MIC), (CAMERA, MIC, SCREEN)) == [("track_published", SCREEN)]
    assert track_events((CAMERA, MIC), (CAMERA, _muted(MIC))) == [("track_muted", _muted(MIC))]
    assert track_events((_muted(MIC),), (MIC,)) == [("track_unmuted", MIC)]
    assert track_events((CAMERA, SCREEN), (_muted(CAMERA),)) == [
        ("track_unpublished", SCREEN),
        ("track_muted", _muted(CAMERA)),
    ]
    assert track_events((CAMERA, MIC), (CAMERA, MIC)) == []


TRACKS = st.lists(
    st.builds(TrackRecord, st.sampled_from(["a", "b", "c", "d"]), st.just("video"), st.booleans()),
    unique_by=lambda t: t.id,
    max_size=4,
)


@given(TRACKS, TRACKS)
def test_replaying_the_events_on_the_old_record_gives_the_new_one(
    before: list[TrackRecord], after: list[TrackRecord]
) -> None:
    tracks = {t.id: t for t in before}
    for event, track in track_events(before, after):
        if event == "track_unpublished":
            assert tracks.pop(track.id) == track
        else:
            assert (track.id in tracks) == (event != "track_published")
            tracks[track.id] = track
    assert tracks == {t.id: t for t in after}
