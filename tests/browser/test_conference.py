"""Conferences of real headless Chromium pages through the one-machine stack."""

from __future__ import annotations

import asyncio
import json
import statistics
from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.harness import NO_CAMERA_JS, JoinFactory, Participant, Stack, join

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

LEAVE_SEEN_WITHIN_MS = 3_000
FIRST_FRAME_JOINS = 5
FIRST_FRAME_SANITY_MS = 15_000
REJOIN_MS = 20_000
RESULTS = Path(__file__).resolve().parents[2] / "results"

# Truthy once `identity` has no tile and no entry in the stats any more.
GONE_JS = """
async (identity) => {
  const tile = document.querySelector(`.tile.remote[data-identity="${CSS.escape(identity)}"]`);
  const {remotes} = await window.sfu.stats();
  return !tile && !(identity in remotes);
}
"""

FIRST_FRAME_JS = "() => window.sfu.timeline.firstRemoteFrame && window.sfu.timeline"
JOINED_JS = "() => window.sfu.state === 'joined'"
RECONNECTING_JS = "() => window.sfu.state === 'joining'"
# Truthy once the remote tile of `identity` has all of `classes` (present) or none (not present).
TILE_CLASSES_JS = """
({identity, classes, present}) => {
  const tile = document.querySelector(`.tile.remote[data-identity="${CSS.escape(identity)}"]`);
  return tile && classes.every((name) => tile.classList.contains(name) === present);
}
"""
PUBLISHING_JS = """
async () => (await window.sfu.stats()).publish.outbound.some((layer) => layer.framesEncoded > 0)
"""


async def assert_all_receive_all(people: list[Participant]) -> None:
    """Everyone decodes video (frameWidth > 0, framesDecoded growing) and receives audio
    (packetsReceived growing) from every other participant."""

    async def check(person: Participant) -> None:
        others = [p.identity for p in people if p is not person]
        first = await person.wait_receiving(others)
        await person.wait_receiving(others, before=first)

    await asyncio.gather(*(check(person) for person in people))


async def test_three_participants_see_and_hear_each_other(
    participants: JoinFactory, room: str
) -> None:
    people = await asyncio.gather(*(participants(room, name) for name in ("ada", "bob", "cyd")))
    await assert_all_receive_all(list(people))
    for person in people:
        others = sorted(p.identity for p in people if p is not person)
        assert await person.remote_tiles() == others


async def test_late_joiner_gets_everyone_and_everyone_gets_it(
    participants: JoinFactory, room: str
) -> None:
    early = list(await asyncio.gather(*(participants(room, n) for n in ("ada", "bob", "cyd"))))
    await assert_all_receive_all(early)
    late = await participants(room, "dan", "Dan Late")
    await assert_all_receive_all([*early, late])
    remotes = (await early[0].stats())["remotes"]
    assert remotes["dan"]["name"] == "Dan Late"


@pytest.mark.parametrize("how", ["leave_button", "context_closed"])
async def test_others_drop_a_leaver_within_3s(
    participants: JoinFactory, room: str, how: str
) -> None:
    people = list(await asyncio.gather(*(participants(room, n) for n in ("ada", "bob", "cyd"))))
    await assert_all_receive_all(people)
    leaver, stayers = people[0], people[1:]
    if how == "leave_button":
        await leaver.leave()
    else:
        await leaver.close()
    await asyncio.gather(
        *(p.wait_for(GONE_JS, leaver.identity, timeout_ms=LEAVE_SEEN_WITHIN_MS) for p in stayers)
    )
    for person in stayers:
        others = sorted(p.identity for p in stayers if p is not person)
        assert await person.remote_tiles() == others


async def test_time_to_first_remote_frame(
    participants: JoinFactory, room: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Joins a room where one participant already publishes, five times; reports the median
    time from navigation to the first decoded remote frame (the report figure)."""
    host = await participants(room, "host")
    await host.wait_for(PUBLISHING_JS)
    samples: list[dict[str, float]] = []
    for i in range(FIRST_FRAME_JOINS):
        guest = await participants(room, f"guest-{i}")
        samples.append(await guest.wait_for(FIRST_FRAME_JS))
        await guest.close()
    first_frames = [sample["firstRemoteFrame"] for sample in samples]
    median = statistics.median(first_frames)
    report = {
        "joins": FIRST_FRAME_JOINS,
        "median_first_remote_frame_ms": round(median),
        "median_joined_ms": round(statistics.median(s["joined"] for s in samples)),
        "first_remote_frame_ms": [round(ms) for ms in first_frames],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "browser_first_frame.json").write_text(json.dumps(report, indent=2) + "\n")
    with capsys.disabled():
        print(
            f"\nfirst remote frame after navigation: median {median:.0f} ms over "
            f"{FIRST_FRAME_JOINS} joins {report['first_remote_frame_ms']}"
        )
    assert max(first_frames) < FIRST_FRAME_SANITY_MS


async def test_mute_is_shown_to_others(participants: JoinFactory, room: str) -> None:
    ada, bob = await asyncio.gather(participants(room, "ada"), participants(room, "bob"))
    await assert_all_receive_all([ada, bob])
    badges = {"identity": "ada", "classes": ["mic-off", "video-off"]}
    for button in ("#mute-mic", "#mute-camera"):
        await ada.page.click(button)
        assert await ada.page.get_attribute(button, "aria-pressed") == "true"
    await bob.wait_for(TILE_CLASSES_JS, {**badges, "present": True})
    for button in ("#mute-mic", "#mute-camera"):
        await ada.page.click(button)
    await bob.wait_for(TILE_CLASSES_JS, {**badges, "present": False})


async def test_a_page_without_camera_joins_as_a_viewer(
    participants: JoinFactory, room: str
) -> None:
    ada = await participants(room, "ada")
    viewer = await participants(room, "vic", init_script=NO_CAMERA_JS)
    await viewer.wait_receiving(["ada"])
    assert await viewer.page.is_visible("#notice")
    stats = await viewer.stats()
    assert stats["publish"] == {"outbound": [], "audioPacketsSent": 0}
    no_video = {"identity": "vic", "classes": ["video-off"], "present": True}
    await ada.wait_for(TILE_CLASSES_JS, no_video)


async def test_pages_rejoin_after_the_stack_restarts(chromium: Browser, room: str) -> None:
    """A lost node connection (not a refusal) makes the page reconnect with a fresh token."""
    stack = await asyncio.to_thread(Stack.start)
    people: list[Participant] = []
    try:
        people += [await join(chromium, stack.base_url, room, name) for name in ("ada", "bob")]
        await assert_all_receive_all(people)
        await asyncio.to_thread(stack.stop)
        await asyncio.gather(*(p.wait_for(RECONNECTING_JS) for p in people))
        stack = await asyncio.to_thread(Stack.start, stack.port)
        await asyncio.gather(*(p.wait_for(JOINED_JS, timeout_ms=REJOIN_MS) for p in people))
        await assert_all_receive_all(people)
    finally:
        for person in people:
            await person.close()
        await asyncio.to_thread(stack.stop)
