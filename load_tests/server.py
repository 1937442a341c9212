"""Server-side readings: CPU time and RSS of local processes from /proc, counters from a
Prometheus /metrics page."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import httpx

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ProcSample:
    cpu_s: float  # user + system, all threads
    rss_bytes: int


def read_proc(pid: int, proc: Path = Path("/proc")) -> ProcSample:
    stat = (proc / str(pid) / "stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    rss_pages = int((proc / str(pid) / "statm").read_text().split()[1])
    return ProcSample((utime + stime) / TICKS, rss_pages * PAGE)


def self_cpu_s() -> float:
    """CPU time of this process (the load generator), all threads."""
    times = os.times()
    return times.user + times.system


def parse_metrics(text: str) -> dict[str, float]:
    """``name{labels}`` -> value for every sample of a Prometheus text page."""
    return {name + (labels or ""): float(value) for name, labels, value in _SAMPLE.findall(text)}


async def scrape(client: httpx.AsyncClient, url: str) -> dict[str, float]:
    response = await client.get(url, timeout=5)
    response.raise_for_status()
    return parse_metrics(response.text)
