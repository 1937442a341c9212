"""The SDP fragment side of WHIP/WHEP resources: what a PATCH body says, what an ICE restart
answers (RFC 8840, RFC 9725 §4.3)."""

from __future__ import annotations

from sfu.webrtc.peer import IceCredentials
from sfu.whip.resource import answer_fragment, parse_fragment

# As whip-whep 1.2.0 trickles (candidates of the first m-line only), CRLF line ends.
TRICKLE = (
    "a=ice-ufrag:EsAw\r\n"
    "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
    "a=mid:0\r\n"
    "a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0\r\n"
    "a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0\r\n"
    "a=end-of-candidates\r\n"
)


def test_a_trickle_fragment_gives_credentials_and_candidates_by_mid() -> None:
    fragment = parse_fragment(TRICKLE)
    assert (fragment.ufrag, fragment.password, fragment.mid) == (
        "EsAw",
        "P2uYro0UCOQ4zxjKXaWCBui1",
        "0",
    )
    assert fragment.candidates == [
        ("0", "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0"),
        ("0", "candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0"),
        ("0", None),
    ]


def test_an_offer_gives_its_first_ufrag_and_mid() -> None:
    offer = "v=0\nm=video 9 UDP/TLS/RTP/SAVPF 96\na=mid:v\na=ice-ufrag:one\na=ice-pwd:p\n"
    offer += "m=audio 9 UDP/TLS/RTP/SAVPF 111\na=mid:a\na=ice-ufrag:two\n"
    fragment = parse_fragment(offer)
    assert (fragment.ufrag, fragment.mid, fragment.candidates) == ("one", "v", [])


def test_an_ice_restart_answer_round_trips() -> None:
    ours = IceCredentials("newu", "newpassword", ["lite0 1 udp 2130706431 192.0.2.9 7882 typ host"])
    text = answer_fragment(ours, "0")
    assert text.startswith("a=ice-lite\r\n") and text.endswith("a=end-of-candidates\r\n")
    again = parse_fragment(text)
    assert (again.ufrag, again.password, again.mid) == ("newu", "newpassword", "0")
    assert again.candidates == [("0", "candidate:" + ours.candidates[0]), ("0", None)]
