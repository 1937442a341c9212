"""A short load test: the tool's own counts agree with what the node says it forwarded."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest
from aiortc.rtp import RtcpPacket, RtcpRrPacket

from load_tests import report, seam
from load_tests.clip import Clip, VideoClip, load_clip
from load_tests.ours import OurParticipant, local_sfu
from load_tests.publishing import VIDEO_TS_STEP, MediaSource, SendParams
from load_tests.ramp import between
from load_tests.receiving import ReceivePath
from load_tests.results import StepResult, Thresholds
from load_tests.rtp import RtpView, read_rtp, read_sender_reports
from load_tests.runner import join_all, leave, measure, seats
from load_tests.scenario import Scenario, ScenarioError, parse_scenarios
from load_tests.sdp import MID_URI, RID_URI, send_params, transport_cc_id
from load_tests.server import scrape
from load_tests.spread import measure_spread, split
from sfu.webrtc.stack import TRANSPORT_CC_URI

CACHE = Path.home() / ".cache" / "seed-sfu-load"


@pytest.mark.webrtc
@pytest.mark.parametrize(("workers", "target"), [(1, "ours"), (2, "ours"), (1, "ours-aioice")])
async def test_counts_match_the_node_metrics(tmp_path: Path, workers: int, target: str) -> None:
    """In one process, or spread over two worker processes, the tool counts what the node
    says it forwarded (within 2 %); on the node's one port and on aiortc's ports alike."""
    clip = await asyncio.to_thread(load_clip, CACHE)
    scenario = Scenario(name="check", publishers=2, viewers=2, duration_s=4, warmup_s=2)
    env = {"SFU_UDP_PORT": "0"} if target == "ours-aioice" else {}
    async with local_sfu(tmp_path, name=target, env=env) as sfu:
        seam.configure(sfu.ice_host)
        calls = _record_calls(sfu)
        if workers == 1:
            result = await measure(sfu, scenario, clip, asyncio.Event())
        else:
            result = await measure_spread(
                sfu, scenario, clip, CACHE, asyncio.Event(), workers=workers
            )
            assert len(set(result.worker_pids)) == workers
            assert os.getpid() not in result.worker_pids
            assert result.generator_cpu_max_s is not None
            assert 0 < result.generator_cpu_max_s <= result.generator_cpu_s
    assert result.complete and result.join_failures == 0
    assert result.streams_received == scenario.subscriptions == 12
    assert result.received_pkts > 1000
    assert result.server_pkts_out is not None
    assert abs(result.received_pkts - result.server_pkts_out) <= 0.02 * result.server_pkts_out
    assert result.sent_pkts == pytest.approx(result.server_pkts_in, rel=0.02)
    assert result.loss < 0.05 and result.delay_ms_p99 is not None  # loopback: sanity bound
    assert result.cpu_us_per_pkt is not None and result.subscriber_kbps  # a video layer arrived
    assert f"| {target} | check | 4 |" in report.markdown([result])
    # the node's CPU window (between the first and last CPU samples) holds no /metrics scrape
    assert calls[0] == "counters" and calls[-1] == "counters"
    assert "counters" not in calls[1:-1]


def _record_calls(sfu: Any) -> list[str]:
    """The order in which the tool samples the node's CPU and scrapes its counters."""
    calls: list[str] = []
    proc, counters = sfu.proc, sfu.counters

    def recorded_proc() -> Any:
        calls.append("proc")
        return proc()

    async def recorded_counters() -> dict[str, float]:
        calls.append("counters")
        return dict(await counters())

    sfu.proc, sfu.counters = recorded_proc, recorded_counters
    return calls


