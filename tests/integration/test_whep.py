"""WHEP egress through a real node: an aiortc player POSTs recvonly audio and video to
/v1/whep, plays what is published later without renegotiating, stays out of everyone's roster,
follows ``?participant=``, and ends with DELETE; bad requests get WHEP's status codes."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.test_tap import metric
from tests.support.client import Client
from tests.support.node import running_node
from tests.support.whep import AiortcPlayer, play, post_offer, whep_url

pytestmark = pytest.mark.webrtc


async def test_a_player_gets_tracks_published_after_it_connected_and_ends_with_delete() -> None:
    async with running_node() as running:
        url = whep_url(running.url)
        player = AiortcPlayer()
        ann = Client(running.url, "r", await running.token("r", "ann"))
        try:
            resource = await play(player, url, await running.token("r", "viewer"))
            assert await metric(running.url, "sfu_whep_sessions") == 1
            await ann.connect()  # publishes after the player connected
            await player.wait_until(lambda: player.frames["video"] >= 20)
            await player.wait_until(lambda: player.frames["audio"] >= 20)
            assert len(player.tracks) == 2  # on the offer's m-lines: no renegotiation
            assert ann.participants == set()  # the player is hidden

            async with httpx.AsyncClient() as http:
                assert (await http.delete(resource)).status_code == 200
            assert await metric(running.url, "sfu_whep_sessions") == 0
            assert "viewer" not in running.node.rooms["r"].members
        finally:
            await player.close()
            await ann.close()


async def test_a_shared_screen_takes_over_the_video_m_line() -> None:
    async with running_node() as running:
        ann = Client(running.url, "r", await running.token("r", "ann"))
        player = AiortcPlayer()
        try:
            await ann.connect()
            await play(player, whep_url(running.url), await running.token("r", "viewer"))
            await player.wait_until(lambda: player.frames["video"] >= 10)
            (session,) = running.node.whep.sessions
            playing = session.half.playing  # type: ignore[attr-defined]
            assert playing["video"].id == ann.published_track("video")

            await ann.share_screen()
            tracks = running.node.rooms["r"].members["ann"].tracks.values()
            screen = next(t.id for t in tracks if t.capture == "screen")
            await player.wait_until(lambda: playing["video"].id == screen)
            before = player.frames["video"]
            await player.wait_until(lambda: player.frames["video"] >= before + 10)
            assert len(player.tracks) == 2
        finally:
            await player.close()
            await ann.close()


async def test_the_participant_query_plays_that_participant() -> None:
    async with running_node() as running:
        ann = Client(running.url, "r", await running.token("r", "ann"))
        bob = Client(running.url, "r", await running.token("r", "bob"))
        player = AiortcPlayer()
        try:
            await ann.connect()
            await bob.connect()
            await play(
                player, f"{whep_url(running.url)}?participant=bob", await running.token("r", "v")
            )
            await player.wait_until(lambda: player.frames["video"] >= 10)
            (session,) = running.node.whep.sessions
            playing = session.half.playing  # type: ignore[attr-defined]
            assert {kind: t.id for kind, t in playing.items()} == {
                "video": bob.published_track("video"),
                "audio": bob.published_track("audio"),
            }
        finally:
            await player.close()
            await ann.close()
            await bob.close()


async def test_bad_requests_get_whep_status_codes() -> None:
    async with running_node() as running:
        url = whep_url(running.url)
        offering = AiortcPlayer()
        offer = await offering.offer()
        await offering.close()
        token = await running.token("r", "viewer")
        no_subscribe = await running.token("r", "deaf", subscribe=False)
        unforwarded = offer.replace("VP8/", "XV8/").replace("H264/", "XH264/")
        unforwarded = unforwarded.replace("opus/", "xopus/")  # PCMU and PCMA stay: not forwarded

        missing = await post_offer(url, None, offer)
        assert (missing.status_code, missing.headers["www-authenticate"]) == (401, "Bearer")
        assert (await post_offer(url, no_subscribe, offer)).status_code == 403
        assert (await post_offer(url, token, "v=0\r\nnonsense")).status_code == 400
        assert (await post_offer(url, token, offer, content_type="text/plain")).status_code == 415
        refused = await post_offer(url, token, unforwarded)
        assert refused.status_code == 406, refused.text
        assert "we accept" in refused.text
        async with httpx.AsyncClient() as http:
            assert (await http.delete(f"{url}/nosuchresource")).status_code == 404
        assert running.node.whep.sessions == []
        room = running.node.rooms.get("r")
        assert room is None or "viewer" not in room.members
