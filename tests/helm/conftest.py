from __future__ import annotations

import pytest

from tests.helm.chart import SCENARIOS, Rendered, render, scenario_id


@pytest.fixture(scope="session")
def rendered() -> dict[str, Rendered]:
    """Every helm/ci scenario rendered once (latest Kubernetes version), by scenario id."""
    return {scenario_id(path): render(path) for path in SCENARIOS}
