"""The API key of the suite's nodes and stacks (test nodes accept no other)."""

from __future__ import annotations

TEST_KEY_ID = "test"
TEST_SECRET = "test-secret-of-the-suite-0123456789abcdef"
