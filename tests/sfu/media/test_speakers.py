from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from sfu.media.speakers import LEVELS_EVERY_MS, Speaker, SpeakerDetector, Speakers, due

TICK_MS = 200
PACKETS = 10  # 20 ms Opus packets per tick
LOUD, QUIET, SILENT = 15, 70, 127  # -dBov: a voice, a quiet room, digital silence


class Room:
    """A detector run every TICK_MS, with each track's level held for whole ticks."""

    def __init__(self) -> None:
        self.detector: SpeakerDetector[str] = SpeakerDetector()
        self.now_ms = 0
        self.log: list[tuple[int, Speakers[str]]] = []

    def run(self, levels: Mapping[str, int], ms: int) -> Speakers[str]:
        for _ in range(ms // TICK_MS):
            self.now_ms += TICK_MS
            speakers = self.detector.update(
                {key: [level] * PACKETS for key, level in levels.items()}, self.now_ms
            )
            self.log.append((self.now_ms, speakers))
        return self.log[-1][1]

    def first(self, predicate: object, since_ms: int) -> int:
        """Ms after `since_ms` until the first update satisfying `predicate`."""
        assert callable(predicate)
        return next(t for t, s in self.log if t > since_ms and predicate(s)) - since_ms


def names(speakers: Speakers[str]) -> list[str]:
    return [s.key for s in speakers.active]


def test_a_voice_is_named_within_half_a_second_and_dropped_within_a_second() -> None:
    room = Room()
    room.run({"a": QUIET, "b": QUIET}, 1000)
    assert room.log[-1][1] == Speakers()
    room.run({"a": LOUD, "b": QUIET}, 2000)
    room.run({"a": QUIET, "b": QUIET}, 2000)
    assert room.first(lambda s: names(s) == ["a"], 1000) <= 500
    assert room.first(lambda s: names(s) == [], 3000) <= 1000
    assert room.log[-1][1] == Speakers((), "a")  # the floor stays with the last speaker


def test_a_single_loud_tick_is_not_speech() -> None:
    room = Room()
    room.run({"a": QUIET}, 1000)
    room.run({"a": LOUD}, TICK_MS)
    assert room.run({"a": QUIET}, 1000) == Speakers()
    assert all(not s.active for _, s in room.log)


def test_hysteresis_keeps_a_speaker_through_short_pauses() -> None:
    room = Room()
    room.run({"a": LOUD}, 1000)
    for _ in range(5):  # 200 ms breaths between 400 ms of words
        assert names(room.run({"a": QUIET}, TICK_MS)) == ["a"]
        assert names(room.run({"a": LOUD}, 2 * TICK_MS)) == ["a"]


def test_overlapping_speakers_are_ordered_loudest_first_and_the_first_keeps_the_floor() -> None:
    room = Room()
    assert room.run({"a": 25, "b": QUIET}, 2000).dominant == "a"
    speakers = room.run({"a": 25, "b": 10}, 3000)  # b talks over a, louder, for 3 s
    assert names(speakers) == ["b", "a"]
    assert speakers.active[0].level > speakers.active[1].level
    assert all(s.dominant == "a" for t, s in room.log if t > 2000)
    room.run({"a": QUIET, "b": 10}, 1000)  # a stops: b soon has the floor
    assert room.first(lambda s: s.dominant == "b", 5000) <= 1000


def test_an_interjection_does_not_take_the_floor() -> None:
    room = Room()
    assert room.run({"a": LOUD, "b": QUIET}, 3000).dominant == "a"
    room.run({"a": QUIET, "b": LOUD}, 400)  # "yes" while a draws breath
    room.run({"a": LOUD, "b": QUIET}, 2000)
    assert any("b" in names(s) for _, s in room.log)  # b was heard...
    assert all(s.dominant == "a" for t, s in room.log if t > 3000)  # ... a kept the floor


def test_the_floor_passes_after_the_dominant_speaker_stops() -> None:
    room = Room()
    room.run({"a": LOUD, "b": QUIET}, 3000)
    room.run({"a": QUIET, "b": QUIET}, 5000)
    room.run({"a": QUIET, "b": LOUD}, 1000)
    assert room.first(lambda s: s.dominant == "b", 8000) <= 800


def test_muted_tracks_never_speak_and_lose_the_floor() -> None:
    room = Room()
    room.run({"a": LOUD, "b": QUIET}, 2000)
    assert room.run({"b": QUIET}, TICK_MS) == Speakers()  # a muted: left out, forgotten
    room.run({"a": LOUD, "b": QUIET}, TICK_MS)  # unmuted: starts afresh, one tick is not enough
    assert names(room.log[-1][1]) == []


def test_no_packets_is_silence() -> None:
    detector: SpeakerDetector[str] = SpeakerDetector()
    for now in range(200, 2001, 200):
        detector.update({"a": [LOUD] * PACKETS}, now)
    for now in range(2200, 4001, 200):
        speakers = detector.update({"a": []}, now)  # DTX, or the publisher stalled
    assert speakers == Speakers((), "a")


def test_time_between_updates_is_what_counts() -> None:
    """Two updates 1 s apart weigh like five 200 ms ones: a slow tick does not slow detection."""
    slow: SpeakerDetector[str] = SpeakerDetector()
    slow.update({"a": [QUIET]}, 200)
    assert names(slow.update({"a": [LOUD] * 50}, 1200)) == ["a"]


def test_levels_are_linear_amplitudes() -> None:
    room = Room()
    speakers = room.run({"a": 0, "b": 20}, 3000)
    assert speakers.active == (Speaker("a", 1.0), Speaker("b", 0.1))


def test_changes_are_told_at_once_levels_alone_at_most_once_a_second() -> None:
    a, b = Speaker("a", 0.5), Speaker("b", 0.3)
    told = Speakers((a, b), "a")
    assert due(told, Speakers((b, a), "a"), 0, 1)  # order
    assert due(told, Speakers((a,), "a"), 0, 1)  # who
    assert due(told, Speakers((a, b), "b"), 0, 1)  # the floor
    louder = Speakers((Speaker("a", 0.6), b), "a")
    assert not due(told, louder, 0, LEVELS_EVERY_MS - 1)
    assert due(told, louder, 0, LEVELS_EVERY_MS)
    assert not due(told, Speakers((Speaker("a", 0.52), b), "a"), 0, 10 * LEVELS_EVERY_MS)
    assert not due(Speakers(), Speakers(), 0, 10 * LEVELS_EVERY_MS)


levels = st.lists(st.integers(0, 127), max_size=12)
ticks = st.lists(
    st.tuples(
        st.integers(1, 1000),  # ms since the previous update
        st.dictionaries(st.sampled_from("abcd"), levels, max_size=4),
    ),
    max_size=40,
)


@given(ticks)
def test_properties(run: list[tuple[int, dict[str, list[int]]]]) -> None:
    detector: SpeakerDetector[str] = SpeakerDetector()
    now, dominant = 0, None
    for elapsed, tracks in run:
        now += elapsed
        speakers = detector.update(tracks, now)
        keys = names(speakers)
        assert set(keys) <= set(tracks)  # only unmuted tracks speak
        assert len(set(keys)) == len(keys)
        assert all(0 < s.level <= 1 for s in speakers.active)
        assert [s.level for s in speakers.active] == sorted(
            (s.level for s in speakers.active), reverse=True
        )
        for key in keys:  # a speaker sent voice-loud packets
            assert any(level <= 40 for _, t in run for level in t.get(key, []))
        if speakers.dominant != dominant:  # the floor moves only to someone speaking...
            assert speakers.dominant in keys or speakers.dominant is None
            assert speakers.dominant is not None or dominant not in tracks  # ... or its owner left
        dominant = speakers.dominant


@given(
    st.lists(st.dictionaries(st.sampled_from("abc"), st.lists(st.integers(41, 127))), max_size=30)
)
def test_quiet_rooms_have_no_speakers(run: list[dict[str, list[int]]]) -> None:
    detector: SpeakerDetector[str] = SpeakerDetector()
    for tick, tracks in enumerate(run, 1):
        assert detector.update(tracks, tick * TICK_MS) == Speakers()
