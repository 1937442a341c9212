"""Fixtures for the browser tests: one headless Chromium and one stack per session, a fresh
browser context per participant.

They must run inside a loopback-only network namespace (`make test` does that); anywhere else
they fail rather than skip. On a failure the report shows the stack's log for that test and
every participant's browser console.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Generator, Iterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from tests.browser.harness import (
    CHROME_FLAGS,
    CHROMIUM,
    JoinFactory,
    Participant,
    Stack,
    join,
    loopback_only_problem,
)

STACK_KEY = pytest.StashKey[Stack]()
LOG_OFFSET_KEY = pytest.StashKey[int]()
PARTICIPANTS_KEY = pytest.StashKey[list[Participant]]()


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> None:
    problem = loopback_only_problem()
    if problem:
        pytest.fail(
            f"run via `make test` (loopback-only network namespace): {problem}", pytrace=False
        )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROME_FLAGS
        )
        yield browser
        await browser.close()


@pytest.fixture(scope="session")
def stack(pytestconfig: pytest.Config) -> Iterator[Stack]:
    """The one-machine stack on a free port; yields it once `/healthz` answers."""
    running = Stack.start()
    pytestconfig.stash[STACK_KEY] = running
    yield running
    running.stop()


@pytest.fixture
def room(request: pytest.FixtureRequest) -> str:
    """A room name of its own for each test."""
    return f"{re.sub(r'[^a-z0-9]+', '-', request.node.name.lower())[:48]}-{uuid.uuid4().hex[:6]}"


@pytest_asyncio.fixture(loop_scope="session")
async def participants(
    request: pytest.FixtureRequest, chromium: Browser, stack: Stack
) -> AsyncIterator[JoinFactory]:
    """`await participants(room, identity, ...)` joins one more participant (the arguments of
    `join` after the base URL); all of them are closed after the test."""
    joined: list[Participant] = []
    request.node.stash[PARTICIPANTS_KEY] = joined

    async def add(
        room: str,
        identity: str,
        name: str | None = None,
        init_script: str | None = None,
        viewport: tuple[int, int] | None = None,
    ) -> Participant:
        participant = await join(
            chromium, stack.base_url, room, identity, name, init_script, viewport
        )
        joined.append(participant)
        return participant

    yield add
    for participant in joined:
        await participant.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    stack = item.config.stash.get(STACK_KEY, None)
    item.stash[LOG_OFFSET_KEY] = stack.log_size() if stack else 0
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        stack = item.config.stash.get(STACK_KEY, None)
        if stack:
            since = item.stash.get(LOG_OFFSET_KEY, 0)
            report.sections.append(("stack log", stack.log(since) or "(empty)"))
        for participant in item.stash.get(PARTICIPANTS_KEY, []):
            lines = "\n".join(participant.console) or "(empty)"
            report.sections.append((f"console of {participant.identity}", lines))
    return report
