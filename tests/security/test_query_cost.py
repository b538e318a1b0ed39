"""GraphQL requests that cost more than they look (app.graphql.cost, app.graphql._documents,
app.http.json_depth).

Before these limits a viewer's 676-byte query of nested fragments (8 levels, each fragment
spreading the one below ten times) held the event loop for 66 s in strawberry's depth and
alias rules, which expand every spread, and every other request waited; distinct large
queries were kept whole, parsed, in caches bounded only by their number of entries; and
JSON variables nested deeper than Python's recursion limit were an internal error (500).
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.graphql.schema import build_schema
from tests.e2e.conftest import Api
from tests.e2e.serving_helpers import V1, model_with_versions, predict, publish

MAX_FIELDS = 5000  # Settings' defaults, which the api fixture keeps
MAX_FRAGMENTS = 100
MAX_BYTES = 100_000
MAX_JSON_DEPTH = 64
BOUND = 2.0  # seconds; generous (the bomb took minutes before)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'modelrepo.db'}"


def fragment_bomb(levels: int, width: int = 10) -> str:
    """Fragment i spreads fragment i+1 ``width`` times; the last selects ``name``."""
    fragments = [
        f"fragment F{i} on ApiToken {{ {' '.join([f'...F{i + 1}'] * width)} }}"
        for i in range(1, levels)
    ]
    fragments.append(f"fragment F{levels} on ApiToken {{ name }}")
    return "query Bomb { me { ...F1 } }\n" + "\n".join(fragments)


def messages(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("data") is None, body
    return [error["message"] for error in body["errors"]]


async def timed(request: Any) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await request
    return response, time.perf_counter() - started


async def test_the_fragment_bomb_is_refused_at_once_and_others_are_answered_meanwhile(
    api: Api,
) -> None:
    bomb = fragment_bomb(8)
    assert len(bomb.encode()) < 700
    _, versions = await model_with_versions(api, "iris", V1)
    _, key = await publish(api, "iris-svc", [{"versionId": versions[0]}])
    row = {"instances": [[1, 1, 1, 1]]}
    assert (await predict(api, "iris-svc", key, row)).status_code == 200  # warmed up
    await api.gql("{ me { name } }", token=api.viewer)
    started = time.perf_counter()
    (
        (refused, bomb_seconds),
        (small, small_seconds),
        (health, health_seconds),
        (predicted, predict_seconds),
    ) = await asyncio.gather(
        timed(api.post(bomb, token=api.viewer)),
        timed(api.post("{ me { name } }", token=api.viewer)),
        timed(api.client.get("/healthz")),
        timed(predict(api, "iris-svc", key, row)),
    )
    total = time.perf_counter() - started
    print(
        f"bomb refused in {bomb_seconds * 1000:.1f} ms; meanwhile a small query took"
        f" {small_seconds * 1000:.1f} ms, /healthz {health_seconds * 1000:.1f} ms and a"
        f" predict {predict_seconds * 1000:.1f} ms"
    )
    assert predicted.json() == {"predictions": [[10.5]]}
    assert messages(refused) == [
        "The query selects 10000001 fields with its fragments expanded;"
        f" at most {MAX_FIELDS} are allowed."
    ]
    assert small.json() == {"data": {"me": {"name": "viewer-token"}}}
    assert health.status_code == 200
    assert total < BOUND


async def test_fields_are_counted_with_fragments_expanded(api: Api) -> None:
    def query(spreads: int) -> str:
        return (
            "{ me { ...Many } }\n"
            f"fragment Many on ApiToken {{ {' '.join(['...Four'] * spreads)} }}\n"
            "fragment Four on ApiToken { id name role revoked }"
        )

    # me, and four fields in each spread of Four
    assert messages(await api.post(query(1250), token=api.viewer)) == [
        f"The query selects 5001 fields with its fragments expanded; at most {MAX_FIELDS}"
        " are allowed."
    ]
    data = await api.gql(query(1249), token=api.viewer)
    assert data == {
        "me": {"id": data["me"]["id"], "name": "viewer-token", "role": "VIEWER", "revoked": False}
    }


async def test_fragments_are_counted_before_any_other_rule(api: Api) -> None:
    unused = "\n".join(f"fragment U{i} on ApiToken {{ nope }}" for i in range(MAX_FRAGMENTS + 1))
    # Neither the unknown field nor the unused fragments are reported: no other rule ran.
    assert messages(await api.post("{ me { name } }\n" + unused, token=api.viewer)) == [
        f"The query defines {MAX_FRAGMENTS + 1} fragments; at most {MAX_FRAGMENTS} are allowed."
    ]


async def test_a_query_too_large_is_refused_before_it_is_parsed(api: Api) -> None:
    # 60,000 characters, 120,000 bytes: counted in bytes
    padded = "{ me { name } } # " + "é" * 60_000
    size = len(padded.encode())
    assert messages(await api.post(padded, token=api.viewer)) == [
        f"The query is {size} bytes long; at most {MAX_BYTES} bytes are allowed."
    ]
    # (a text that does not parse is refused for its size, not its syntax)
    assert messages(await api.post("{ me { " + " " * MAX_BYTES, token=api.viewer)) == [
        f"The query is {MAX_BYTES + 7} bytes long; at most {MAX_BYTES} bytes are allowed."
    ]


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


# Just past the limit, and past Python's recursion limit (a 500 before).
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 5_000])
async def test_json_nested_too_deeply_gets_400(api: Api, depth: int) -> None:
    reason = f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
    headers = {"Authorization": f"Bearer {api.viewer}"}
    query = "{ me { name } }"
    variables = '{"v": ' + "[" * depth + "1" + "]" * depth + "}"
    bodies = {
        "one operation": f'{{"query": "{query}", "variables": {variables}}}',
        "a batch": f'[{{"query": "{query}", "variables": {variables}}}]',
    }
    for what, body in bodies.items():
        response = await api.client.post(
            "/graphql",
            content=body,
            headers={**headers, "content-type": "application/json"},
        )
        assert (response.status_code, response.text) == (400, reason), what
    response = await api.client.get(
        "/graphql", params={"query": query, "variables": variables}, headers=headers
    )
    assert (response.status_code, response.text) == (400, reason), "GET"
    # The body is one level and the variables another: 62 more are allowed.
    response = await api.post(
        "{ me { name } }", {"v": nested(MAX_JSON_DEPTH - 2)}, token=api.viewer
    )
    assert response.json() == {"data": {"me": {"name": "viewer-token"}}}


def test_the_caches_are_bounded_by_bytes() -> None:
    limit = 16 * 1024**2
    schema = build_schema(cache_bytes=limit)
    documents = schema.documents

    def query(i: int) -> str:  # about 12 kB and 3,600 tokens, distinct
        return "{ " + " ".join(f"a{i}x{k}: me {{ name }}" for k in range(600)) + " }"

    # What one kept query holds (text, document, errors) is within what is counted for it.
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        documents.check(query(1000))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    counted = documents.bytes
    print(f"one 12 kB query holds {held} bytes, counted as {counted}")
    assert 0 < held <= counted <= limit

    for i in range(40):
        documents.check(query(i))
        assert documents.bytes <= limit
    print(f"after 41 distinct queries: {len(documents)} kept, {documents.bytes} bytes counted")
    assert 0 < len(documents) < 41


MAX_REPEATS = 50


def repeated(what: str, times: int) -> str:
    return "{" + f" {what}" * times + " }"


async def test_a_field_repeated_in_one_selection_set_is_refused_at_once(api: Api) -> None:
    # graphql-core compares every two of them (and their selections): 2 s, then it gave up
    # with "Validation aborted."
    query = repeated("me { name }", 990)
    assert len(query.encode()) < 12_000
    await api.gql("{ me { name } }", token=api.viewer)  # the app warmed up
    started = time.perf_counter()
    (refused, refused_seconds), (small, small_seconds) = await asyncio.gather(
        timed(api.post(query, token=api.viewer)),
        timed(api.post("{ me { name } }", token=api.viewer)),
    )
    total = time.perf_counter() - started
    print(
        f"refused in {refused_seconds * 1000:.1f} ms; meanwhile a small query took"
        f" {small_seconds * 1000:.1f} ms"
    )
    assert messages(refused) == [
        f"'me' is selected more than {MAX_REPEATS} times in one selection set (at the top of"
        " the query), with fragments expanded and fields of one name merged; at most"
        f" {MAX_REPEATS} are allowed."
    ]
    assert small.json() == {"data": {"me": {"name": "viewer-token"}}}
    assert total < BOUND
    query = "query Names { me " + repeated("name", 3990) + " }"
    assert messages(await api.post(query, token=api.viewer)) == [
        f"'name' is selected more than {MAX_REPEATS} times in one selection set (under 'me'"
        f" of 'Names'), with fragments expanded and fields of one name merged; at most"
        f" {MAX_REPEATS} are allowed."
    ]


async def test_repeats_are_counted_as_execution_merges_them(api: Api) -> None:
    def refused(name: str, where: str) -> list[str]:
        return [
            f"'{name}' is selected more than {MAX_REPEATS} times in one selection set"
            f" ({where}), with fragments expanded and fields of one name merged; at most"
            f" {MAX_REPEATS} are allowed."
        ]

    # Same-named fields merge their selections: ten `me` of five `name` select 50 names.
    five = "me { name name name name name }"
    data = await api.gql(repeated(five, 10), token=api.viewer)
    assert data == {"me": {"name": "viewer-token"}}
    assert messages(await api.post(repeated(five, 11), token=api.viewer)) == refused(
        "name", "under 'me' of the query"
    )
    # Fragments are expanded where they are spread, each once in one selection set.
    fragments = " ".join(f"fragment F{i} on ApiToken {{ name }}" for i in range(MAX_REPEATS + 1))
    spreads = " ".join(f"...F{i}" for i in range(MAX_REPEATS + 1))
    assert messages(
        await api.post(f"{{ me {{ {spreads} }} }} {fragments}", token=api.viewer)
    ) == refused("name", "under 'me' of the query")
    once = "{ me { " + "...F0 " * (MAX_REPEATS + 1) + "} } fragment F0 on ApiToken { name }"
    assert await api.gql(once, token=api.viewer) == {"me": {"name": "viewer-token"}}
    # A fragment never spread is counted alone (graphql-core compares its fields too).
    unused = "fragment U on ApiToken " + repeated("id", MAX_REPEATS + 1)
    assert messages(await api.post("{ me { name } } " + unused, token=api.viewer)) == refused(
        "id", "at the top of fragment 'U'"
    )
