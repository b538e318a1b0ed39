"""Live batch status over a real websocket (graphql-transport-ws) against a running server
that executes the run itself; reconnecting with the last cursor misses and repeats nothing."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.conftest import run_sync
from tests.e2e.servers import cli, running_servers
from tests.e2e.serving_helpers import V1
from tests.integration.s3_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server

SUBSCRIBE = """
subscription($job: ID!, $after: String) {
  batchJobUpdates(jobId: $job, after: $after) { cursor runId event status data }
}"""
CREATE = """
mutation($input: BatchJobInput!) { createBatchJob(input: $input) {
  __typename ... on BatchJobPayload { job { id } } ... on Error { message } } }"""


@pytest.fixture
def server(tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> Iterator[tuple[str, str, str]]:
    env = {
        **os.environ,
        "MODELREPO_DATA_DIR": str(tmp_path / "data"),
        "MODELREPO_BOOTSTRAP_ADMIN_TOKEN": "false",
        "MODELREPO_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "MODELREPO_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "MODELREPO_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "MODELREPO_S3_REGION": REGION,
    }
    token = cli(env, "token", "create", "--role", "admin").stdout.strip()
    with running_servers(env, 1, tmp_path) as (url,):
        model = tmp_path / "model.onnx"
        model.write_bytes(V1)
        imported = cli(
            env | {"MODELREPO_URL": url, "MODELREPO_TOKEN": token},
            "import",
            str(model),
            "--model",
            "lin",
            "--format",
            "ONNX",
        )
        yield url, token, imported.stdout.rsplit("id ", 1)[1].rstrip(")\n")


async def _subscribe(
    url: str, token: str, query: str, variables: dict[str, Any], done: Callable[[Any], bool]
) -> list[Any]:
    """Subscribe over graphql-transport-ws (token in the header) and collect the items of
    the one subscription field until ``done(item)``."""
    received: list[Any] = []
    async with websockets.connect(
        url.replace("http", "ws") + "/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        additional_headers={"Authorization": f"Bearer {token}"},
    ) as socket:
        await socket.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        payload = {"query": query, "variables": variables}
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        while True:
            frame = await asyncio.wait_for(socket.recv(), 60)
            # graphql-transport-ws speaks in text frames; browsers' clients drop binary ones
            assert isinstance(frame, str), frame
            message = json.loads(frame)
            assert message["type"] == "next", message
            (item,) = message["payload"]["data"].values()
            received.append(item)
            if done(item):
                return received


async def _updates(url: str, token: str, job: str, after: str | None, until: str) -> list[Any]:
    variables = {"job": job, "after": after}
    return await _subscribe(url, token, SUBSCRIBE, variables, lambda u: u["event"] == until)


async def test_job_updates_stream_and_resume(
    server: tuple[str, str, str], s3_server: S3Server, s3_bucket: str
) -> None:
    url, token, version = server
    rows = "id,x1,x2,x3,x4\n" + "".join(f"r{i},{i},1,1,1\n" for i in range(100))
    async with s3_server.client() as client:
        await client.put_object(Bucket=s3_bucket, Key="in/data.csv", Body=rows.encode())
    body = {
        "name": "live",
        "versionId": version,
        "inputUri": f"s3://{s3_bucket}/in/data.csv",
        "inputFormat": "CSV",
        "outputUri": f"s3://{s3_bucket}/out",
        "outputFormat": "CSV",
        "idColumn": "id",
    }
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        created = await c.post("/graphql", json={"query": CREATE, "variables": {"input": body}})
    job = created.json()["data"]["createBatchJob"]["job"]["id"]

    everything = await _updates(url, token, job, None, until="Completed")
    events = [u["event"] for u in everything]
    assert events[0] == "Created" and events[-1] == "Completed"
    assert "Started" in events
    assert [u["status"] for u in everything if u["runId"]][-1] == "COMPLETED"
    assert everything[-1]["data"]["result"]["rows"] == 100

    # reconnect after the second update: exactly the rest, nothing twice
    resumed = await _updates(url, token, job, everything[1]["cursor"], until="Completed")
    assert resumed == everything[2:]


async def _init(url: str, payload: dict[str, str] | None) -> Any:
    """Open a graphql-transport-ws socket without an Authorization header (as browsers must)
    and send connection_init with ``payload``; the server's answer."""
    async with websockets.connect(
        url.replace("http", "ws") + "/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
    ) as socket:
        init: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            init["payload"] = payload
        await socket.send(json.dumps(init))
        try:
            return json.loads(await asyncio.wait_for(socket.recv(), 30))
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


async def test_subscriptions_need_a_token(server: tuple[str, str, str]) -> None:
    url, token, _ = server
    # a header with a bad token is refused at the handshake
    with pytest.raises(InvalidStatus):
        async with websockets.connect(
            url.replace("http", "ws") + "/graphql",
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
            additional_headers={"Authorization": "Bearer mr_wrong"},
        ):
            pass
    # without a header the token must come in connection_init
    assert await _init(url, None) == 4403
    assert await _init(url, {"Authorization": "Bearer mr_wrong"}) == 4403
    assert await _init(url, {"Authorization": f"Bearer {token}"}) == {"type": "connection_ack"}


