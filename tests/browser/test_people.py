"""The web client's people list, device picker, connection badges and invite link, in Chromium
pages in a call (Chromium's fake devices: three cameras, three microphones; see harness.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser

from tests.browser.harness import TONE_MIC_JS, JoinFactory, Participant, Stack

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

SEEN_WITHIN_MS = 5_000
LEVELS = ["excellent", "good", "poor", "lost"]

# Truthy (the list) once `test(person)` holds for the entry of `identity` in the people list
# (`test` is the source of a JS function; a missing entry is `undefined`).
PERSON_JS = """
({identity, test}) => {
  const people = window.sfu.people();
  return (0, eval)(`(${test})`)(people.find((p) => p.identity === identity)) && people;
}
"""
# The people panel as shown: each item's text.
PANEL_JS = "() => [...document.querySelectorAll('#people-list li')].map((li) => li.textContent)"
# Truthy (the levels) once every remote tile has a connection level, by tile.
BADGES_JS = """
() => {
  const tiles = [...document.querySelectorAll('.tile.remote')];
  const levels = tiles.map((tile) => [
    tile.dataset.identity + (tile.dataset.source === 'screen' ? '/screen' : ''),
    tile.querySelector('.connection-badge .level')?.textContent ?? '',
    tile.querySelector('.connection-badge')?.textContent ?? '',
  ]);
  return tiles.length && levels.every(([, level]) => level) && levels;
}
"""
# The pure quality function with fixed numbers, imported the way the page does.
QUALITY_CASES_JS = """
async () => {
  const {qualityLevel, tileSample} = await import('/quality.js');
  const base = {seconds: 3, received: 300, lost: 0, jitter: 0.005, frozenSeconds: 0, paused: false};
  const video = (over) => ({trackId: 'v', packetsReceived: 0, packetsLost: 0, jitter: 0.01,
    totalFreezesDuration: 0, framesDecoded: 0, size: [640, 360], layer: {rid: 'h', at: 0},
    ...over});
  const audio = (over) => ({packetsReceived: 0, packetsLost: 0, jitter: 0.004, ...over});
  return {
    clean: qualityLevel(base),
    someLoss: qualityLevel({...base, lost: 9}),
    heavyLoss: qualityLevel({...base, lost: 30}),
    jittery: qualityLevel({...base, jitter: 0.05}),
    veryJittery: qualityLevel({...base, jitter: 0.2}),
    oneFreeze: qualityLevel({...base, frozenSeconds: 0.3}),
    frozen: qualityLevel({...base, frozenSeconds: 2}),
    nothing: qualityLevel({...base, received: 0}),
    paused: qualityLevel({...base, paused: true}),
    flowing: tileSample({video: video({}), audio: audio({})},
      {video: video({packetsReceived: 200, packetsLost: 2}), audio: audio({packetsReceived: 150})},
      3, 1000),
    hiddenVideoPaused: tileSample({video: video({layer: {rid: null, at: 0}}), audio: audio({})},
      {video: video({size: [0, 0], layer: {rid: null, at: 0}}),
       audio: audio({packetsReceived: 150})},
      3, 1000),
    shownVideoPaused: tileSample({video: video({}), audio: null},
      {video: video({layer: {rid: null, at: 500}}), audio: null}, 3, 1000),
    anotherTrack: tileSample({video: video({}), audio: null},
      {video: video({trackId: 'w', packetsReceived: 10}), audio: null}, 3, 1000),
    noEarlier: tileSample(null, {video: video({}), audio: audio({})}, 3, 1000),
  };
}
"""


async def person_where(viewer: Participant, identity: str, test: str) -> list[dict[str, Any]]:
    people: list[dict[str, Any]] = await viewer.wait_for(
        PERSON_JS, {"identity": identity, "test": test}, SEEN_WITHIN_MS
    )
    return people


async def test_the_people_list_follows_the_room_and_remote_tiles_say_their_connection(
    participants: JoinFactory, room: str
) -> None:
    ada = await participants(room, "ada", "Ada", init_script=TONE_MIC_JS)
    bob = await participants(room, "bob", "Bob B")
    cyd = await participants(room, "cyd")
    await ada.wait_receiving(["bob", "cyd"])

    people = await person_where(ada, "cyd", "(p) => p")
    assert [(p["identity"], p["name"], p["self"]) for p in people] == [
        ("ada", "Ada", True),
        ("bob", "Bob B", False),
        ("cyd", "cyd", False),
    ]
    assert all(p["mic"] == "on" and p["camera"] == "on" and not p["sharing"] for p in people)
    await ada.page.click("#people-toggle")
    assert await ada.page.get_attribute("#people-toggle", "aria-expanded") == "true"
    assert await ada.page.text_content("#people-toggle") == "People (3)"
    assert await ada.page.is_visible("#people-list")
    panel = await ada.page.evaluate(PANEL_JS)
    assert panel[0].startswith("Ada (you)") and panel[1].startswith("Bob B")
    await person_where(ada, "ada", "(p) => p.speaking")  # its tone: the node names it speaking

    await bob.page.click("#mute-mic")
    await person_where(ada, "bob", "(p) => p.mic === 'off' && p.camera === 'on'")
    assert "mic off" in (await ada.page.evaluate(PANEL_JS))[1]

    await bob.page.click("#share-screen")
    await person_where(ada, "bob", "(p) => p.sharing")
    assert "sharing screen" in (await ada.page.evaluate(PANEL_JS))[1]
    assert await ada.page.text_content("#people-announce") == "Bob B is sharing their screen"
    assert (await person_where(bob, "bob", "(p) => p.sharing && p.mic === 'off'"))[0]["self"]

    # every remote tile (bob's screen too) says how its media reaches us: well, on loopback
    await ada.wait_for(
        "() => document.querySelectorAll('.tile.remote').length === 3", None, SEEN_WITHIN_MS
    )
    levels = await ada.wait_for(BADGES_JS)
    print(f"\nada's connection badges: {levels}")
    assert sorted(tile for tile, _, _ in levels) == ["bob", "bob/screen", "cyd"]
    for _, level, text in levels:
        assert level in ("excellent", "good")
        assert text == f"connection {level}"  # in words, for a screen reader too
    assert set(await ada.page.evaluate("Object.keys(window.sfu.connection)")) == {"bob", "cyd"}

    await cyd.leave()
    await person_where(ada, "cyd", "(p) => p === undefined")
    assert [p["identity"] for p in await ada.page.evaluate("window.sfu.people()")] == ["ada", "bob"]
    assert await ada.page.text_content("#people-announce") == "cyd left"
    assert await ada.page.text_content("#people-toggle") == "People (2)"
    for person in (ada, bob, cyd):
        assert not person.page_errors(), person.page_errors()


async def test_switching_devices_keeps_the_call_and_the_mute(
    participants: JoinFactory, room: str
) -> None:
    ada = await participants(room, "ada")
    bob = await participants(room, "bob")
    flowing = await bob.wait_receiving(["ada"])
    devices = await ada.page.evaluate("window.sfu.devices()")
    print(f"\nfake devices: {devices}")
    cameras = [d["label"] for d in devices["cameras"]]
    microphones = [d["label"] for d in devices["microphones"]]
    assert cameras == ["fake_device_0", "fake_device_1", "fake_device_2"]
    assert "Fake Default Audio Input" in microphones and len(microphones) >= 3
    assert devices["sending"]["video"]["label"] == "fake_device_0"

    await ada.page.click("#settings-toggle")
    assert await ada.page.get_attribute("#settings-toggle", "aria-expanded") == "true"
    camera = ada.page.get_by_label("Camera")  # labelled selects
    microphone = ada.page.get_by_label("Microphone")
    assert await camera.input_value() == devices["sending"]["video"]["deviceId"]

    # a muted microphone switched stays muted
    await ada.page.click("#mute-mic")
    other_mic = next(d for d in devices["microphones"] if d["label"] == "Fake Audio Input 1")
    await microphone.select_option(other_mic["deviceId"])
    sent = await ada.wait_for(
        "(label) => window.sfu.devices().sending.audio?.label === label && window.sfu.devices()",
        "Fake Audio Input 1",
    )
    assert sent["sending"]["audio"]["enabled"] is False
    assert sent["capturing"]["audio"]["label"] == "Fake Audio Input 1"
    assert await ada.page.get_attribute("#mute-mic", "aria-pressed") == "true"

    second = devices["cameras"][2]  # fake_device_1 is a depth camera: nothing would be sent
    await camera.select_option(second["deviceId"])
    sent = await ada.wait_for(
        "(id) => window.sfu.devices().sending.video?.deviceId === id && window.sfu.devices()",
        second["deviceId"],
    )
    assert sent["sending"]["video"]["label"] == "fake_device_2"
    assert sent["capturing"]["video"] == sent["sending"]["video"]
    assert await camera.input_value() == second["deviceId"]
    preview = await ada.page.evaluate(
        "document.querySelector('.tile.local video').srcObject.getVideoTracks()[0].label"
    )
    assert preview == "fake_device_2"
    # bob keeps decoding ada's camera, on the same track (no renegotiation)
    after = await bob.wait_receiving(["ada"], before=flowing)
    await bob.wait_receiving(["ada"], before=after)
    track = flowing["remotes"]["ada"]["video"]["trackId"]
    assert after["remotes"]["ada"]["video"]["trackId"] == track
    for person in (ada, bob):
        assert not person.page_errors(), person.page_errors()


async def test_the_invite_link_names_the_room_and_no_one(
    participants: JoinFactory, stack: Stack, room: str
) -> None:
    ada = await participants(room, "ada", "Ada")
    await ada.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=stack.base_url
    )
    await ada.page.click("#invite-button")
    made = await ada.wait_for("() => window.sfu.invite")
    assert made["copied"] is True
    link = urlsplit(made["link"])
    assert f"{link.scheme}://{link.netloc}" == stack.base_url and link.path == "/"
    assert parse_qs(link.query) == {"room": [room]}
    assert await ada.page.evaluate("navigator.clipboard.readText()") == made["link"]
    status = ada.page.locator("#invite-status")
    assert await status.text_content() == "Invite link copied to the clipboard."
    assert await status.get_attribute("aria-live") == "polite"
    assert await ada.page.is_hidden("#invite-link")

    # no clipboard (an insecure origin): the link is shown, selected, to copy by hand
    await ada.page.evaluate(
        "Object.defineProperty(Navigator.prototype, 'clipboard', {get: () => undefined})"
    )
    await ada.page.click("#invite-button")
    await ada.wait_for("() => window.sfu.invite.copied === false")
    shown = ada.page.get_by_label("Invite link")
    assert await shown.is_visible()
    assert await shown.input_value() == made["link"]
    assert await ada.page.evaluate("document.activeElement.id") == "invite-link"
    assert await status.text_content() == "Copy this invite link:"


async def test_the_quality_function_judges_fixed_numbers(chromium: Browser, stack: Stack) -> None:
    context = await chromium.new_context()
    try:
        page = await context.new_page()
        await page.goto(stack.base_url)
        got = await page.evaluate(QUALITY_CASES_JS)
    finally:
        await context.close()
    levels = {k: v for k, v in got.items() if isinstance(v, str)}
    assert levels == {
        "clean": "excellent",
        "someLoss": "good",
        "heavyLoss": "poor",
        "jittery": "good",
        "veryJittery": "poor",
        "oneFreeze": "good",
        "frozen": "poor",
        "nothing": "lost",
        "paused": "poor",
    }
    assert set(levels.values()) == set(LEVELS)
    assert got["flowing"] == {
        "seconds": 3, "received": 350, "lost": 2, "jitter": 0.004, "frozenSeconds": 0,
        "paused": False,
    }  # fmt: skip
    assert got["hiddenVideoPaused"]["received"] == 150 and not got["hiddenVideoPaused"]["paused"]
    assert got["shownVideoPaused"]["paused"] is True
    assert got["anotherTrack"] is None and got["noEarlier"] is None
