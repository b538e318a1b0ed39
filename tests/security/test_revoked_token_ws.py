"""A revoked token's websockets: open ones are closed (4403) in every server process, and
new ones are refused, even where the token's lookup is still cached.

Real ``modelrepo serve`` processes, because the closing is done by the server that holds
the socket, woken through the event log (on PostgreSQL by notices from the process that
handled the revocation)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from tests.conftest import run_sync
from tests.e2e.servers import cli, running_servers

SUBSCRIBE = "subscription { events { cursor event { type aggregateType } } }"
ME = "{ me { id role } }"
REVOKE = """mutation($id: ID!) { revokeApiToken(id: $id, reason: "left the team") {
  __typename ... on ApiToken { revoked } } }"""
CREATE = """mutation($name: String!) { createApiToken(name: $name, role: VIEWER) {
  __typename } }"""
# A close at most this long after the revocation passes (the aim is 1 s; the figure printed).
BOUND_SECONDS = 3.0


def _env(database_url: str, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "MODELREPO_DATABASE_URL": database_url,
        "MODELREPO_DATA_DIR": str(data_dir),
        "MODELREPO_SECRET_KEY": "shared-between-the-servers",
        "MODELREPO_BOOTSTRAP_ADMIN_TOKEN": "false",
        "MODELREPO_BATCH_WORKER": "false",
        "MODELREPO_OPTIMIZATION_WORKER": "false",
    }


@pytest.fixture
def one_server(database_url: str, tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    env = _env(database_url, tmp_path / "data")
    with running_servers(env, 1, tmp_path) as (url,):
        yield env, url


@pytest.fixture
def two_servers_on_pg(pg_url: str, tmp_path: Path) -> Iterator[tuple[dict[str, str], str, str]]:
    async def empty() -> None:
        import asyncpg

        conn = await asyncpg.connect(pg_url)
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        await conn.close()

    run_sync(empty())
    env = _env(pg_url, tmp_path / "data")
    with running_servers(env, 2, tmp_path) as (url_a, url_b):
        yield env, url_a, url_b


def _token(env: dict[str, str], role: str) -> str:
    return cli(env, "token", "create", "--role", role, "--name", f"{role}-ws").stdout.strip()


async def _gql(url: str, token: str, query: str, **variables: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        response = await client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def _connect(url: str, token: str | None) -> websockets.connect:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else None
    return websockets.connect(
        url.replace("http", "ws") + "/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        additional_headers=headers,
    )


async def _subscribed(socket: ClientConnection, init_payload: dict[str, str] | None) -> None:
    init: dict[str, Any] = {"type": "connection_init"}
    if init_payload is not None:
        init["payload"] = init_payload
    await socket.send(json.dumps(init))
    assert json.loads(await asyncio.wait_for(socket.recv(), 30)) == {"type": "connection_ack"}
    payload = {"query": SUBSCRIBE}
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))


async def _next_event(socket: ClientConnection) -> str:
    message = json.loads(await asyncio.wait_for(socket.recv(), 30))
    assert message["type"] == "next", message
    event: dict[str, str] = message["payload"]["data"]["events"]["event"]
    return f"{event['aggregateType']}.{event['type']}"


async def _closed_after(socket: ClientConnection, since: float) -> tuple[int | None, str, float]:
    """Wait (at most BOUND_SECONDS past ``since``) for the server to close the socket; its
    close code and reason and the seconds from ``since``. Frames before the close (the
    revocation itself may be delivered first) are skipped."""
    try:
        async with asyncio.timeout(max(0.0, since + BOUND_SECONDS - time.monotonic())):
            while True:
                await socket.recv()
    except websockets.ConnectionClosed as closed:
        elapsed = time.monotonic() - since
        frame = closed.rcvd
        return (frame.code, frame.reason, elapsed) if frame else (None, "", elapsed)
    except TimeoutError:
        pytest.fail(f"the socket was still open {BOUND_SECONDS} s after the revocation")


async def _watched_then_revoked(
    subscribe_url: str, revoke_url: str, admin: str, viewer: str
) -> None:
    """The viewer subscribes at ``subscribe_url`` (one socket with the token in the header,
    one with it in connection_init, as browsers send it); an admin revokes the token at
    ``revoke_url``; both sockets are closed with 4403."""
    viewer_id = (await _gql(subscribe_url, viewer, ME))["me"]["id"]
    async with _connect(subscribe_url, viewer) as header, _connect(subscribe_url, None) as init:
        await _subscribed(header, None)
        await _subscribed(init, {"Authorization": f"Bearer {viewer}"})
        # Both subscriptions are live: they see an event recorded now.
        await _gql(revoke_url, admin, CREATE, name="witness")
        assert await _next_event(header) == "ApiToken.Created"
        assert await _next_event(init) == "ApiToken.Created"

        started = time.monotonic()
        revoked = await _gql(revoke_url, admin, REVOKE, id=viewer_id)
        assert revoked["revokeApiToken"] == {"__typename": "ApiToken", "revoked": True}
        for name, socket in (("header", header), ("connection_init", init)):
            code, reason, elapsed = await _closed_after(socket, started)
            print(f"{name} socket closed {elapsed * 1000:.0f} ms after the revocation: {reason}")
            assert code == 4403
            assert "revoked" in reason


async def test_a_revoked_tokens_subscription_is_closed(
    one_server: tuple[dict[str, str], str],
) -> None:
    env, url = one_server
    await _watched_then_revoked(url, url, _token(env, "admin"), _token(env, "viewer"))


async def test_a_revocation_in_one_process_closes_sockets_in_another(
    two_servers_on_pg: tuple[dict[str, str], str, str],
) -> None:
    env, url_a, url_b = two_servers_on_pg
    await _watched_then_revoked(url_b, url_a, _token(env, "admin"), _token(env, "viewer"))


async def test_a_revoked_token_cannot_open_a_websocket(
    two_servers_on_pg: tuple[dict[str, str], str, str],
) -> None:
    """Server B looked the token up a moment ago (its lookups are cached for a second);
    server A revokes it; B refuses new sockets with it at once, by header and by
    connection_init."""
    env, url_a, url_b = two_servers_on_pg
    admin, viewer = _token(env, "admin"), _token(env, "viewer")
    viewer_id = (await _gql(url_b, viewer, ME))["me"]["id"]
    await _gql(url_a, admin, REVOKE, id=viewer_id)

    with pytest.raises(InvalidStatus) as refused:
        async with _connect(url_b, viewer) as socket:
            await _subscribed(socket, None)
    assert refused.value.response.status_code == 403

    async with _connect(url_b, None) as socket:
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {viewer}"}}
        await socket.send(json.dumps(init))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
