"""A deployed version's inputs (name, datatype, shape, image or not) from the data plane's
loaded runtime: a tabular model, a 4-D (image) tensor, a custom package declaring an image
input, and null when nothing is loaded here."""

from __future__ import annotations

import io
import json
import textwrap
import zipfile
from datetime import UTC, datetime
from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tests.e2e.conftest import Api
from tests.e2e.serving_helpers import V1, model_with_versions, publish
from tests.e2e.test_uploads import import_upload

INPUTS = """
query($id: ID!, $asOf: DateTime) {
  service(id: $id, asOf: $asOf) {
    status deployments { versionNumber inputs { name datatype shape image } }
  }
}"""


def image_onnx() -> bytes:
    """The mean of a [batch, 3, 2, 2] image tensor."""
    weights = np.full((12, 1), 1 / 12, dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["pixels"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "W"], ["mean"]),
        ],
        "image-mean",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 3, 2, 2])],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(weights, name="W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def image_package() -> bytes:
    """A custom model_service.py whose config.json declares an image input."""
    service = textwrap.dedent(
        """
        import numpy as np

        class Sizes:
            def __init__(self, model_dir):
                pass

            def predict(self, photo):
                return {"size": np.asarray([[len(p)] for p in photo], dtype=np.int64)}
        """
    )
    config = {
        "inputs": [
            {"name": "photo", "type": "image", "shape": [-1]},
            {"name": "scale", "type": "float32", "shape": [-1, 1]},
        ],
        "outputs": [{"name": "size", "type": "int64", "shape": [-1, 1]}],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model_service.py", service)
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("weights.pt", b"\x00")
    return buffer.getvalue()


async def _inputs(api: Api, service_id: str, **variables: Any) -> Any:
    service = (await api.gql(INPUTS, {"id": service_id, **variables}))["service"]
    return [d["inputs"] for d in service["deployments"]]


async def test_a_tabular_model_has_no_image_input(api: Api) -> None:
    _, versions = await model_with_versions(api, "linear", V1)
    service_id, _ = await publish(api, "linear-svc", [{"versionId": versions[0]}])
    assert await _inputs(api, service_id) == [
        [{"name": "x", "datatype": "FP32", "shape": [-1, 4], "image": False}]
    ]
    # the past is never loaded: asOf views have no inputs
    now = datetime.now(UTC).isoformat()
    assert await _inputs(api, service_id, asOf=now) == [None]

    stopped = await api.gql(
        "mutation($id: ID!) { stopService(serviceId: $id) { __typename } }", {"id": service_id}
    )
    assert stopped["stopService"]["__typename"] == "ServicePayload"
    assert await _inputs(api, service_id) == [None]  # nothing is loaded any more


async def test_a_4d_tensor_is_an_image_input(api: Api) -> None:
    _, versions = await model_with_versions(api, "pixels", image_onnx())
    service_id, _ = await publish(api, "pixels-svc", [{"versionId": versions[0]}])
    assert await _inputs(api, service_id) == [
        [{"name": "pixels", "datatype": "FP32", "shape": [-1, 3, 2, 2], "image": True}]
    ]


async def test_a_custom_package_declares_its_image_input(api: Api) -> None:
    imported = await import_upload(api, "photos", "package.zip", image_package(), fmt="PYTORCH")
    assert imported["__typename"] == "ImportSuccess", imported
    service_id, _ = await publish(api, "photos-svc", [{"versionId": imported["version"]["id"]}])
    assert await _inputs(api, service_id) == [
        [
            {"name": "photo", "datatype": "BYTES", "shape": [-1], "image": True},
            {"name": "scale", "datatype": "FP32", "shape": [-1, 1], "image": False},
        ]
    ]