@pytest.mark.webrtc
async def test_participants_answer_the_node_as_browsers_do(tmp_path: Path) -> None:
    """A subscriber answers the node's transport-cc and feeds back every packet it gets: the
    node estimates its downlink from that feedback, none of it dropped as unknown or stale, and
    the subscriber's reports echo the node's sender reports (LSR). The publisher pauses the
    layer nobody receives (dynacast), as the web client does."""
    clip = await asyncio.to_thread(load_clip, CACHE)
    scenario = Scenario(name="tcc", publishers=1, viewers=1, duration_s=1, warmup_s=1)
    failures: list[str] = []
    async with local_sfu(tmp_path) as sfu:
        seam.configure(sfu.ice_host)
        await sfu.prepare(scenario, ["tcc"])
        path = ReceivePath()
        people = await join_all(
            sfu, scenario, clip, seats(scenario, ["tcc"]), path, asyncio.Event(), failures
        )
        try:
            await asyncio.sleep(3)
            assert sfu.metrics_url is not None
            metrics = await scrape(sfu.api, sfu.metrics_url)
        finally:
            await leave(people)
            path.close()
    assert failures == []
    [viewer] = [p for p in people if not p.publishes]
    [publisher] = [p for p in people if p.publishes]
    assert publisher.source is not None
    assert [layer.active for layer in publisher.source.layers] == [True, True, False]  # "h"
    assert isinstance(viewer, OurParticipant) and viewer.receiver.transport_cc_id
    assert viewer.downlink is not None and viewer.downlink["source"] == "transport-cc"
    reports = viewer.reports.packets(viewer.receiver.reports(), time.monotonic_ns())
    assert viewer.receiver.malformed == 0
    parsed = [packet for report in reports for packet in RtcpPacket.parse(report)]
    assert len(parsed) == 2  # audio and video, each echoing the node's last sender report
    assert all(isinstance(p, RtcpRrPacket) and p.reports[0].lsr for p in parsed)
    for reason in ("transport_feedback_unknown", "transport_feedback_stale", "malformed_rtcp"):
        assert metrics[f'sfu_dropped_packets_total{{reason="{reason}"}}'] == 0


def result(target: str, scenario: str, cpu_s: float, **more: Any) -> StepResult:
    return StepResult(
        target, scenario, 4, 4, 4, 12, window_s=10, received_pkts=10_000, server_cpu_s=cpu_s, **more
    )


