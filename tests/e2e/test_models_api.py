"""Models and versions through HTTP GraphQL: the happy paths and every bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.conftest import Api
from tests.e2e.queries import (
    DELETE_MODEL,
    DELETE_VERSION,
    EDIT_TAGS,
    IMPORT_MODEL,
    IMPORT_VERSION,
    MODEL,
    MODELS,
    UPDATE_DESCRIPTION,
    model_input,
    version,
)

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def _import(api: Api, name: str, **extra: Any) -> dict[str, Any]:
    data = await api.gql(IMPORT_MODEL, {"input": model_input(name, **extra)})
    result: dict[str, Any] = data["importModel"]
    return result


async def _model_count(api: Api) -> int:
    data = await api.gql(MODELS, {"first": 100})
    return len(data["models"]["edges"])


async def test_import_model_creates_v1_and_is_readable_at_once(api: Api) -> None:
    result = await _import(
        api,
        "  ResNet-50 ",
        description="image classifier",
        tags=[{"key": "team", "value": "cv"}],
        version=version("ONNX", framework="PyTorch 2.3", metrics=[{"name": "acc", "value": 0.91}]),
    )
    assert result["__typename"] == "ImportSuccess"
    model, v1 = result["model"], result["version"]
    assert model["name"] == "ResNet-50" and model["versionCount"] == 1
    assert model["tags"] == [{"key": "team", "value": "cv"}]
    assert (v1["name"], v1["runtime"], v1["status"]) == ("V1", "onnxruntime", "READY")
    assert v1["metrics"] == [{"name": "acc", "value": 0.91}]

    # read-your-writes: the very next query sees it
    found = await api.gql(MODEL, {"name": "resnet-50"})
    assert found["model"]["id"] == model["id"]
    assert found["model"]["versions"]["nodes"][0]["model"]["name"] == "ResNet-50"


async def test_versions_are_numbered_and_listed_newest_first(api: Api) -> None:
    model_id = (await _import(api, "m"))["model"]["id"]
    for fmt in ("ONNX", "TORCHSCRIPT", "PMML"):
        result = await api.gql(IMPORT_VERSION, {"modelId": model_id, "version": version(fmt)})
        assert result["importModelVersion"]["__typename"] == "ImportSuccess"
    found = await api.gql(MODEL, {"id": model_id})
    names = [v["name"] for v in found["model"]["versions"]["nodes"]]
    assert names == ["V4", "V3", "V2", "V1"]
    assert found["model"]["latestVersion"]["name"] == "V4"


async def test_fifty_concurrent_version_imports_give_v1_to_v50(api: Api) -> None:
    model_id = (await _import(api, "busy"))["model"]["id"]
    results = await asyncio.gather(
        *(api.gql(IMPORT_VERSION, {"modelId": model_id, "version": version()}) for _ in range(49))
    )
    numbers = sorted(r["importModelVersion"]["version"]["number"] for r in results)
    assert numbers == list(range(2, 51))
    found = await api.gql(MODEL, {"id": model_id})
    assert found["model"]["versionCount"] == 50


async def test_list_filters_and_pagination(api: Api) -> None:
    for i in range(5):
        await _import(api, f"model-{i}", tags=[{"key": "idx", "value": str(i % 2)}])
    await api.gql(
        IMPORT_MODEL,
        {"input": {"name": "torchy", "version": version("TORCHSCRIPT")}},
    )
    await api.gql(IMPORT_MODEL, {"input": {**model_input("opt"), "list": "OPTIMIZED"}})

    page1 = (await api.gql(MODELS, {"first": 4}))["models"]
    assert [e["node"]["name"] for e in page1["edges"]] == [
        "model-0",
        "model-1",
        "model-2",
        "model-3",
    ]
    assert page1["pageInfo"]["hasNextPage"] is True
    page2 = (await api.gql(MODELS, {"first": 4, "after": page1["pageInfo"]["endCursor"]}))["models"]
    assert [e["node"]["name"] for e in page2["edges"]] == ["model-4", "torchy"]
    assert page2["pageInfo"]["hasNextPage"] is False

    searched = (await api.gql(MODELS, {"search": "MODEL-"}))["models"]["edges"]
    assert len(searched) == 5
    tagged = (await api.gql(MODELS, {"tags": [{"key": "idx", "value": "1"}]}))["models"]["edges"]
    assert [e["node"]["name"] for e in tagged] == ["model-1", "model-3"]
    torch = (await api.gql(MODELS, {"format": "TORCHSCRIPT"}))["models"]["edges"]
    assert [e["node"]["name"] for e in torch] == ["torchy"]
    optimized = (await api.gql(MODELS, {"list": "OPTIMIZED"}))["models"]["edges"]
    assert [e["node"]["name"] for e in optimized] == ["opt"]
    wildcard = (await api.gql(MODELS, {"search": "%"}))["models"]["edges"]
    assert wildcard == []


async def test_edit_tags_and_description(api: Api) -> None:
    model_id = (await _import(api, "m", tags=[{"key": "a", "value": "1"}]))["model"]["id"]
    edited = await api.gql(
        EDIT_TAGS,
        {"modelId": model_id, "tags": [{"key": "b", "value": ""}, {"key": "c", "value": "3"}]},
    )
    assert edited["editModelTags"]["model"]["tags"] == [
        {"key": "b", "value": ""},
        {"key": "c", "value": "3"},
    ]
    described = await api.gql(UPDATE_DESCRIPTION, {"modelId": model_id, "description": " new "})
    assert described["updateModelDescription"]["model"]["description"] == "new"
    tagged = (await api.gql(MODELS, {"tags": [{"key": "a", "value": "1"}]}))["models"]["edges"]
    assert tagged == []


async def test_delete_version_and_model(api: Api) -> None:
    result = await _import(api, "m")
    model_id, v1_id = result["model"]["id"], result["version"]["id"]
    await api.gql(IMPORT_VERSION, {"modelId": model_id, "version": version()})
    deleted = await api.gql(DELETE_VERSION, {"versionId": v1_id})
    assert deleted["deleteModelVersion"]["model"]["versionCount"] == 1
    v3 = await api.gql(IMPORT_VERSION, {"modelId": model_id, "version": version()})
    assert v3["importModelVersion"]["version"]["name"] == "V3"

    gone = await api.gql(DELETE_MODEL, {"modelId": model_id, "reason": "retired"})
    assert gone["deleteModel"] == {
        "__typename": "DeleteModelSuccess",
        "deletedModelId": model_id,
        "deletedVersions": 2,
    }
    assert (await api.gql(MODEL, {"id": model_id}))["model"] is None
    assert await _model_count(api) == 0
    # the name is free again
    assert (await _import(api, "M"))["__typename"] == "ImportSuccess"


@pytest.mark.parametrize(
    ("name", "extra", "typename", "needle"),
    [
        ("", {}, "ValidationError", "empty"),
        ("   ", {}, "ValidationError", "empty"),
        ("x" * 65, {}, "ValidationError", "at most 64"),
        (
            "ok",
            {"tags": [{"key": f"k{i}", "value": "v"} for i in range(51)]},
            "ValidationError",
            "at most 50",
        ),
        ("ok", {"tags": [{"key": "", "value": "v"}]}, "ValidationError", "1-127"),
        ("ok", {"tags": [{"key": "k", "value": "v" * 256}]}, "ValidationError", "255"),
        (
            "ok",
            {"tags": [{"key": "k", "value": "1"}, {"key": "k", "value": "2"}]},
            "ValidationError",
            "twice",
        ),
        ("ok", {"version": version(runtime="pmml")}, "ValidationError", "cannot run ONNX"),
        (
            "ok",
            {"version": version(metrics=[{"name": "a", "value": 1}, {"name": "a", "value": 2}])},
            "ValidationError",
            "twice",
        ),
    ],
)
async def test_bad_imports_give_clear_errors_and_change_nothing(
    api: Api, name: str, extra: dict[str, Any], typename: str, needle: str
) -> None:
    before = await api.container.store.last_position()
    result = await _import(api, name, **extra)
    assert result["__typename"] == typename
    assert needle in result["message"]
    assert await api.container.store.last_position() == before


@pytest.mark.parametrize("other", ["taken", "TAKEN", "  Taken  "])
async def test_duplicate_names_are_refused(api: Api, other: str) -> None:
    await _import(api, "Taken")
    before = await api.container.store.last_position()
    result = await _import(api, other)
    assert result["__typename"] == "NameTaken"
    assert "'Taken' already exists" in result["message"]
    assert await api.container.store.last_position() == before


async def test_non_string_tag_values_are_refused_by_the_schema(api: Api) -> None:
    response = await api.post(
        'mutation { importModel(input: {name: "x", tags: [{key: "k", value: 5}],'
        " version: {format: ONNX}}) { __typename } }"
    )
    assert response.status_code == 200
    assert "String cannot represent a non string value" in response.json()["errors"][0]["message"]
    response = await api.post(
        IMPORT_MODEL, {"input": model_input("x", tags=[{"key": "k", "value": 5}])}
    )
    assert "errors" in response.json()
    assert await _model_count(api) == 0


async def test_unknown_and_malformed_ids(api: Api) -> None:
    unknown = await api.gql(IMPORT_VERSION, {"modelId": UNKNOWN, "version": version()})
    assert unknown["importModelVersion"]["__typename"] == "NotFound"
    malformed = await api.gql(DELETE_MODEL, {"modelId": "nope"})
    assert malformed["deleteModel"]["__typename"] == "ValidationError"
    assert "not a valid id" in malformed["deleteModel"]["message"]
    assert (await api.gql(MODEL, {"id": UNKNOWN}))["model"] is None
    response = await api.post(MODEL, {"id": "nope"})
    assert "not a valid id" in response.json()["errors"][0]["message"]
    response = await api.post(MODEL, {})
    assert "exactly one of id and name" in response.json()["errors"][0]["message"]
    response = await api.post(MODELS, {"after": "!!garbage"})
    assert "invalid cursor" in response.json()["errors"][0]["message"]
    response = await api.post(MODELS, {"first": 1000})
    assert "between 1 and 100" in response.json()["errors"][0]["message"]


async def test_deleted_things_cannot_be_changed(api: Api) -> None:
    result = await _import(api, "m")
    model_id, v1_id = result["model"]["id"], result["version"]["id"]
    await api.gql(DELETE_VERSION, {"versionId": v1_id})
    again = await api.gql(DELETE_VERSION, {"versionId": v1_id})
    assert again["deleteModelVersion"]["__typename"] == "AlreadyDeleted"
    await api.gql(DELETE_MODEL, {"modelId": model_id})
    before = await api.container.store.last_position()
    edited = await api.gql(EDIT_TAGS, {"modelId": model_id, "tags": []})
    assert edited["editModelTags"]["__typename"] == "AlreadyDeleted"
    described = await api.gql(UPDATE_DESCRIPTION, {"modelId": model_id, "description": "x"})
    assert described["updateModelDescription"]["__typename"] == "AlreadyDeleted"
    imported = await api.gql(IMPORT_VERSION, {"modelId": model_id, "version": version()})
    assert imported["importModelVersion"]["__typename"] == "AlreadyDeleted"
    deleted = await api.gql(DELETE_MODEL, {"modelId": model_id})
    assert deleted["deleteModel"]["__typename"] == "AlreadyDeleted"
    assert await api.container.store.last_position() == before
