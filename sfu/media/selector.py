"""Which layer of a simulcast track one subscription forwards: decisions only, no I/O.

``target`` is what the subscription should get; ``current`` is what it gets. The spatial layer
changes only on a keyframe of the target layer, so the subscriber's decoder never sees a
reference from a stream it has not decoded.
"""

from __future__ import annotations

import enum

NO_LAYER = -1


class Decision(enum.Enum):
    FORWARD = "forward"
    SWITCH = "switch"  # forward, and this packet starts the target layer
    DROP_OTHER_LAYER = "other_layer"
    DROP_WAIT_KEYFRAME = "wait_keyframe"  # nothing forwarded yet: the target's keyframe is needed


class LayerSelector:
    __slots__ = ("current", "target")

    def __init__(self, target: int) -> None:
        self.target = target
        self.current = NO_LAYER

    def decide(self, layer: int, keyframe: bool) -> Decision:
        if layer == self.current and self.current == self.target:
            return Decision.FORWARD
        if layer == self.target and keyframe:
            return Decision.SWITCH
        if layer == self.current:
            return Decision.FORWARD  # keep the old layer until the target's keyframe comes
        return (
            Decision.DROP_WAIT_KEYFRAME if self.current == NO_LAYER else Decision.DROP_OTHER_LAYER
        )

    def switched(self) -> None:
        self.current = self.target

    @property
    def waiting(self) -> bool:
        """True while the target layer's keyframe is awaited."""
        return self.current != self.target


def fallback_layer(target: int, active: list[bool]) -> int:
    """The layer to aim for when some layers are not arriving: the target if active, else the
    nearest active one below it, else the nearest above, else the target (nothing arrives)."""
    if 0 <= target < len(active) and active[target]:
        return target
    below = [i for i in range(min(target, len(active))) if active[i]]
    if below:
        return below[-1]
    above = [i for i in range(target + 1, len(active)) if active[i]]
    return above[0] if above else target
