"""Bad inputs found by fuzzing: each is answered with a union error, a GraphQL error the
caller can read, or a 4xx; never a masked internal error."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLError

from app.graphql.schema import _should_mask
from domain.errors import NotFound, ValidationError
from tests.e2e.conftest import Api
from tests.e2e.queries import EDIT_TAGS, IMPORT_MODEL, MODEL, model_input
from tests.e2e.serving_helpers import PUBLISH, SERVICE, V1, model_with_versions, wait_status
from tests.e2e.test_s3_imports import IMPORT, _put
from tests.e2e.test_uploads import ONNX_BYTES, _zip, import_upload
from tests.integration.s3_server import S3Server
from tests.unit.package_builders import WEIGHTS_BYTES, onnx_model

# Unicode's Bidi_Control set, then other characters that cannot be seen.
BIDI_CONTROLS = [
    "\u061c",
    "\u200e",
    "\u200f",
    *(chr(c) for c in range(0x202A, 0x202F)),
    *(chr(c) for c in range(0x2066, 0x206A)),
]
INVISIBLE = ["\x01", "\x85", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u2028"]

CREATE_TOKEN = """
mutation($name: String!) { createApiToken(name: $name, role: VIEWER) {
  __typename ... on Error { message } ... on ValidationError { field } } }"""


def assert_not_masked(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    for error in body.get("errors") or ():
        assert "Internal error" not in error["message"], body
        assert "requestId" not in (error.get("extensions") or {}), body
    return body


async def test_a_lookup_by_a_name_with_a_control_character_finds_nothing(api: Api) -> None:
    response = await api.post('query { model(name: "a\\u0001b") { id } }')
    assert assert_not_masked(response) == {"data": {"model": None}}
    for variables in (
        {"name": "a\x01b"},
        {"name": "a\u202eb"},
        {"name": "a\x01b", "asOf": "2030-01-01T00:00:00Z"},
        {"name": "", "asOf": "2030-01-01T00:00:00Z"},
    ):
        body = assert_not_masked(await api.post(MODEL, variables))
        assert body == {"data": {"model": None}}, variables


async def test_names_with_controls_or_invisible_characters_are_refused(api: Api) -> None:
    plain = (await api.gql(IMPORT_MODEL, {"input": model_input("plain")}))["importModel"]
    for char in INVISIBLE + BIDI_CONTROLS:
        name = f"evil{char}name"
        model = (await api.gql(IMPORT_MODEL, {"input": model_input(name)}))["importModel"]
        assert model["__typename"] == "ValidationError", model
        assert model["field"] == "name" and f"U+{ord(char):04X}" in model["message"], model

        token = (await api.gql(CREATE_TOKEN, {"name": name}))["createApiToken"]
        assert token["__typename"] == "ValidationError" and token["field"] == "name", token

        for tag in ({"key": name, "value": "v"}, {"key": "k", "value": name}):
            edited = await api.gql(EDIT_TAGS, {"modelId": plain["model"]["id"], "tags": [tag]})
            assert edited["editModelTags"]["__typename"] == "ValidationError", edited


UPLOAD_AS_VARIABLE = """
mutation($file: Upload) {
  importModel(input: {name: "m", version: {format: ONNX, files: {upload: $file}}}) {
    __typename
  }
}"""


async def test_an_upload_sent_as_a_json_string_is_a_variable_error(api: Api) -> None:
    before = await api.container.store.last_position()
    for value in ("hello", 12, {"filename": "model.onnx", "read": "x"}):
        body = assert_not_masked(await api.post(UPLOAD_AS_VARIABLE, {"file": value}))
        assert body["data"] is None, body
        (error,) = body["errors"]
        assert error["message"].startswith("Variable '$file' "), error
        assert "invalid value" in error["message"], error
        assert "multipart" in error["message"], error
    literal = 'mutation { importModel(input: {name: "m", version: {format: ONNX,'
    literal += ' files: {upload: "x"}}}) { __typename } }'
    body = assert_not_masked(await api.post(literal))
    assert "multipart" in body["errors"][0]["message"], body
    assert await api.container.store.last_position() == before


async def test_a_zip_entry_path_too_long_for_the_file_system_is_refused(api: Api) -> None:
    deep = "/".join(["d" * 250] * 17)[: 4081 - len("/x.txt")] + "/x.txt"
    assert len(deep.encode()) == 4081
    for i, (name, problem) in enumerate(
        ((deep, "longer than"), ("a/" + "x" * 256 + ".txt", "255 bytes"))
    ):
        package = _zip({"model.onnx": ONNX_BYTES, name: b"x"})
        result = await import_upload(api, f"long{i}", "package.zip", package)
        assert result["__typename"] == "ImportFailed", result
        assert problem in result["message"] and "entry" in result["message"], result
    assert await api.container.storage.list("") == []


async def test_invisible_characters_in_uploaded_file_names_are_refused(api: Api) -> None:
    for i, char in enumerate(BIDI_CONTROLS + INVISIBLE):
        name = f"model{char}xnnx.onnx"
        single = await import_upload(api, "single", name, ONNX_BYTES)
        assert single["__typename"] == "ValidationError", single
        assert f"U+{ord(char):04X}" in single["message"], single

        package = _zip({"model.onnx": ONNX_BYTES, f"notes/read{char}me.txt": b"x"})
        archived = await import_upload(api, f"archived{i}", "package.zip", package)
        assert archived["__typename"] == "ImportFailed", archived
        assert f"U+{ord(char):04X}" in archived["message"], archived
    assert await api.container.storage.list("") == []


async def test_invisible_characters_in_object_storage_keys_are_refused(
    s3_api: Api, s3_server: S3Server, s3_bucket: str
) -> None:
    await _put(s3_server, s3_bucket, {"run/model.onnx": ONNX_BYTES, "run/evil\u202etxt.exe": b"x"})
    before = await s3_api.container.store.last_position()
    variables = {
        "input": model_input(
            "s3", version={"format": "ONNX", "files": {"uri": f"s3://{s3_bucket}/run"}}
        )
    }
    result = (await s3_api.gql(IMPORT, variables))["importModel"]
    assert result["__typename"] == "ValidationError", result
    assert "U+202E" in result["message"] and "evil" in result["message"], result
    assert await s3_api.container.store.last_position() == before


CREATE_JOB = """
mutation($input: BatchJobInput!) { createBatchJob(input: $input) {
  __typename ... on BatchJobPayload { job { id } }
  ... on Error { message } ... on ValidationError { field } } }"""

UPDATE_JOB = """
mutation($id: ID!, $output: String) { updateBatchJob(jobId: $id, outputUri: $output) {
  __typename ... on Error { message } ... on ValidationError { field } } }"""


async def test_batch_locations_that_overlap_or_cannot_be_read_are_refused_at_creation(
    api: Api,
) -> None:
    _, (version,) = await model_with_versions(api, "linear", V1)

    async def create(source: str, target: str) -> Any:
        job = {
            "name": "score",
            "versionId": version,
            "inputUri": source,
            "inputFormat": "CSV",
            "outputUri": target,
            "outputFormat": "JSONL",
        }
        return (await api.gql(CREATE_JOB, {"input": job}))["createBatchJob"]

    for source, target, field in (
        ("S3://bucket/data/", "s3://bucket/data", "outputUri"),
        ("s3://bucket/data", "s3://bucket/data/scores", "outputUri"),
        ("s3://bucket/data//", "s3://bucket/scores", "inputUri"),
        ("s3://bucket/data/", "S3://bucket/data/scores/", "outputUri"),
        ("s3://bucket/out/in.csv", "S3://bucket/out/", "outputUri"),
        ("file:///etc/passwd", "s3://bucket/out", "inputUri"),
        ("http://169.254.169.254/latest", "s3://bucket/out", "inputUri"),
        ("s3://bucket/in.csv", "file:///tmp/out", "outputUri"),
        ("bucket/in.csv", "s3://bucket/out", "inputUri"),
    ):
        refused = await create(source, target)
        assert refused["__typename"] == "ValidationError", (source, target, refused)
        assert refused["field"] == field, (source, target, refused)

    job = await create("s3://bucket/data/in.csv", "s3://bucket/scores")
    assert job["__typename"] == "BatchJobPayload", job
    job_id = job["job"]["id"]
    for target in ("s3://bucket/data/in.csv/", "S3://bucket/data/in.csv/parts", "gs://b/x"):
        refused = (await api.gql(UPDATE_JOB, {"id": job_id, "output": target}))["updateBatchJob"]
        assert refused["__typename"] == "ValidationError", (target, refused)
        assert refused["field"] == "outputUri", (target, refused)


# An absolute path: a slash that starts a word (not one inside a URL or a relative name).
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/[\w.-]+/")


def assert_no_server_path(text: str, data_dir: Path) -> None:
    assert str(data_dir) not in text, text
    assert not ABSOLUTE_PATH.search(text), text


async def test_the_onnx_checker_is_quoted_without_server_paths(api: Api) -> None:
    # The checker names the external data file by its path in the import's work folder.
    model = onnx_model(external="weights.bin/").SerializeToString()
    package = _zip({"model.onnx": model, "weights.bin": WEIGHTS_BYTES})
    result = await import_upload(api, "external", "package.zip", package)
    assert result["__typename"] == "ImportFailed", result
    assert "ONNX checker" in result["message"] and "weights.bin" in result["message"], result
    assert_no_server_path(result["message"], api.container.settings.data_dir)
    assert_no_server_path(result["version"]["failure"], api.container.settings.data_dir)


async def test_a_version_that_fails_to_load_is_reported_without_server_paths(api: Api) -> None:
    # The checks pass it; onnxruntime refuses the opset, naming the file in the cache.
    model = onnx_model()
    model.opset_import[0].version = 9999
    _, (version_id,) = await model_with_versions(api, "future", model.SerializeToString())
    published = await api.gql(PUBLISH, {"name": "future", "versions": [{"versionId": version_id}]})
    service_id = published["publishService"]["service"]["id"]
    await wait_status(api, service_id, "FAILED")
    service = (await api.gql(SERVICE, {"id": service_id}))["service"]
    assert "V1 failed to load" in service["statusReason"], service
    assert "model.onnx" in service["statusReason"], service
    assert_no_server_path(service["statusReason"], api.container.settings.data_dir)
    history = await api.gql(
        "query($id: ID!) { history(aggregateId: $id) { nodes { type payload } } }",
        {"id": service_id},
    )
    (failed,) = [e for e in history["history"]["nodes"] if e["type"] == "VersionFailed"]
    assert "model.onnx" in failed["payload"]["reason"], failed
    assert_no_server_path(failed["payload"]["reason"], api.container.settings.data_dir)


EXPECTED_FAILURES = [
    ("query { nope }", None),  # GraphQL validation
    ('query { model(id: "x", name: "y") { id } }', None),  # argument validation
    ('query { model(id: "not-an-id") { id } }', None),
    ("query($n: Int!) { models(first: $n) { nodes { id } } }", {"n": "many"}),  # variables
    (UPLOAD_AS_VARIABLE, {"file": "hello"}),
    (
        'mutation { deleteModel(modelId: "00000000-0000-0000-0000-000000000000") { __typename } }',
        None,
    ),  # a union error: NotFound
]


async def test_expected_errors_are_not_logged_as_tracebacks(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for query, variables in EXPECTED_FAILURES:
        assert_not_masked(await api.post(query, variables))
    denied = await api.post(  # a permission error
        'mutation { createApiToken(name: "t", role: ADMIN) { __typename } }', token=api.viewer
    )
    assert "errors" in assert_not_masked(denied)
    logged = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert logged == [], [(r.name, r.getMessage()) for r in logged]


async def test_an_unexpected_error_is_logged_once_with_its_request_id(
    api: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("app.graphql.models.queries.list_models", broken)
    caplog.set_level(logging.DEBUG)
    response = await api.client.post(
        "/graphql",
        json={"query": "query { models { nodes { id } } }"},
        headers={"Authorization": f"Bearer {api.viewer}", "X-Request-Id": "fuzz-42"},
    )
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"requestId": "fuzz-42"}, error
    assert "a bug" not in error["message"]
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1, [(r.name, r.getMessage()) for r in tracebacks]
    assert "fuzz-42" in tracebacks[0].getMessage()
    assert tracebacks[0].levelno == logging.ERROR
    exc_info = tracebacks[0].exc_info
    assert exc_info is not None and isinstance(exc_info[1], RuntimeError)


def test_domain_errors_reaching_graphql_are_expected_and_shown() -> None:
    for expected in (NotFound("model", "m"), ValidationError("name", "bad"), GraphQLError("x")):
        assert not _should_mask(GraphQLError(str(expected), original_error=expected))
    assert _should_mask(GraphQLError("a bug", original_error=RuntimeError("a bug")))


async def test_a_subscription_sent_over_http_is_refused_with_where_to_send_it(api: Api) -> None:
    # Executed as a query, it failed inside its resolver: a masked internal error.
    query = "subscription { events { cursor } }"
    answers = [
        await api.post(query),
        await api.client.get(  # through strawberry's view
            "/graphql", params={"query": query}, headers={"Authorization": f"Bearer {api.admin}"}
        ),
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert "open a websocket to /graphql" in answer.text, answer.text
