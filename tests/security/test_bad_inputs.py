"""Bad inputs found by fuzzing: each is answered with a union error, a GraphQL error the
caller can read, or a 4xx; never a masked internal error."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import Api
from tests.e2e.queries import EDIT_TAGS, IMPORT_MODEL, MODEL, model_input

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
