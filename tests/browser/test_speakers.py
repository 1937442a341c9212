"""Active speakers in Chromium: its own audio levels in its packets name it speaking, and the
pages show it."""

from __future__ import annotations

import pytest

from tests.browser.harness import NO_CAMERA_JS, TONE_MIC_JS, JoinFactory

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

# Truthy once the tile of `identity` (ours: `local`) is or is not marked speaking; with the
# tile's place: whether it is above every other tile.
SPEAKING_JS = """
({identity, speaking}) => {
  const tile = identity === 'local' ? document.querySelector('.tile.local')
    : document.querySelector(`.tile.remote[data-identity="${CSS.escape(identity)}"]`);
  if (!tile || tile.classList.contains('speaking') !== speaking) return null;
  const top = tile.getBoundingClientRect().bottom;
  const others = [...document.querySelectorAll('.tile')].filter((t) => t !== tile);
  return {
    dominant: tile.classList.contains('dominant'),
    first: others.every((t) => t.getBoundingClientRect().top >= top),
    badge: getComputedStyle(tile.querySelector('.speaking-badge')).display !== 'none',
  };
}
"""


async def test_a_speaking_page_is_highlighted_and_first_on_a_small_screen(
    participants: JoinFactory, room: str
) -> None:
    ada = await participants(room, "ada", init_script=TONE_MIC_JS)
    phone = await participants(room, "pam", init_script=NO_CAMERA_JS, viewport=(390, 700))
    await phone.wait_receiving(["ada"])
    seen = await phone.wait_for(SPEAKING_JS, {"identity": "ada", "speaking": True})
    assert seen == {"dominant": True, "first": True, "badge": True}
    speakers = await phone.page.evaluate("window.sfu.speakers")
    assert speakers["dominant"] == "ada"
    assert [s["participant"] for s in speakers["speakers"]] == ["ada"]
    assert 0 < speakers["speakers"][0]["level"] <= 1
    await ada.wait_for(SPEAKING_JS, {"identity": "local", "speaking": True})  # ourselves too

    await ada.page.evaluate("window.tone.gain.value = 0")
    quiet = await phone.wait_for(SPEAKING_JS, {"identity": "ada", "speaking": False})
    assert quiet["dominant"] and not quiet["badge"]  # the floor stays till someone else speaks
