"""A store written before NameClaim (names claimed by ModelName and ServiceName) opened by
this code: its names are still taken, released names can be claimed again, and the asOf
and history views read the old claims."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.settings import Settings
from domain.model import ModelList, name_id
from domain.service import service_name_id
from tests.e2e.conftest import Api, open_api
from tests.e2e.queries import DELETE_MODEL, HISTORY, IMPORT_MODEL, MODEL, model_input
from tests.e2e.serving_helpers import PUBLISH
from tests.old_name_claims import OldStore, write_old_store

SERVICE_AS_OF = "query($name: String, $asOf: DateTime) { service(name: $name, asOf: $asOf) { id } }"
DELETE_SERVICE = "mutation($id: ID!) { deleteService(serviceId: $id) { __typename } }"
RESNET = OldStore.originator("importModel ResNet", "domain.model:Model.Registered")
RESNET_V1 = OldStore.originator("importModel ResNet", "domain.version:ModelVersion.Imported")
THIRD_SVC_A = OldStore.originator(
    "publishService svc-a a third time", "domain.service:Service.Published"
)


@pytest.fixture
async def old_store(settings: Settings) -> OldStore:
    return await write_old_store(settings.resolved_database_url)


@pytest.fixture
async def api(settings: Settings, old_store: OldStore) -> AsyncIterator[Api]:
    async with open_api(settings) as opened:
        yield opened


async def _import(api: Api, name: str, **extra: object) -> dict[str, Any]:
    result: dict[str, Any] = (await api.gql(IMPORT_MODEL, {"input": model_input(name, **extra)}))[
        "importModel"
    ]
    return result


async def _publish(api: Api, name: str) -> dict[str, Any]:
    result: dict[str, Any] = (
        await api.gql(PUBLISH, {"name": name, "versions": [{"versionId": RESNET_V1}]})
    )["publishService"]
    return result


async def test_names_held_in_the_old_store_are_taken(api: Api) -> None:
    taken = await _import(api, "RESNET")
    assert taken["__typename"] == "NameTaken"
    assert "'ResNet' already exists in the original list" in taken["message"]
    optimized = await _import(api, "ResNet", list="OPTIMIZED")
    assert optimized["__typename"] == "NameTaken"
    assert "'resnet' already exists in the optimized list" in optimized["message"]
    service = await _publish(api, "svc-a")
    assert service["__typename"] == "NameTaken"
    assert "a service named 'svc-a' already exists" in service["message"]


async def test_names_released_in_the_old_store_can_be_claimed_again(api: Api) -> None:
    # "gone" was claimed, released, reclaimed and released: loaded from an old snapshot.
    assert (await _import(api, "gone"))["__typename"] == "ImportSuccess"
    again = await _import(api, "Gone")
    assert again["__typename"] == "NameTaken" and "'gone' already exists" in again["message"]


async def test_names_held_in_the_old_store_are_released_and_claimed_again(api: Api) -> None:
    deleted = await api.gql(DELETE_SERVICE, {"id": THIRD_SVC_A})
    assert deleted["deleteService"]["__typename"] == "DeletedService"
    published = await _publish(api, "svc-a")
    assert published["__typename"] == "ServiceWithKey"
    assert (await _publish(api, "svc-a"))["__typename"] == "NameTaken"

    await api.gql(DELETE_SERVICE, {"id": published["service"]["id"]})
    gone = await api.gql(DELETE_MODEL, {"modelId": RESNET})
    assert gone["deleteModel"]["__typename"] == "DeleteModelSuccess"
    assert (await _import(api, "resnet"))["__typename"] == "ImportSuccess"
    taken = await _import(api, "ResNet")
    assert taken["__typename"] == "NameTaken" and "'resnet' already exists" in taken["message"]


async def test_as_of_views_follow_the_old_claims(api: Api, old_store: OldStore) -> None:
    async def model_at(name: str, command: str) -> str | None:
        found = (await api.gql(MODEL, {"name": name, "asOf": at(command)}))["model"]
        return None if found is None else str(found["id"])

    async def service_at(command: str) -> str | None:
        found = (await api.gql(SERVICE_AS_OF, {"name": "svc-a", "asOf": at(command)}))["service"]
        return None if found is None else str(found["id"])

    def at(command: str) -> str:
        return old_store.recorded[command].isoformat()

    def registered(command: str) -> str:
        return OldStore.originator(command, "domain.model:Model.Registered")

    def published(command: str) -> str:
        return OldStore.originator(command, "domain.service:Service.Published")

    assert await model_at("resnet", "importModel ResNet") == RESNET
    assert await model_at("gone", "importModel Gone") == registered("importModel Gone")
    assert await model_at("gone", "deleteModel Gone") is None
    assert await model_at("gone", "importModel GONE") == registered("importModel GONE")
    assert await model_at("gone", "deleteModel GONE") is None
    assert await service_at("publishService svc-a") == published("publishService svc-a")
    assert await service_at("deleteService svc-a") is None
    assert await service_at("publishService svc-a again") == published("publishService svc-a again")
    assert await service_at("deleteService svc-a again") is None
    assert await service_at("publishService svc-a a third time") == THIRD_SVC_A


async def test_history_shows_old_and_new_claim_events(api: Api) -> None:
    imported = await _import(api, "gone")
    claim = str(name_id(ModelList.ORIGINAL, "gone"))
    events = (await api.gql(HISTORY, {"id": claim}))["history"]["nodes"]
    assert [(e["aggregateType"], e["type"]) for e in events] == [
        ("ModelName", "Claimed"),
        ("ModelName", "Released"),
        ("ModelName", "Reclaimed"),
        ("ModelName", "Released"),
        ("NameClaim", "Reclaimed"),
    ]
    assert events[0]["payload"] == {
        "model_list": "ORIGINAL",
        "key": "gone",
        "name": "Gone",
        "model_id": OldStore.originator("importModel Gone", "domain.model:Model.Registered"),
    }
    assert events[-1]["payload"] == {"owner_id": imported["model"]["id"], "name": "gone"}

    service_claim = str(service_name_id("svc-a"))
    service_events = (await api.gql(HISTORY, {"id": service_claim}))["history"]["nodes"]
    assert [e["type"] for e in service_events] == [
        "Claimed",
        "Released",
        "Reclaimed",
        "Released",
        "Reclaimed",
    ]
