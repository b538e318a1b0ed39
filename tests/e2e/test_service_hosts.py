"""Host routing: `<host id>.<domain>` names a service whatever the case of the id (proxies
may lower-case a Host), and only under the configured service domains when there are any."""

from __future__ import annotations

import re

import pydantic
import pytest

from app.services.keys import new_host_id
from app.settings import Settings
from tests.e2e.conftest import Api, open_api
from tests.e2e.serving_helpers import SERVICE, V1, model_with_versions, publish

ONES = {"instances": [[1, 1, 1, 1]]}
ANSWER = {"predictions": [[10.5]]}


async def _served(api: Api) -> tuple[str, str]:
    """A service's key and host id."""
    _, versions = await model_with_versions(api, "linear", V1)
    service_id, key = await publish(api, "hosted", [{"versionId": versions[0]}])
    service = (await api.gql(SERVICE, {"id": service_id}))["service"]
    return key, str(service["hostId"])


async def _by_host(api: Api, key: str, host: str) -> tuple[int, object]:
    response = await api.client.post(
        "/v1/models/m:predict", json=ONES, headers={"Authorization": key, "Host": host}
    )
    return response.status_code, response.json()


def test_new_host_ids_are_one_lower_case_dns_label() -> None:
    ids = {new_host_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[a-z2-7]{26}", host_id) for host_id in ids)


async def test_a_host_id_matches_in_any_case(api: Api) -> None:
    key, host_id = await _served(api)
    assert host_id == host_id.lower()
    for label in (host_id, host_id.upper(), host_id[:5].upper() + host_id[5:]):
        for host in (f"{label}.models.example.com", f"{label}.Models.Example.COM:8000"):
            assert await _by_host(api, key, host) == (200, ANSWER), host


async def test_an_old_mixed_case_host_id_matches_in_any_case(api: Api) -> None:
    key, host_id = await _served(api)
    # A service published before host ids were lower case keeps its mixed-case id.
    old_id = "e1wBicDrTaWAQ4D3gRQFOA"
    async with api.container.db.transaction() as tx:
        await tx.execute(
            "UPDATE rm_services SET host_id = $1, position = position + 1 WHERE host_id = $2",
            old_id,
            host_id,
        )
    await api.container.serving.reconcile()
    for label in (old_id, old_id.lower(), old_id.upper()):
        assert await _by_host(api, key, f"{label}.models.example.com") == (200, ANSWER)


async def test_service_domains_limit_host_routing(settings: Settings) -> None:
    only = settings.model_copy(update={"service_domains": "models.example.com, ML.internal."})
    async with open_api(only) as api:
        key, host_id = await _served(api)
        for host in (f"{host_id}.models.example.com", f"{host_id.upper()}.ml.INTERNAL:443"):
            assert await _by_host(api, key, host) == (200, ANSWER), host
        # Another domain: the Host does not name a service, the path's name is used.
        status, body = await _by_host(api, key, f"{host_id}.elsewhere.com")
        assert (status, body) == (404, {"error": "no service named 'm'"})


@pytest.mark.parametrize("value", ["models.example.com/x", "a..b", "-bad.com", "a b.com"])
def test_a_bad_service_domain_is_refused_at_start(value: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="is not a DNS name"):
        Settings(service_domains=value)
