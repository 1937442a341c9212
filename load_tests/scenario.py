"""Scenarios: what load to put on a deployment, read from a small TOML or JSON file or a preset.

A file that does not validate is refused with every offending field named (``ScenarioError``).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Layer = Literal["q", "h", "f"]
LAYERS: tuple[Layer, ...] = ("q", "h", "f")


class ScenarioError(ValueError):
    """A scenario file or preset name that cannot be used; the message says exactly why."""


class Scenario(BaseModel):
    """One load: ``rooms`` identical rooms, each with publishers and receive-only viewers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    rooms: int = Field(default=1, ge=1, le=500)
    publishers: int = Field(default=1, ge=1, le=100, description="per room; they see each other")
    viewers: int = Field(default=0, ge=0, le=1000, description="per room; receive only")
    video: bool = True
    audio: bool = True
    layer: Layer = Field(default="h", description="simulcast layer every subscriber asks for")
    duration_s: float = Field(default=20.0, gt=0, le=3600, description="measurement window")
    warmup_s: float = Field(default=4.0, ge=0, le=120, description="after everyone joined")
    join_interval_s: float = Field(default=0.05, ge=0, le=10, description="between two joins")

    @model_validator(mode="after")
    def _sends_something(self) -> Scenario:
        if not (self.video or self.audio):
            raise ValueError("a scenario needs video, audio or both")
        return self

    @property
    def participants(self) -> int:
        return self.rooms * (self.publishers + self.viewers)

    @property
    def tracks_per_publisher(self) -> int:
        return int(self.video) + int(self.audio)

    @property
    def subscriptions(self) -> int:
        """Tracks forwarded to someone: every publisher's to every other participant."""
        return self.rooms * self.publishers * self._receivers * self.tracks_per_publisher

    @property
    def video_subscriptions(self) -> int:
        return self.rooms * self.publishers * self._receivers * int(self.video)

    @property
    def _receivers(self) -> int:
        return self.publishers - 1 + self.viewers


class Ramp(BaseModel):
    """Raise a scenario's ``field`` from ``start`` by ``step`` until quality falls below limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: Literal["publishers", "viewers", "rooms"] = "publishers"
    start: int = Field(default=2, ge=1)
    step: int = Field(default=2, ge=1)
    stop: int = Field(default=40, ge=1)
    max_loss: float = Field(default=0.01, ge=0, le=1)
    max_p99_delay_ms: float = Field(default=100.0, gt=0)
    max_freezes: int = Field(default=0, ge=0)
    refine: int = Field(
        default=0, ge=0, le=4, description="bisections between the last good and the first beyond"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Ramp:
        if self.stop < self.start:
            raise ValueError(f"stop ({self.stop}) is below start ({self.start})")
        return self


class ScenarioFile(BaseModel):
    """The file format: ``[[scenario]]`` tables, and an optional ``[ramp]`` applied to each."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: list[Scenario] = Field(min_length=1)
    ramp: Ramp | None = None


PRESETS: dict[str, Scenario] = {
    "meeting-4x4": Scenario(name="meeting-4x4", publishers=4),
    "meeting-8x8": Scenario(name="meeting-8x8", publishers=8),
    "webinar-1x20": Scenario(name="webinar-1x20", publishers=1, viewers=20, layer="f"),
    "webinar-1x100": Scenario(name="webinar-1x100", publishers=1, viewers=100, layer="f"),
    "audio-only-10": Scenario(name="audio-only-10", publishers=10, video=False),
    "small-rooms-10x3": Scenario(name="small-rooms-10x3", rooms=10, publishers=3, layer="q"),
    "smoke": Scenario(name="smoke", publishers=2, viewers=1, duration_s=5, warmup_s=3),
}


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"{source}: {error.error_count()} problem(s)"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def parse_scenarios(text: str, *, source: str = "<text>", toml: bool = True) -> ScenarioFile:
    """Validate the text of a scenario file (TOML, or JSON when ``toml`` is false)."""
    try:
        data = tomllib.loads(text) if toml else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"{source}: not valid {'TOML' if toml else 'JSON'}: {exc}") from exc
    try:
        return ScenarioFile.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_describe(exc, source)) from exc


def load_scenarios(spec: str) -> ScenarioFile:
    """A preset name, or a ``.toml``/``.json`` file path."""
    if spec in PRESETS:
        return ScenarioFile(scenario=[PRESETS[spec]])
    path = Path(spec)
    if not path.is_file():
        raise ScenarioError(f"{spec}: no such file, and not a preset ({', '.join(PRESETS)})")
    return parse_scenarios(path.read_text(), source=spec, toml=path.suffix != ".json")
