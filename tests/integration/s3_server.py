"""A real S3 endpoint for the tests: moto's ThreadedMotoServer on 127.0.0.1.

It runs in a child process (this file is its entry point) rather than a thread of the
test process: moto keeps objects in memory and joins multipart uploads into one buffer,
which would count in the tests' tracemalloc peaks, and it would share the tests' GIL.
The child stops when its stdin closes, so it cannot outlive a killed test run.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import aioboto3
    from types_aiobotocore_s3 import S3Client

    from app.adapters.object_store.s3 import S3ObjectStore

# moto accepts any credentials unless told to enforce them (see enforce_credentials).
ACCESS_KEY_ID = "modelrepo-test-key"
SECRET_ACCESS_KEY = "modelrepo-test-secret-0123456789"
REGION = "us-east-1"
START_TIMEOUT_SECONDS = 30.0


class S3Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self._process = process
        self.endpoint_url = f"http://127.0.0.1:{port}"
        self._session: aioboto3.Session | None = None

    @property
    def session(self) -> aioboto3.Session:
        """One session for the run: each new one loads botocore's service data again."""
        if self._session is None:
            import aioboto3

            self._session = aioboto3.Session()
        return self._session

    @classmethod
    def start(cls, log_path: Path) -> S3Server:
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, __file__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_SECONDS)
        line = process.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            server = cls(process, 0)
            server.stop()
            raise RuntimeError(f"moto S3 server did not start; see {log_path}")
        return cls(process, int(line))

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            if self._process.stdin is not None:
                self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    async def reset(self) -> None:
        """Forget every bucket and object."""
        async with httpx.AsyncClient() as http:
            response = await http.post(f"{self.endpoint_url}/moto-api/reset")
            response.raise_for_status()

    @contextlib.asynccontextmanager
    async def enforce_credentials(self) -> AsyncIterator[None]:
        """Make the server check signatures against its (empty) IAM user list, so every
        access key is unknown, for the duration of the block."""
        url = f"{self.endpoint_url}/moto-api/reset-auth"
        async with httpx.AsyncClient() as http:
            response = (await http.post(url, content=b"0")).raise_for_status()
            previous = response.json()["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]
            try:
                yield
            finally:
                (await http.post(url, content=previous.encode())).raise_for_status()

    async def open_store(self, bucket: str, prefix: str = "", **options: Any) -> S3ObjectStore:
        """The S3 adapter on this server, with the test credentials unless overridden."""
        from app.adapters.object_store.s3 import S3ObjectStore

        defaults = {
            "access_key_id": ACCESS_KEY_ID,
            "secret_access_key": SECRET_ACCESS_KEY,
            "session": self.session,
        }
        return await S3ObjectStore.open(
            bucket, prefix, endpoint_url=self.endpoint_url, region=REGION, **(defaults | options)
        )

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[S3Client]:
        """A raw S3 client with the test credentials, to arrange and inspect the bucket."""
        async with self.session.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        ) as client:
            yield client


def _serve() -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()  # until the test process closes the pipe or exits
    server.stop()


if __name__ == "__main__":
    _serve()
