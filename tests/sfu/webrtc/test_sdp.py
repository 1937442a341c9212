from __future__ import annotations

from pathlib import Path

from sfu.webrtc.sdp import add_simulcast_and_bitrate, offered_simulcast, without_transport_cc

OFFER = (Path(__file__).parents[2] / "data" / "chrome_simulcast_offer.sdp").read_text()

ANSWER = "\r\n".join(
    [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
        "a=mid:0",
        "a=rtpmap:96 VP8/90000",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=mid:1",
        "a=rtpmap:111 opus/48000/2",
        "",
    ]
)


def test_reads_chrome_simulcast_layers_lowest_first() -> None:
    assert list(offered_simulcast(OFFER).values()) == [["q", "h", "f"]]


def test_answer_accepts_the_layers_and_sets_a_start_bitrate() -> None:
    out = add_simulcast_and_bitrate(ANSWER, {"0": ["q", "h", "f"]}, 2500)
    video, audio = out.split("m=audio")
    assert "a=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\na=simulcast:recv q;h;f\r\n" in video
    assert "a=fmtp:96 x-google-start-bitrate=2500" in video
    assert "rid" not in audio and "x-google" not in audio
    assert out.endswith("\r\n")


def test_start_bitrate_extends_an_existing_fmtp() -> None:
    answer = ANSWER.replace("a=rtpmap:96 VP8/90000", "a=rtpmap:96 VP8/90000\r\na=fmtp:96 foo=1")
    out = add_simulcast_and_bitrate(answer, {}, 1000)
    assert "a=fmtp:96 foo=1;x-google-start-bitrate=1000" in out


def test_no_simulcast_no_rid_lines() -> None:
    out = add_simulcast_and_bitrate(ANSWER, {}, 0)
    assert "rid" not in out and "x-google" not in out


def test_without_transport_cc_removes_its_extension_and_feedback_only() -> None:
    plain = without_transport_cc(OFFER)
    removed = set(OFFER.splitlines()) - set(plain.splitlines())
    assert removed and all("transport-wide-cc" in r or r.endswith(" transport-cc") for r in removed)
    assert "transport-cc" not in plain and "transport-wide-cc" not in plain
    assert "a=rtcp-fb:96 goog-remb" in plain and plain.count("m=") == OFFER.count("m=")
