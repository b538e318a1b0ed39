"""Tiny ONNX models with known answers, and helpers to publish and call services."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tests.e2e.conftest import Api
from tests.e2e.test_uploads import import_upload, upload

PUBLISH = """
mutation($name: String!, $versions: [DeployVersionInput!]!) {
  publishService(name: $name, versions: $versions) {
    __typename
    ... on ServiceWithKey { accessKey service { id name hostId status revision } }
    ... on Error { message }
  }
}"""

SERVICE = """
query($id: ID!) {
  service(id: $id) {
    id name status statusReason revision hostId endpoint
    deployments { versionId versionNumber trafficPercent instances fileRevision }
    revisions { revision kind restoredRevision deployments { versionNumber trafficPercent } }
  }
}"""

IMPORT_VERSION = """
mutation($modelId: ID!, $version: VersionInput!) {
  importModelVersion(modelId: $modelId, version: $version) {
    __typename ... on ImportSuccess { version { id number } } ... on Error { message }
  }
}"""


def linear_onnx(weights: list[float], bias: float) -> bytes:
    """y = x @ weights + bias, x of shape [batch, len(weights)]."""
    w = numpy_helper.from_array(np.array(weights, dtype=np.float32).reshape(-1, 1), name="W")
    b = numpy_helper.from_array(np.array([bias], dtype=np.float32), name="B")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "B"], ["y"]),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", len(weights)])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        [w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


V1 = linear_onnx([1, 2, 3, 4], 0.5)  # [1, 1, 1, 1] -> 10.5
V2 = linear_onnx([2, 2, 2, 2], 0.0)  # [1, 1, 1, 1] -> 8.0


async def model_with_versions(api: Api, name: str, *packages: bytes) -> tuple[str, list[str]]:
    """A model whose versions are the given ONNX files; returns its id and version ids."""
    first = await import_upload(api, name, "model.onnx", packages[0])
    assert first["__typename"] == "ImportSuccess", first
    model_id = first["model"]["id"]
    version_ids = [first["version"]["id"]]
    for package in packages[1:]:
        response = await upload(
            api,
            IMPORT_VERSION,
            {"modelId": model_id, "version": {"format": "ONNX", "files": {"upload": None}}},
            "version.files.upload",
            "model.onnx",
            package,
        )
        result = response.json()["data"]["importModelVersion"]
        assert result["__typename"] == "ImportSuccess", result
        version_ids.append(result["version"]["id"])
    return model_id, version_ids


async def publish(api: Api, name: str, versions: list[dict[str, Any]]) -> tuple[str, str]:
    """Publish and wait until RUNNING; returns the service id and its access key."""
    result = (await api.gql(PUBLISH, {"name": name, "versions": versions}))["publishService"]
    assert result["__typename"] == "ServiceWithKey", result
    service_id = result["service"]["id"]
    await wait_status(api, service_id, "RUNNING")
    return service_id, result["accessKey"]


async def wait_status(api: Api, service_id: str, status: str, revision: int | None = None) -> Any:
    for _ in range(300):
        service = (await api.gql(SERVICE, {"id": service_id}))["service"]
        if service["status"] == status and (revision is None or service["revision"] == revision):
            return service
        await asyncio.sleep(0.05)
    raise AssertionError(f"service never became {status}: {service}")


async def predict(api: Api, name: str, key: str | None, body: Any, **headers: str) -> Any:
    sent = dict(headers)
    if key is not None:
        sent["Authorization"] = key
    return await api.client.post(f"/v1/models/{name}:predict", json=body, headers=sent)
