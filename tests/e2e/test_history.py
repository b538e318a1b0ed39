"""History from the log, the audit log, and state as of a past moment."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tests.e2e.conftest import Api
from tests.e2e.queries import (
    DELETE_MODEL,
    DELETE_VERSION,
    EDIT_TAGS,
    HISTORY,
    IMPORT_MODEL,
    IMPORT_VERSION,
    MODEL,
    model_input,
    version,
)
from tests.e2e.serving_helpers import V1, model_with_versions, publish

VERSION_AS_OF = """
query($id: ID!, $asOf: DateTime) {
  modelVersion(id: $id, asOf: $asOf) { name asOf model { name tags { key value } } }
}"""


async def _tick() -> datetime:
    await asyncio.sleep(0.02)
    moment = datetime.now(UTC)
    await asyncio.sleep(0.02)
    return moment


async def test_history_lists_every_event_with_actor_time_and_payload(api: Api) -> None:
    created = await api.gql(
        IMPORT_MODEL,
        {"input": model_input("m", tags=[{"key": "a", "value": "1"}]), "reason": "first cut"},
        token=api.editor,
    )
    model_id = created["importModel"]["model"]["id"]
    await api.gql(EDIT_TAGS, {"modelId": model_id, "tags": [{"key": "a", "value": "2"}]})
    events = (await api.gql(HISTORY, {"id": model_id}))["history"]["nodes"]
    assert [e["type"] for e in events] == ["Registered", "VersionAllocated", "TagsEdited"]
    assert [e["actor"] for e in events] == ["editor-token", "editor-token", "admin-token"]
    assert events[0]["reason"] == "first cut"
    assert events[0]["payload"] == {
        "name": "m",
        "model_list": "ORIGINAL",
        "description": "",
        "tags": {"a": "1"},
    }
    assert events[2]["payload"] == {"tags": {"a": "2"}}
    assert events[0]["recordedAt"] <= events[2]["recordedAt"]
    assert [e["aggregateVersion"] for e in events] == [1, 2, 3]

    audit = await api.gql(
        "query($id: ID) { auditLog(aggregateId: $id) { nodes { type actor } } }",
        {"id": model_id},
    )
    assert [e["type"] for e in audit["auditLog"]["nodes"]] == [
        "TagsEdited",
        "VersionAllocated",
        "Registered",
    ]


async def test_history_never_shows_token_secrets_or_hashes(api: Api) -> None:
    me = await api.gql("{ me { id } }")
    events = (await api.gql(HISTORY, {"id": me["me"]["id"]}))["history"]["nodes"]
    assert events[0]["type"] == "Created"
    assert events[0]["payload"]["token_hash"] == "<redacted>"
    assert api.admin not in str(events)


async def test_history_never_shows_service_key_hashes(api: Api) -> None:
    _, versions = await model_with_versions(api, "linear", V1)
    service_id, key = await publish(api, "keyed", [{"versionId": versions[0]}])
    rotated = await api.gql(
        "mutation($id: ID!) { rotateServiceKey(serviceId: $id) {"
        " ... on ServiceWithKey { accessKey } } }",
        {"id": service_id},
    )
    new_key = rotated["rotateServiceKey"]["accessKey"]
    events = (await api.gql(HISTORY, {"id": service_id}))["history"]["nodes"]
    hashed = [e for e in events if "key_hash" in e["payload"]]
    assert [e["type"] for e in hashed] == ["Published", "KeyRotated"]
    assert {e["payload"]["key_hash"] for e in hashed} == {"<redacted>"}
    assert key not in str(events) and new_key not in str(events)


async def test_history_bad_ids(api: Api) -> None:
    response = await api.post(HISTORY, {"id": "not-an-id"})
    assert "not a valid id" in response.json()["errors"][0]["message"]
    empty = await api.gql(HISTORY, {"id": "00000000-0000-4000-8000-000000000000"})
    assert empty["history"]["nodes"] == []


async def test_model_as_of_rebuilds_past_state(api: Api) -> None:
    before_anything = await _tick()
    created = await api.gql(
        IMPORT_MODEL, {"input": model_input("m", tags=[{"key": "stage", "value": "dev"}])}
    )
    model_id = created["importModel"]["model"]["id"]
    v1_id = created["importModel"]["version"]["id"]
    with_v1 = await _tick()
    await api.gql(IMPORT_VERSION, {"modelId": model_id, "version": version("PMML")})
    await api.gql(EDIT_TAGS, {"modelId": model_id, "tags": [{"key": "stage", "value": "prod"}]})
    with_v2 = await _tick()
    await api.gql(DELETE_VERSION, {"versionId": v1_id})
    await api.gql(DELETE_MODEL, {"modelId": model_id})

    past = (await api.gql(MODEL, {"id": model_id, "asOf": with_v1.isoformat()}))["model"]
    assert past["tags"] == [{"key": "stage", "value": "dev"}]
    assert [v["name"] for v in past["versions"]["nodes"]] == ["V1"]
    assert past["versionCount"] == 1 and past["deleted"] is False
    assert past["versions"]["nodes"][0]["model"]["name"] == "m"

    later = (await api.gql(MODEL, {"name": "M", "asOf": with_v2.isoformat()}))["model"]
    assert later["tags"] == [{"key": "stage", "value": "prod"}]
    assert [v["name"] for v in later["versions"]["nodes"]] == ["V2", "V1"]
    assert later["latestVersion"]["name"] == "V2"

    now = (await api.gql(MODEL, {"id": model_id, "asOf": datetime.now(UTC).isoformat()}))["model"]
    assert now["deleted"] is True and now["versionCount"] == 0
    assert (await api.gql(MODEL, {"id": model_id}))["model"] is None
    nothing = await api.gql(MODEL, {"id": model_id, "asOf": before_anything.isoformat()})
    assert nothing["model"] is None

    v1_then = await api.gql(VERSION_AS_OF, {"id": v1_id, "asOf": with_v1.isoformat()})
    assert v1_then["modelVersion"]["name"] == "V1"
    assert v1_then["modelVersion"]["model"]["tags"] == [{"key": "stage", "value": "dev"}]


async def test_as_of_needs_a_time_zone(api: Api) -> None:
    response = await api.post(MODEL, {"name": "m", "asOf": "2026-01-01T00:00:00"})
    assert "time zone" in response.json()["errors"][0]["message"]
    response = await api.post(MODEL, {"name": "m", "asOf": "yesterday"})
    assert response.json()["errors"]
