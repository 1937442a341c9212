"""The live progress line while a run goes on (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table


class Progress:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = Live(console=console, refresh_per_second=4, transient=True)
        self.title = ""

    def start(self, title: str) -> None:
        self.title = title
        self.live.start()

    def __call__(self, state: dict[str, Any]) -> None:
        table = Table(title=self.title, show_header=True, header_style="bold")
        for column in ("phase", "progress", "fwd pkt/s", "server CPU %", "p99 delay ms"):
            table.add_column(column)
        if state["phase"] == "measuring":
            pps, cpu, p99 = state.get("pps"), state.get("cpu_pct"), state.get("delay_p99")
            table.add_row(
                "measuring",
                f"{state['elapsed']:.0f}/{state['duration']:.0f} s",
                "-" if pps is None else f"{pps:,.0f}",
                "-" if cpu is None else f"{cpu:.1f}",
                "-" if p99 is None else f"{p99:.1f}",
            )
        else:
            table.add_row(state["phase"], str(state.get("joined", "")), "", "", "")
        self.live.update(table)

    def stop(self) -> None:
        self.live.stop()
