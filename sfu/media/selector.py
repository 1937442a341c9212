"""Which layer of a simulcast track one subscription forwards: decisions only, no I/O.

``target`` is what the subscription should get; ``current`` is what it gets. The spatial layer
changes only on a keyframe of the target layer, so the subscriber's decoder never sees a
reference from a stream it has not decoded. ``NO_LAYER`` as target pauses the subscription.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sfu.media.counters import DropReason

NO_LAYER: Final = -1
# A layer may be rendered this much larger than it is before we want the next one up.
UPSCALE_TOLERANCE = 0.9


# What ``decide`` returns: FORWARD, SWITCH, or the code of the drop (a ``DropReason.code``, > 0).
# Plain ints, the kernels' own (cython_ext/forwarder.pxd): they cross the C boundary for free.
FORWARD: Final = 0
SWITCH: Final = -1  # forward, and this packet starts the target layer


class LayerSelector:
    __slots__ = ("current", "target")

    def __init__(self, target: int) -> None:
        self.target = target
        self.current = NO_LAYER

    def decide(self, layer: int, keyframe: bool) -> int:
        if layer == self.current and self.current == self.target:
            return FORWARD
        if self.target == NO_LAYER:
            return DropReason.PAUSED.code
        if layer == self.target and keyframe:
            return SWITCH
        if layer == self.current:
            return FORWARD  # keep the old layer until the target's keyframe comes
        if self.current == NO_LAYER:
            return DropReason.WAITING_FOR_KEYFRAME.code  # nothing sent yet
        return DropReason.LAYER_NOT_SELECTED.code

    def switched(self) -> None:
        self.current = self.target

    def pause(self) -> None:
        self.target = self.current = NO_LAYER

    @property
    def waiting(self) -> bool:
        """True while the target layer's keyframe is awaited."""
        return self.current != self.target and self.target != NO_LAYER


def fallback_layer(target: int, active: Sequence[bool]) -> int:
    """The layer to aim for when some layers are not arriving: the target if active, else the
    nearest active one below it, else the nearest above, else the target (nothing arrives)."""
    if target == NO_LAYER or (0 <= target < len(active) and active[target]):
        return target
    below = [i for i in range(min(target, len(active))) if active[i]]
    if below:
        return below[-1]
    above = [i for i in range(target + 1, len(active)) if active[i]]
    return above[0] if above else target


def layer_for_height(height: int, layer_heights: Sequence[int]) -> int:
    """The smallest layer tall enough for a video rendered ``height`` device pixels tall.

    0 means hidden: ``NO_LAYER``. Unknown layer heights (0) count as too small.
    """
    if height <= 0:
        return NO_LAYER
    for layer, layer_height in enumerate(layer_heights):
        if layer_height >= height * UPSCALE_TOLERANCE:
            return layer
    return len(layer_heights) - 1


QUALITY_LAYERS = {"low": 0, "medium": 1, "high": 2}


def wanted_layer(
    quality: str, size: tuple[int, int] | None, layer_heights: Sequence[int], default: int
) -> int:
    """The layer a subscriber wants: its manual choice, else what its rendered size needs.

    Before the client reported a size, ``default``; heights not yet learnt from a keyframe are
    assumed to halve from layer to layer below 720p (Chrome's q/h/f of a 720p camera).
    """
    top = len(layer_heights) - 1
    if quality in QUALITY_LAYERS:
        return min(QUALITY_LAYERS[quality], top)
    if size is None:
        return min(default, top)
    heights = [h or 720 >> (top - i) for i, h in enumerate(layer_heights)]
    return layer_for_height(size[1], heights)
