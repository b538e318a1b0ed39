"""GraphQL imports against a running modelrepo: a multipart upload whose body streams from
disk (never whole in memory), and an import from an s3:// URI."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

MIB = 1024 * 1024
BODY_CHUNK = MIB
TIMEOUT = httpx.Timeout(1800.0, connect=10.0)

_RESULT = """
    __typename
    ... on ImportSuccess { version { status size } }
    ... on ImportFailed { message }
    ... on Error { message }
"""
UPLOAD_MUTATION = (
    "mutation($f: Upload!, $name: String!) {"
    " importModel(input: {name: $name, version: {format: ONNX, files: {upload: $f}}}) {"
    + _RESULT
    + "} }"
)
URI_MUTATION = (
    "mutation($uri: String!, $name: String!) {"
    " importModel(input: {name: $name, version: {format: ONNX, files: {uri: $uri}}}) {"
    + _RESULT
    + "} }"
)


class ImportRefused(RuntimeError):
    """The import did not end READY."""


@dataclass(frozen=True, slots=True)
class Timed:
    seconds: float  # request sent -> answer received
    body_seconds: float | None  # request sent -> last body byte handed to the socket
    size: int  # the version's size as the server reports it


def _client(base_url: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )


def _check(response: httpx.Response) -> int:
    if response.status_code != 200:
        raise ImportRefused(f"HTTP {response.status_code}: {response.text[:500]}")
    payload: dict[str, Any] = response.json()
    if payload.get("errors"):
        raise ImportRefused(f"GraphQL errors: {payload['errors']}")
    result = payload["data"]["importModel"]
    if result["__typename"] != "ImportSuccess":
        raise ImportRefused(f"{result['__typename']}: {result.get('message')}")
    version = result["version"]
    if version["status"] != "READY":
        raise ImportRefused(f"version is {version['status']}")
    return int(version["size"])


async def upload(base_url: str, token: str, path: Path, name: str) -> Timed:
    """``importModel`` with ``path`` as the one file of a GraphQL multipart request."""
    boundary = secrets.token_hex(16)
    operations = json.dumps({"query": UPLOAD_MUTATION, "variables": {"f": None, "name": name}})
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="operations"\r\n'
        "Content-Type: application/json\r\n\r\n"
        f"{operations}\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="map"\r\n'
        "Content-Type: application/json\r\n\r\n"
        '{"0": ["variables.f"]}\r\n'
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="0"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + await asyncio.to_thread(os.path.getsize, path) + len(tail)
    sent_at: list[float] = []

    async def body() -> AsyncIterator[bytes]:
        yield head
        handle = await asyncio.to_thread(path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, BODY_CHUNK):
                yield chunk
        finally:
            handle.close()
        yield tail
        sent_at.append(time.perf_counter())

    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(length),
    }
    async with _client(base_url, token) as client:
        start = time.perf_counter()
        response = await client.post("/graphql", content=body(), headers=headers)
        seconds = time.perf_counter() - start
    size = _check(response)
    body_seconds = sent_at[0] - start if sent_at else None
    return Timed(seconds=seconds, body_seconds=body_seconds, size=size)


async def import_uri(base_url: str, token: str, uri: str, name: str) -> Timed:
    async with _client(base_url, token) as client:
        payload = {"query": URI_MUTATION, "variables": {"uri": uri, "name": name}}
        start = time.perf_counter()
        response = await client.post("/graphql", json=payload)
        seconds = time.perf_counter() - start
    return Timed(seconds=seconds, body_seconds=None, size=_check(response))
