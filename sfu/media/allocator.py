"""Per-subscriber bandwidth allocation: which layer of each subscribed video fits the estimate.

Every video first gets its lowest layer; the rest of the estimate upgrades videos one layer at a
time in priority order (shared screens, then the largest on screen), never above what each one
wants. The
subscriber's REMB estimate is capped by its browser at ~1.5x what it receives, so an estimate
cannot reveal spare bandwidth by itself: when nothing is congested we probe by upgrading one
layer, and keep it unless the estimate falls. For the same reason an estimate below what we send
is congestion only when it also fell (Chrome answers overuse by dropping its estimate to ~0.85x
what it receives); while it rises, it is still catching up. Under congestion the layers that
no longer fit stop at once (`congested`), rather than at the new layer's keyframe. Hysteresis
as in LiveKit and mediasoup: a downgrade is immediate, an upgrade waits ``HOLD_MS`` after a
downgrade, and a failed probe doubles that wait. Decisions only: time is passed in, nothing is
sent.

A send-side estimate (ours, from transport-cc feedback) is not capped by what we send: it probes
the path itself, so we never probe by upgrading. It falls only when the path says so (overuse,
loss): a fall below what we send is congestion, which lasts until what we send fits (the
estimate may rise a little between two cuts); its first value (the estimator's starting point,
not a measurement) never is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from sfu.media.selector import NO_LAYER

# Bit rates Chrome targets for q/h/f of a 720p camera, used until a layer's rate is measured.
NOMINAL_BPS = (150_000, 500_000, 1_500_000)
AUDIO_BPS = 64_000
HOLD_MS = 8_000
MAX_HOLD_MS = 64_000
PROBE_MS = 4_000
# An estimate this far below what we send means the path is congested.
CONGESTED = 0.9
# Chrome sends its first REMB only once its estimator has something to say: seconds into a call,
# or when the path degrades. One below what we send is congestion if our layers have been
# steady this long; sooner, it may still describe the lower rate the subscriber had before.
SETTLED_MS = 1_000
# Loss the subscriber reports above this is congestion whatever the REMB says (as in GCC's
# loss-based controller); the budget is then what we send, cut by half the loss.
LOSSY = 0.1
# A send-side estimate must hold this long before an upgrade relies on it
STABLE_MS = 500
# A probe fails if the estimate falls this far below where it was when the probe began.
PROBE_FAILED = 0.85
MIN_ESTIMATE_BPS = 10_000
MAX_ESTIMATE_BPS = 100_000_000


@dataclass(frozen=True, slots=True)
class Demand:
    """One subscribed video: the layer it wants, what its layers cost, what it gets now."""

    track_id: str
    wanted: int  # NO_LAYER: paused (hidden)
    layer_bps: tuple[int, ...]
    current: int
    priority: int  # larger first: see `priority`


SCREEN_PRIORITY = 1 << 40  # above any rendered size: what a screen shows is unreadable when small


def priority(size: tuple[int, int] | None, *, screen: bool) -> int:
    """Who is upgraded first: a shared screen (as LiveKit and Jitsi do), then by rendered pixels."""
    pixels = size[0] * size[1] if size else 0
    return pixels + (SCREEN_PRIORITY if screen else 0)


def cost(demand: Demand, layer: int) -> int:
    if layer == NO_LAYER:
        return 0
    measured = demand.layer_bps[layer] if layer < len(demand.layer_bps) else 0
    if measured:
        return measured
    nominal = NOMINAL_BPS[-len(demand.layer_bps) :] if demand.layer_bps else NOMINAL_BPS
    return nominal[min(layer, len(nominal) - 1)]


def clamp_estimate(bps: int) -> int:
    """A REMB outside any plausible range is clamped, not trusted or refused."""
    return min(max(bps, MIN_ESTIMATE_BPS), MAX_ESTIMATE_BPS)


def fit(demands: Sequence[Demand], budget: float) -> dict[str, int]:
    """Lowest layers first, then upgrades by priority while the budget lasts."""
    targets = {d.track_id: (NO_LAYER if d.wanted == NO_LAYER else 0) for d in demands}
    spent = sum(cost(d, targets[d.track_id]) for d in demands)
    for demand in sorted(demands, key=lambda d: -d.priority):
        layer = targets[demand.track_id]
        while layer < demand.wanted:
            extra = cost(demand, layer + 1) - cost(demand, layer)
            if spent + extra > budget:
                break
            layer += 1
            spent += extra
        targets[demand.track_id] = layer
    return targets


class Allocator:
    """The hysteresis state of one subscriber's allocation."""

    def __init__(self) -> None:
        self._hold_ms = HOLD_MS
        self._last_down_ms = -HOLD_MS
        self._probe: tuple[str, int, int] | None = None  # (track, started ms, budget then)
        self._last_estimate: int | None = None
        self._layers: tuple[tuple[str, int], ...] = ()
        self._layers_since_ms = 0
        self.congested = False  # the last allocation found the path congested
        self._budgets: deque[tuple[int, int]] = deque()  # (ms, budget) of recent allocations

    def allocate(
        self,
        demands: Sequence[Demand],
        estimate_bps: int | None,
        audio_tracks: int,
        now_ms: int,
        *,
        loss: float = 0.0,
        send_side: bool = False,
    ) -> dict[str, int]:
        """Target layer per video track id; `loss` is the fraction lost the subscriber reports,
        `send_side` whether the estimate is our send-side one (else the subscriber's REMB)."""
        layers = tuple(sorted((d.track_id, d.current) for d in demands))
        if layers != self._layers:
            self._layers, self._layers_since_ms = layers, now_ms
        sending = sum(cost(d, d.current) for d in demands)
        lossy = loss > LOSSY
        if estimate_bps is None and not lossy:  # no REMB yet: give everyone what they want
            return {d.track_id: d.wanted for d in demands}
        falling = False
        if estimate_bps is not None:
            if send_side:  # a fall is a measurement, and congestion lasts until what we send fits
                fell = self._last_estimate is not None and estimate_bps < self._last_estimate
                falling = fell or self.congested
            elif self._last_estimate is None:
                falling = now_ms - self._layers_since_ms >= SETTLED_MS
            else:
                falling = estimate_bps < self._last_estimate
            self._last_estimate = estimate_bps
        budget = estimate_bps - audio_tracks * AUDIO_BPS if estimate_bps is not None else sending
        if lossy:
            budget = min(budget, round(sending * (1 - loss / 2)))
        congested = lossy or (falling and budget < sending * CONGESTED)
        self.congested = congested
        fitted = fit(demands, budget)
        # Our estimate jumps when a probe passes (a shaper's burst lets a short one through):
        # upgrades go by the lowest budget of the last STABLE_MS, downgrades by the current one.
        steady = fit(demands, self._steady_budget(budget, now_ms)) if send_side else fitted
        targets: dict[str, int] = {}
        for demand in demands:
            want, now = fitted[demand.track_id], demand.current
            if want > now:
                want = max(now, steady[demand.track_id])
            if demand.wanted < now or (want < now and congested):
                targets[demand.track_id] = min(demand.wanted, want)  # down at once
            elif want > now and now_ms - self._last_down_ms >= self._hold_ms:
                targets[demand.track_id] = want
            else:
                targets[demand.track_id] = now if now != NO_LAYER else want
        self._judge_probe(targets, budget, now_ms)
        if any(targets[d.track_id] < d.current for d in demands if d.wanted >= d.current):
            self._last_down_ms = now_ms
        elif not congested and not send_side:
            self._maybe_probe(demands, targets, budget, now_ms)
        return targets

    def _steady_budget(self, budget: int, now_ms: int) -> int:
        """The lowest budget over the last STABLE_MS: this one, those allocated meanwhile, and
        the one before them (it held until the next)."""
        budgets = self._budgets
        budgets.append((now_ms, budget))
        while len(budgets) > 1 and budgets[1][0] <= now_ms - STABLE_MS:
            budgets.popleft()
        return min(b for _, b in budgets)

    def _judge_probe(self, targets: dict[str, int], budget: int, now_ms: int) -> None:
        if self._probe is None:
            return
        track_id, started_ms, budget_then = self._probe
        if budget < budget_then * PROBE_FAILED:
            if track_id in targets and targets[track_id] > 0:
                targets[track_id] -= 1
            self._hold_ms = min(self._hold_ms * 2, MAX_HOLD_MS)
            self._probe = None
        elif now_ms - started_ms >= PROBE_MS:
            self._hold_ms = HOLD_MS
            self._probe = None

    def _maybe_probe(
        self, demands: Sequence[Demand], targets: dict[str, int], budget: int, now_ms: int
    ) -> None:
        if self._probe is not None or now_ms - self._last_down_ms < self._hold_ms:
            return
        below = [d for d in demands if NO_LAYER < targets[d.track_id] < d.wanted]
        if below:
            demand = max(below, key=lambda d: d.priority)
            targets[demand.track_id] += 1
            self._probe = (demand.track_id, now_ms, budget)
