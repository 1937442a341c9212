"""Who is speaking in a room, and its dominant speaker, from the RFC 6464 audio levels the
publishers put in their packets (nothing is decoded).

Run at a fixed interval (the node's speaker tick), the detector gets each unmuted audio track's
levels since the previous run and keeps two moving averages per track of how many of its
packets are voice-loud. The short one (~300 ms) says who is speaking, with hysteresis: on
above 0.5, off below 0.2, so a track is named after ~2 loud ticks and dropped ~3 quiet ticks
after it stops. The long one (~2 s) picks the dominant speaker, who keeps the floor until a
speaker's long average beats theirs by a margin: an interjection or someone talking over them
does not take it, their falling silent soon lets the next speaker have it. This is the idea of
Jitsi's dominant speaker identification (a challenger must out-talk the dominant speaker over
longer time scales too), with LiveKit's simpler per-track measure: the share of loud packets.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

# RFC 6464 levels are -dBov: 0 is full scale, 127 silence. Speech into a browser's microphone
# sits around -20 to -35 dBov, a quiet room below -50 (LiveKit counts -35 and louder as active).
ACTIVE_DBOV = 40
# Each RFC 6464 level (-dBov, 0-127) as an amplitude, looked up for every stored packet
_AMPLITUDE = tuple(10 ** (-level / 20) for level in range(128))
SHORT_MS = 300  # time constant of the "is speaking" average
LONG_MS = 2000  # time constant of the "has the floor" average
SPEAKING_ON = 0.5  # share of loud packets (short average) to start speaking
SPEAKING_OFF = 0.2  # ... and to stop: the gap is the hysteresis
DOMINANCE_MARGIN = 0.25  # how far a speaker's long average must exceed the dominant one's
DEFAULT_INTERVAL_MS = 200  # assumed for the first run, which has no previous one
LEVEL_STEP = 0.05  # a level change worth telling on its own...
LEVELS_EVERY_MS = 1000  # ... at most this often (who speaks, the order and the floor at once)


@dataclass(frozen=True, slots=True)
class Speaker(Generic[K]):
    key: K
    level: float  # smoothed loudness, 0 (silence) to 1 (full scale), linear like an amplitude


@dataclass(frozen=True, slots=True)
class Speakers(Generic[K]):
    active: tuple[Speaker[K], ...] = ()  # those speaking, loudest first
    dominant: K | None = None  # the one with the floor; kept while nobody else speaks


@dataclass(slots=True)
class _Track:
    short: float = 0.0
    long: float = 0.0
    level: float = 0.0
    speaking: bool = False


@dataclass(slots=True)
class SpeakerDetector(Generic[K]):
    """The speakers of one room, updated by `update` at each tick."""

    _tracks: dict[K, _Track] = field(default_factory=dict)
    _dominant: K | None = None
    _last_ms: int | None = None

    def update(self, levels: Mapping[K, Iterable[int]], now_ms: int) -> Speakers[K]:
        """`levels`: per audio track that may speak (a muted one is left out, and forgotten),
        the RFC 6464 levels (0-127) of its packets since the previous update."""
        elapsed = DEFAULT_INTERVAL_MS if self._last_ms is None else now_ms - self._last_ms
        self._last_ms = now_ms
        short, long = _weight(elapsed, SHORT_MS), _weight(elapsed, LONG_MS)
        self._tracks = {key: self._tracks.get(key) or _Track() for key in levels}
        for key, track in self._tracks.items():
            loud, count, amplitude = 0, 0, 0.0
            for level in levels[key]:
                count += 1
                loud += level <= ACTIVE_DBOV
                amplitude += _AMPLITUDE[level]
            share = loud / count if count else 0.0  # no packets: not speaking (DTX, stalled)
            track.short += short * (share - track.short)
            track.long += long * (share - track.long)
            track.level += short * ((amplitude / count if count else 0.0) - track.level)
            threshold = SPEAKING_OFF if track.speaking else SPEAKING_ON
            track.speaking = track.short >= threshold
        speaking = {key: t for key, t in self._tracks.items() if t.speaking}
        self._dominant = self._floor(speaking)
        active = sorted(
            (Speaker(key, round(t.level, 3)) for key, t in speaking.items()),
            key=lambda s: -s.level,
        )
        return Speakers(tuple(active), self._dominant)

    def _floor(self, speaking: Mapping[K, _Track]) -> K | None:
        dominant = self._dominant if self._dominant in self._tracks else None
        if not speaking:
            return dominant
        challenger = max(speaking, key=lambda key: speaking[key].long)
        if dominant is None:
            return challenger
        held = self._tracks[dominant].long
        return challenger if speaking[challenger].long > held + DOMINANCE_MARGIN else dominant


def due(told: Speakers[K], now: Speakers[K], told_ms: int, now_ms: int) -> bool:
    """Whether `now` is worth telling the room, `told` having been told at `told_ms`: any
    change of who speaks, their order or the floor at once; levels alone now and then."""
    if [s.key for s in now.active] != [s.key for s in told.active]:
        return True
    if now.dominant != told.dominant:
        return True
    moved = any(
        abs(a.level - b.level) >= LEVEL_STEP for a, b in zip(now.active, told.active, strict=True)
    )
    return moved and now_ms - told_ms >= LEVELS_EVERY_MS


def _weight(elapsed_ms: int, time_constant_ms: int) -> float:
    """An exponential moving average's weight for a sample `elapsed_ms` after the last one."""
    return 1.0 - math.exp(-max(elapsed_ms, 0) / time_constant_ms)