def test_the_ratio_table_sets_each_scenario_beside_janus_and_the_references() -> None:
    table = report.ratio_table(
        [result("ours", "meeting", 0.1), result("ours", "webinar", 0.1)],
        [result("janus", "meeting", 0.4)],
        {
            "ours, REMB only": [result("ours-remb", "meeting", 0.09)],
            "ours, all layers": [result("ours-all-layers", "meeting", 0.15)],
            "ours, aioice ports": [result("ours-aioice", "meeting", 0.2)],
        },
        {"ours": 12, "janus": 10},
    )
    assert table.startswith(
        "| scenario | CPU µs/fwd pkt ours | ours, REMB only | ours, all layers "
        "| ours, aioice ports | Janus | ratio | p99 delay ms ours | Janus | ratio |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    assert "| meeting | 10.0 | 9.0 | 15.0 | 20.0 | 40.0 | 0.25 |" in table
    assert "| webinar |" not in table  # no Janus figure to compare with
    assert "| max meeting at thresholds | 12x12 | | | | 10x10 | 1.20 |" in table


def test_a_scenario_run_several_times_is_compared_by_its_medians() -> None:
    """Three runs each: the ratio is of the medians (20 µs / 40 µs), and each cell shows the
    median then the range, so one noisy window neither decides the ratio nor hides."""
    table = report.ratio_table(
        [result("ours", "meeting", cpu) for cpu in (0.2, 0.1, 0.3)],
        [result("janus", "meeting", cpu) for cpu in (0.4, 0.9, 0.35)],
    )
    assert "| meeting | 20.0 (10.0-30.0) | 40.0 (35.0-90.0) | 0.50 |" in table


def test_a_ramp_bisects_between_its_last_good_and_first_beyond_step() -> None:
    within = {"expected_pkts": 10_000, "streams_received": 12, "delay_ms_p99": 20.0}
    good = (60, result("janus", "p-60", 1.0, **within))
    beyond = (70, result("janus", "p-70", 1.0, **{**within, "delay_ms_p99": 300.0}))
    assert between([good, beyond], Thresholds()) == 65
    assert between([good, (65, good[1]), beyond], Thresholds()) == 67
    assert between([good, (61, beyond[1]), beyond], Thresholds()) is None  # adjacent: done
    assert between([good], Thresholds()) is None  # the ramp never crossed
    assert between([beyond], Thresholds()) is None  # nothing was within


def test_the_limit_table_shows_where_each_node_crossed_the_thresholds() -> None:
    within = {"expected_pkts": 10_000, "streams_received": 12, "delay_ms_p99": 20.0}
    good = result("ours", "w-100", 9.5, generator_cpu_s=2.0, **within)
    beyond = result(
        "ours", "w-200", 10.0, server_rss_mb=300.0, video_subscriptions=200, freezes=3, **within
    )
    table = report.limit_table(
        {
            "ours": report.Limit(good, beyond, idle_rss_mb=100.0),
            "janus": report.Limit(good, None, idle_rss_mb=None),
        },
        Thresholds(),
    )
    row = "| w-100 | 1,000 | 95.0 | 950.0 | 20.0 | 20 (200.00) |"
    assert (
        f"| ours {row} w-200 | 1,000 | 100.0 | 1,000.0 | 20.0 | 0 (0.00) | 3 freezes | 1,024 |"
        in (table)
    )
    assert f"| janus {row} - | - | - | - | - | - | ramp ended within | - |" in table


def test_participants_are_split_whole_and_round_robin() -> None:
    assert split([1, 2, 3, 4, 5], 2) == [[1, 3, 5], [2, 4]]
    assert split([1], 3) == [[1]]


def test_a_bad_scenario_file_names_each_problem() -> None:
    text = '[[scenario]]\nname = "x"\npublishers = 0\nlayer = "z"\n'
    with pytest.raises(ScenarioError) as error:
        parse_scenarios(text, source="bad.toml")
    message = str(error.value)
    assert message.startswith("bad.toml: 2 problem(s)")
    assert "scenario.0.publishers: Input should be greater than or equal to 1" in message
    assert "scenario.0.layer: Input should be 'q', 'h' or 'f'" in message
    with pytest.raises(ScenarioError, match="unknown_field: Extra inputs are not permitted"):
        parse_scenarios('[[scenario]]\nname = "x"\nunknown_field = 1\n', source="f.toml")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        parse_scenarios("[[scenario", source="f.toml")


def test_publishers_report_each_stream_alone_with_the_ssrc_the_offer_declared() -> None:
    """Janus reads an RTCP compound as its first sender's: one SR per packet, and the audio sent
    on the SSRC the SDP announced."""
    audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=rtpmap:111 opus/48000/2\r\n"
    offer = (
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"
        f"a=extmap:4 {MID_URI}\r\na=extmap:10 {RID_URI}\r\na=rtpmap:96 VP8/90000\r\n"
        f"{audio}a=ssrc:1234 cname:x\r\n"
    )
    answer = (
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"
        "a=simulcast:recv q;h;f\r\n"
    )
    params = send_params(offer, answer + audio, ("q", "h", "f"))
    assert params.audio_ssrc == 1234
    layer = VideoClip(frames=(b"\x00" * 10,), keyframes=(0,))
    source = MediaSource(Clip(layers=(layer,) * 3, audio=(b"\x01",)), params)
    source.video_frame(0)
    source.audio_frame(0)
    reports = source.sender_reports(1_000.0)
    assert [read_sender_reports(r)[0][0] for r in reports] == [*source.ssrcs, 1234]
    assert all(len(read_sender_reports(r)) == 1 for r in reports)


def test_a_publisher_pauses_the_layers_nobody_receives_and_restarts_one_at_a_keyframe() -> None:
    """Dynacast as the web client answers it: the lowest layer always runs; a paused layer
    sends nothing while its clip and timestamps go on, and starts again at a keyframe."""
    params = SendParams(96, None, "0", "1", None, 4, 10, ("q", "h", "f"))
    frames = tuple(bytes([n]) * 10 for n in range(8))
    layer = VideoClip(frames=frames, keyframes=(0, 5))
    source = MediaSource(Clip(layers=(layer,) * 3, audio=(b"\x01",)), params)
    q, h, f = source.ssrcs

    def sent(now_ns: int) -> dict[int, list[RtpView]]:
        by_ssrc: dict[int, list[RtpView]] = {}
        for packet in source.video_frame(now_ns):
            view = read_rtp(packet)
            by_ssrc.setdefault(view.ssrc, []).append(view)
        return by_ssrc

    first = sent(0)[f][0]
    source.set_active(["h"])  # f is received by nobody now; q runs regardless
    for n in range(1, 3):
        assert set(sent(n * 33_000_000)) == {q, h}
    source.set_active([])
    assert set(sent(99_000_000)) == {q}
    source.set_active(["f"])
    [again] = sent(132_000_000)[f]
    assert again.seq == (first.seq + 1) & 0xFFFF  # nothing was sent meanwhile
    assert again.ts == (first.ts + 4 * VIDEO_TS_STEP) & 0xFFFFFFFF  # the camera ran on
    assert source.layers[2].position == 6  # it sent frame 5, a keyframe, not frame 4


def test_the_transport_cc_id_is_the_one_an_answer_negotiated() -> None:
    audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
    video = f"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=extmap:3/sendrecv {TRANSPORT_CC_URI}"
    assert transport_cc_id(f"v=0\r\n{audio}{video}\r\n") == 3
    assert transport_cc_id(f"v=0\r\n{audio}") == 0
