"""Fixtures for the security tests: a canary listener on 127.0.0.1 that records every connection it
gets, so that SSRF tests can assert that no internal host was contacted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from security_helpers import Canary, listening


@pytest.fixture
def canary() -> Iterator[Canary]:
    with listening() as found:
        yield found