async def test_a_browser_subscribes_with_the_token_in_connection_init(
    server: tuple[str, str, str], s3_server: S3Server, s3_bucket: str
) -> None:
    url, token, version = server
    body = {
        "name": "from-a-browser",
        "versionId": version,
        "inputUri": f"s3://{s3_bucket}/in/none.csv",
        "inputFormat": "CSV",
        "outputUri": f"s3://{s3_bucket}/out",
        "outputFormat": "CSV",
    }
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        created = await c.post("/graphql", json={"query": CREATE, "variables": {"input": body}})
    job = created.json()["data"]["createBatchJob"]["job"]["id"]
    async with websockets.connect(
        url.replace("http", "ws") + "/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
    ) as socket:
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await socket.send(json.dumps(init))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        subscribe = {"query": SUBSCRIBE, "variables": {"job": job, "after": None}}
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        first = json.loads(await asyncio.wait_for(socket.recv(), 60))
        assert first["type"] == "next", first
        assert first["payload"]["data"]["batchJobUpdates"]["event"] == "Created"


@pytest.fixture
def two_servers_on_pg(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str, pg_url: str
) -> Iterator[tuple[list[str], str, str]]:
    async def empty() -> None:
        conn = await asyncpg.connect(pg_url)
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        await conn.close()

    run_sync(empty())
    env = {
        **os.environ,
        "MODELREPO_DATABASE_URL": pg_url,
        "MODELREPO_DATA_DIR": str(tmp_path / "data"),
        "MODELREPO_SECRET_KEY": "shared-between-the-servers",
        "MODELREPO_BOOTSTRAP_ADMIN_TOKEN": "false",
        "MODELREPO_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "MODELREPO_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "MODELREPO_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "MODELREPO_S3_REGION": REGION,
    }
    token = cli(env, "token", "create", "--role", "admin").stdout.strip()
    with running_servers(env, 2, tmp_path) as urls:
        model = tmp_path / "model.onnx"
        model.write_bytes(V1)
        imported = cli(
            env | {"MODELREPO_URL": urls[0], "MODELREPO_TOKEN": token},
            "import",
            str(model),
            "--model",
            "lin",
            "--format",
            "ONNX",
        )
        yield urls, token, imported.stdout.rsplit("id ", 1)[1].rstrip(")\n")


async def test_updates_across_two_servers_on_postgres(
    two_servers_on_pg: tuple[list[str], str, str], s3_server: S3Server, s3_bucket: str
) -> None:
    """Server A takes the job; server B's subscriber sees the run through (whichever
    server's worker claims it — exactly one does)."""
    (url_a, url_b), token, version = two_servers_on_pg
    rows = "id,x1,x2,x3,x4\n" + "".join(f"r{i},{i},1,1,1\n" for i in range(50))
    async with s3_server.client() as client:
        await client.put_object(Bucket=s3_bucket, Key="in/data.csv", Body=rows.encode())
    body = {
        "name": "shared",
        "versionId": version,
        "inputUri": f"s3://{s3_bucket}/in/data.csv",
        "inputFormat": "CSV",
        "outputUri": f"s3://{s3_bucket}/out",
        "outputFormat": "JSONL",
        "idColumn": "id",
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url_a, headers=headers) as a:
        created = await a.post("/graphql", json={"query": CREATE, "variables": {"input": body}})
    job = created.json()["data"]["createBatchJob"]["job"]["id"]
    seen = await _updates(url_b, token, job, None, until="Completed")
    events = [u["event"] for u in seen]
    assert events.count("Started") == 1 and events[-1] == "Completed"
    assert seen[-1]["data"]["result"]["rows"] == 50


FEED = """
subscription($after: String, $types: [String!]) {
  events(after: $after, aggregateTypes: $types) { cursor event { aggregateType type actor } }
}"""


async def _feed(url: str, token: str, after: str | None, count: int) -> list[Any]:
    received: list[Any] = []

    def enough(item: Any) -> bool:
        received.append(item)
        return len(received) == count

    variables = {"after": after, "types": ["Model"]}
    return await _subscribe(url, token, FEED, variables, enough)


async def test_the_general_event_feed_follows_and_resumes(server: tuple[str, str, str]) -> None:
    url, token, _ = server
    headers = {"Authorization": f"Bearer {token}"}
    tag = 'mutation($id: ID!, $v: String!) { editModelTags(modelId: $id, tags: [{key: "k",'
    tag += " value: $v}]) { __typename } }"
    async with httpx.AsyncClient(base_url=url, headers=headers) as client:
        found = await client.post("/graphql", json={"query": '{ model(name: "lin") { id } }'})
        model = found.json()["data"]["model"]["id"]
        following = asyncio.create_task(_feed(url, token, None, 2))  # from now on
        edits = 0
        while not following.done():  # until the subscription has seen two (it may join late)
            variables = {"id": model, "v": f"v{edits}"}
            await client.post("/graphql", json={"query": tag, "variables": variables})
            edits += 1
            await asyncio.sleep(0.3)
        live = following.result()
        assert [e["event"]["type"] for e in live] == ["TagsEdited", "TagsEdited"]
        assert {e["event"]["aggregateType"] for e in live} == {"Model"}
        await client.post("/graphql", json={"query": tag, "variables": {"id": model, "v": "z"}})
    # resuming after the first: the second, then the next one, nothing twice
    resumed = await _feed(url, token, live[0]["cursor"], 2)
    assert resumed[0] == live[1]
    assert resumed[1]["event"]["type"] == "TagsEdited"
    assert resumed[1]["cursor"] not in {live[0]["cursor"], live[1]["cursor"]}
