"""Unit-test fixtures: the app's container on in-memory and temporary adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.bootstrap import Container
from tests.unit.fakes import in_memory_container


@pytest.fixture
async def container(tmp_path: Path) -> AsyncIterator[Container]:
    async with in_memory_container(tmp_path) as built:
        yield built
