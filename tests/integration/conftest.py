"""Integration fixtures: a real S3 HTTP server (moto) on 127.0.0.1 for the whole run.

moto is a dev dependency, so the S3 tests never skip: a server that does not start fails
them, with or without CI=true.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.integration.s3_server import S3Server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    try:
        server = S3Server.start(log_path)
    except (OSError, RuntimeError) as exc:
        pytest.fail(f"cannot start the moto S3 server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def s3_bucket(s3_server: S3Server) -> AsyncIterator[str]:
    """A new empty bucket; the server forgets everything after the test."""
    name = f"modelrepo-test-{secrets.token_hex(4)}"
    async with s3_server.client() as client:
        await client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        await s3_server.reset()
