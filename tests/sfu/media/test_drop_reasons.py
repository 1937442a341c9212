"""One drop vocabulary, two metrics: the labels operators' dashboards use stay as they were."""

from __future__ import annotations

from sfu.media.counters import MEDIA_DROPS, PORT_DROPS, TCP_DROPS, DropReason, MediaCounters

# sfu_udp_dropped's reasons (the datapath adds send_failed itself)
PORT_LABELS = {
    "unknown_address", "not_webrtc", "stun_oversized", "stun_rate_limited", "stun_malformed",
    "stun_not_binding_request", "stun_unauthenticated", "stun_unknown_ufrag",
    "stun_wrong_remote_ufrag", "stun_bad_integrity", "stun_response_too_large",
    "dtls_queue_full", "srtp_before_keys", "send_buffer_full",
}  # fmt: skip
TCP_LABELS = {
    "tcp_frame_too_large", "tcp_bad_frame", "tcp_no_check", "tcp_connections_limited",
}  # fmt: skip


def test_the_ports_reasons_keep_their_labels() -> None:
    assert {r.value for r in PORT_DROPS} == PORT_LABELS
    assert len(PORT_DROPS) == len(PORT_LABELS)
    assert {r.value for r in TCP_DROPS} == TCP_LABELS


def test_every_reason_is_counted_by_the_media_path_or_a_port() -> None:
    assert set(MEDIA_DROPS) | set(PORT_DROPS) | set(TCP_DROPS) == set(DropReason)
    assert set(MEDIA_DROPS) & set(PORT_DROPS) == {DropReason.NOT_WEBRTC}
    assert not set(TCP_DROPS) & (set(MEDIA_DROPS) | set(PORT_DROPS))
    assert set(MediaCounters().drops) == set(MEDIA_DROPS)


def test_codes_and_labels_are_unique() -> None:
    assert len({r.code for r in DropReason}) == len(DropReason)
    assert len({r.value for r in DropReason}) == len(DropReason)
    assert all(DropReason.of(r.code) is r for r in DropReason)
