"""The heartbeat's load figures, from two samples of a node's counters and CPU time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sfu.observability.load import LoadSample, load_rates


def test_rates_over_the_interval() -> None:
    rates = load_rates(LoadSample(10.0, 2.0, 1_000), LoadSample(12.0, 2.5, 9_000))
    assert rates == (4_000.0, 0.25)


@given(
    st.floats(0, 1e6),
    st.floats(0, 1e6),
    st.integers(0, 2**40),
    st.floats(-10, 10),
    st.floats(-10, 10),
    st.integers(-(2**20), 2**20),
)
def test_rates_are_never_negative_nor_infinite(
    wall: float, cpu: float, packets: int, dwall: float, dcpu: float, dpackets: int
) -> None:
    before = LoadSample(wall, cpu, packets)
    after = LoadSample(wall + dwall, cpu + dcpu, packets + dpackets)
    packets_per_s, core = load_rates(before, after)
    assert packets_per_s >= 0 and core >= 0
    assert packets_per_s < float("inf") and core < float("inf")
