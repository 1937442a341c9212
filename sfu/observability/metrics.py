"""Prometheus metrics of a media node, read from a snapshot of it at scrape time.

The packet path bumps plain ints (``MediaCounters``); this collector turns them into metric
families only when /metrics is scraped, so metrics cost nothing per packet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from sfu.media.counters import MediaCounters
from sfu.signaling.data_budget import DataCounters
from sfu.tap.backlog import TapCounters
from sfu.webrtc.kernels import Datapath
from sfu.webrtc.tcpport import TcpPort
from sfu.webrtc.udpmux import UdpMux


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """What the metrics read of a node, taken at scrape time."""

    rooms: int
    participants: int
    published_tracks: int
    subscriptions: int
    counters: MediaCounters
    speakers: int  # audio tracks speaking now, in all rooms
    speaker_updates: int
    data: DataCounters
    webhooks: Mapping[str, int]  # webhook events by outcome
    mux: UdpMux | None
    taps: TapCounters = field(default_factory=TapCounters)
    whip_sessions: int = 0  # WHIP publishers (counted among the participants too)
    whep_sessions: int = 0  # WHEP players (hidden: not counted among the participants)


class _NodeCollector(Collector):
    def __init__(self, snapshot: Callable[[], NodeSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        node = self._snapshot()
        counters = node.counters
        yield GaugeMetricFamily("sfu_rooms", "Rooms open on this node", value=node.rooms)
        yield GaugeMetricFamily(
            "sfu_participants", "Participants connected", value=node.participants
        )
        yield GaugeMetricFamily(
            "sfu_whip_sessions", "WHIP publishers connected", value=node.whip_sessions
        )
        yield GaugeMetricFamily(
            "sfu_whep_sessions", "WHEP players connected", value=node.whep_sessions
        )
        yield GaugeMetricFamily(
            "sfu_published_tracks", "Tracks published", value=node.published_tracks
        )
        yield GaugeMetricFamily(
            "sfu_subscriptions", "Tracks forwarded to a subscriber", value=node.subscriptions
        )
        yield GaugeMetricFamily(
            "sfu_active_speakers", "Audio tracks speaking now (all rooms)", value=node.speakers
        )
        yield CounterMetricFamily(
            "sfu_speaker_updates",
            "Changes of a room's speakers told to its members (each update to all of them)",
            value=node.speaker_updates,
        )
        yield CounterMetricFamily(
            "sfu_packets_in", "RTP packets received from publishers", value=counters.packets_in
        )
        yield CounterMetricFamily(
            "sfu_bytes_in", "RTP bytes received from publishers", value=counters.bytes_in
        )
        yield CounterMetricFamily(
            "sfu_packets_out", "RTP packets forwarded to subscribers", value=counters.packets_out
        )
        yield CounterMetricFamily(
            "sfu_bytes_out", "RTP bytes forwarded to subscribers", value=counters.bytes_out
        )
        yield CounterMetricFamily(
            "sfu_retransmits",
            "Packets resent from history on a subscriber's NACK",
            value=counters.retransmits,
        )
        yield CounterMetricFamily(
            "sfu_uplink_nacked",
            "Sequence numbers NACKed to publishers for lost packets, retries included",
            value=counters.uplink_nacked,
        )
        yield CounterMetricFamily(
            "sfu_uplink_recovered",
            "Packets lost on a publisher's uplink that arrived after all (resent or late)",
            value=counters.uplink_recovered,
        )
        yield CounterMetricFamily(
            "sfu_uplink_unrecovered",
            "Packets lost on a publisher's uplink and given up (too old, too many tries, or "
            "made useless by a keyframe)",
            value=counters.uplink_unrecovered,
        )
        yield CounterMetricFamily(
            "sfu_clamped_estimates",
            "Subscriber bandwidth estimates (REMB) outside any plausible range, clamped",
            value=counters.clamped_estimates,
        )
        drops = CounterMetricFamily(
            "sfu_dropped_packets", "Packets not forwarded, by reason", labels=["reason"]
        )
        for reason, count in counters.drops.items():
            drops.add_metric([reason.value], count)
        yield drops
        yield CounterMetricFamily(
            "sfu_data_forwarded",
            "Data messages queued to receivers (one per receiver)",
            value=node.data.forwarded,
        )
        data_drops = CounterMetricFamily(
            "sfu_data_dropped",
            "Data messages refused (too_large, rate_limited, not_allowed), names in `to` not in "
            "the room (unknown_recipient), lossy copies for receivers behind (receiver_backlog)",
            labels=["reason"],
        )
        for drop, count in node.data.drops.items():
            data_drops.add_metric([drop.value], count)
        yield data_drops
        yield CounterMetricFamily(
            "sfu_signaling_cut_off",
            "Signaling sessions closed (4508): their client read nothing while "
            "SFU_SIGNALING_BACKLOG messages waited",
            value=node.data.cut_off,
        )
        webhooks = CounterMetricFamily(
            "sfu_webhooks", "Webhook events by outcome", labels=["outcome"]
        )
        for outcome, count in node.webhooks.items():
            webhooks.add_metric([outcome], count)
        yield webhooks
        yield from _tap_metrics(node.taps)
        if node.mux is not None:
            yield from _udp_metrics(node.mux)


def _tap_metrics(taps: TapCounters) -> Iterator[Metric]:
    yield CounterMetricFamily("sfu_taps_opened", "Audio taps that started", value=taps.opened)
    yield CounterMetricFamily(
        "sfu_tap_frames", "PCM frames written to audio taps' bots", value=taps.frames
    )
    yield CounterMetricFamily(
        "sfu_tap_dropped_frames",
        "PCM frames dropped because a tap's bot was behind (its backlog full)",
        value=taps.dropped,
    )
    yield CounterMetricFamily(
        "sfu_taps_cut_off",
        "Audio taps closed: their bot read nothing for too long",
        value=taps.cut_off,
    )
    yield CounterMetricFamily(
        "sfu_tap_voice_packets",
        "Opus packets of bots' voices (audio sent on a tap) published into rooms",
        value=taps.spoken,
    )
    yield CounterMetricFamily(
        "sfu_tap_voice_dropped_frames",
        "PCM frames bots sent while their playout buffer was full",
        value=taps.voice_dropped,
    )
    yield CounterMetricFamily(
        "sfu_tap_cpu_seconds",
        "CPU spent decoding, resampling, mixing and encoding for audio taps",
        value=taps.cpu_s,
    )


def _udp_metrics(mux: UdpMux) -> Iterator[Metric]:
    """The ICE-lite port (SFU_UDP_PORT): answered checks and unanswered datagrams."""
    yield GaugeMetricFamily(
        "sfu_udp_transports", "Peer connections on the node's UDP port", value=len(mux.by_ufrag)
    )
    yield CounterMetricFamily(
        "sfu_udp_stun_answered",
        "Connectivity checks answered on the node's UDP port",
        value=mux.stats.checks_answered,
    )
    drops = CounterMetricFamily(
        "sfu_udp_dropped",
        "Datagrams on the node's UDP port dropped without an answer, by reason",
        labels=["reason"],
    )
    for reason, count in mux.stats.drops.items():
        drops.add_metric([reason.value], count)
    if mux.datapath is not None:
        drops.add_metric(["send_failed"], mux.datapath.send_failed)
        yield from _datapath_metrics(mux.datapath)
    yield drops
    if mux.tcp is not None:
        yield from _tcp_metrics(mux.tcp)


def _tcp_metrics(port: TcpPort) -> Iterator[Metric]:
    """ICE-TCP (SFU_TCP_PORT): connections, and those closed for what they sent or did not."""
    yield GaugeMetricFamily(
        "sfu_tcp_connections", "Open ICE-TCP connections", value=len(port.links)
    )
    yield CounterMetricFamily(
        "sfu_tcp_accepted", "ICE-TCP connections accepted", value=port.stats.accepted
    )
    closed = CounterMetricFamily(
        "sfu_tcp_dropped", "ICE-TCP connections closed by the node, by reason", labels=["reason"]
    )
    for reason, count in port.stats.drops.items():
        closed.add_metric([reason.value], count)
    yield closed


def _datapath_metrics(datapath: Datapath) -> Iterator[Metric]:
    """How batched the port's reads and sends are: datagrams per batch, batches per wake-up,
    datagrams sent in segmented runs."""
    for name, value, what in (
        ("sfu_udp_wakeups", datapath.wakeups, "Times the node's UDP port was drained"),
        ("sfu_udp_batches", datapath.batches, "recvmmsg calls that returned datagrams"),
        ("sfu_udp_datagrams", datapath.datagrams, "Datagrams read from the node's UDP port"),
        ("sfu_udp_sent", datapath.sent, "Media datagrams sent by the datapath"),
        (
            "sfu_udp_coalesced",
            datapath.coalesced,
            "Of those, datagrams sent several to a send, cut apart by the kernel (UDP GSO)",
        ),
    ):
        yield CounterMetricFamily(name, what, value=value)


class NodeMetrics:
    def __init__(self, snapshot: Callable[[], NodeSnapshot]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_NodeCollector(snapshot))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
