"""Tokens, roles, and the limits that keep hostile queries out."""

from __future__ import annotations

from tests.e2e.conftest import Api
from tests.e2e.queries import IMPORT_MODEL, MODELS, model_input

ME = "{ me { name role } }"


async def test_missing_invalid_and_revoked_tokens_get_401(api: Api) -> None:
    missing = await api.post(ME, token=None)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "authentication required" in missing.json()["errors"][0]["message"]

    for bad in ("mr_not-a-real-token", "garbage", "Bearer"):
        response = await api.client.post(
            "/graphql", json={"query": ME}, headers={"Authorization": bad}
        )
        assert response.status_code == 401, bad

    created = await api.gql(
        'mutation { createApiToken(name: "temp", role: EDITOR) {'
        " ... on CreatedApiToken { secret token { id role } } } }"
    )
    secret = created["createApiToken"]["secret"]
    token_id = created["createApiToken"]["token"]["id"]
    assert (await api.gql(ME, token=secret))["me"] == {"name": "temp", "role": "EDITOR"}
    revoked = await api.gql(
        'mutation($id: ID!) { revokeApiToken(id: $id, reason: "leaked") {'
        " __typename ... on ApiToken { revoked } } }",
        {"id": token_id},
    )
    assert revoked["revokeApiToken"] == {"__typename": "ApiToken", "revoked": True}
    assert (await api.post(ME, token=secret)).status_code == 401
    again = await api.gql(
        "mutation($id: ID!) { revokeApiToken(id: $id) { __typename } }", {"id": token_id}
    )
    assert again["revokeApiToken"]["__typename"] == "AlreadyDeleted"


async def test_bare_and_bearer_authorization_headers_both_work(api: Api) -> None:
    for header in (f"Bearer {api.viewer}", api.viewer, f"bearer  {api.viewer}"):
        response = await api.client.post(
            "/graphql", json={"query": ME}, headers={"Authorization": header}
        )
        assert response.status_code == 200, header


async def test_roles(api: Api) -> None:
    mutation = IMPORT_MODEL
    viewer = await api.post(mutation, {"input": model_input("m")}, token=api.viewer)
    assert viewer.status_code == 200
    assert "needs the editor role" in viewer.json()["errors"][0]["message"]
    assert not [e for e in await api.container.store.read_log() if "Model" in e.topic]
    assert (await api.gql(MODELS, token=api.viewer))["models"]["edges"] == []

    editor = await api.gql(mutation, {"input": model_input("m")}, token=api.editor)
    assert editor["importModel"]["__typename"] == "ImportSuccess"
    tokens = await api.post("{ apiTokens { name } }", token=api.editor)
    assert "needs the admin role" in tokens.json()["errors"][0]["message"]
    listed = await api.gql("{ apiTokens { name role revoked } }")
    assert {t["name"] for t in listed["apiTokens"]} == {
        "admin-token",
        "editor-token",
        "viewer-token",
    }


async def test_every_event_records_its_actor_and_request_id(api: Api) -> None:
    await api.client.post(
        "/graphql",
        json={"query": IMPORT_MODEL, "variables": {"input": model_input("m")}},
        headers={"Authorization": f"Bearer {api.editor}", "X-Request-ID": "req-42"},
    )
    events = [e for e in await api.container.store.read_log() if "ApiToken" not in e.topic]
    assert events
    assert {(e.meta.actor, e.meta.request_id) for e in events} == {("editor-token", "req-42")}


async def test_graphiql_page_loads_without_a_token(api: Api) -> None:
    response = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()
    query_by_get = await api.client.get(
        "/graphql", params={"query": ME}, headers={"Accept": "text/html"}
    )
    assert query_by_get.status_code == 401


async def test_other_methods_on_graphql_get_405(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.admin}"}
    for method in ("PUT", "DELETE", "PATCH"):
        response = await api.client.request(method, "/graphql", headers=headers, json={})
        assert response.status_code == 405, method
        assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


async def test_a_depth_50_query_is_refused(api: Api) -> None:
    inner = "id"
    for _ in range(16):  # model + 16 x (versions, nodes, model) + id: depth 50
        inner = f"versions {{ nodes {{ model {{ {inner} }} }} }}"
    query = f'{{ model(name: "x") {{ {inner} }} }}'
    response = await api.post(query)
    assert response.status_code == 200
    message = response.json()["errors"][0]["message"]
    assert "exceeds maximum operation depth" in message


async def test_ten_thousand_aliases_are_refused(api: Api) -> None:
    query = "{ " + " ".join(f"a{i}: me {{ name }}" for i in range(10_000)) + " }"
    response = await api.post(query)
    assert response.status_code == 200
    messages = " ".join(e["message"] for e in response.json()["errors"])
    # (188 kB: refused for its size, before it is parsed)
    assert "bytes long" in messages or "token" in messages.lower() or "alias" in messages.lower()


async def test_too_many_aliases_within_the_token_limit_are_refused(api: Api) -> None:
    query = "{ " + " ".join(f"a{i}: me {{ name }}" for i in range(40)) + " }"
    response = await api.post(query)
    assert "aliases" in response.json()["errors"][0]["message"].lower()


async def test_circular_fragments_are_refused(api: Api) -> None:
    query = """
    query { me { ...A } }
    fragment A on ApiToken { name ...B }
    fragment B on ApiToken { role ...A }
    """
    response = await api.post(query)
    assert response.status_code == 200
    messages = " ".join(e["message"] for e in response.json()["errors"])
    assert "Cannot spread fragment" in messages


async def test_a_2mb_body_gets_413(api: Api) -> None:
    padding = " " * (2 * 1024 * 1024)
    response = await api.post("{ me { name } }" + padding)
    assert response.status_code == 413
    assert "larger than" in response.json()["errors"][0]["message"]


async def test_unexpected_errors_are_masked_with_a_request_id(api: Api) -> None:
    await api.container.db.fetch("SELECT 1")  # the database works ...
    await api.container.db.script(["DROP TABLE rm_models"])  # ... until a read model is gone
    response = await api.client.post(
        "/graphql",
        json={"query": "{ models { edges { cursor } } }"},
        headers={"Authorization": f"Bearer {api.viewer}", "X-Request-ID": "trace-me"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-me"
    message = response.json()["errors"][0]["message"]
    assert message.startswith("Internal error (request id trace-me)")
    assert "rm_models" not in message
