"""Services and files: re-uploaded files go live on updateService; a custom
model_service.py package is served through the same path as built-in runtimes."""

from __future__ import annotations

import io
import json
import textwrap
import zipfile

import numpy as np

from tests.e2e.conftest import Api
from tests.e2e.serving_helpers import V1, V2, model_with_versions, predict, publish, wait_status
from tests.e2e.test_uploads import import_upload, upload

ONES = {"instances": [[1, 1, 1, 1]]}
REUPLOAD = """
mutation($id: ID!, $files: FilesInput!) { reuploadModelVersionFiles(versionId: $id, files: $files)
  { __typename ... on Error { message } } }"""
UPDATE = """
mutation($id: ID!) { updateService(serviceId: $id) {
  __typename ... on ServicePayload { service { revision deployments { fileRevision } } } } }"""


async def test_reuploaded_files_go_live_on_update(api: Api) -> None:
    _, versions = await model_with_versions(api, "re", V1)
    service_id, key = await publish(api, "re-svc", [{"versionId": versions[0]}])
    response = await upload(
        api,
        REUPLOAD,
        {"id": versions[0], "files": {"upload": None}},
        "files.upload",
        "model.onnx",
        V2,
    )
    assert response.json()["data"]["reuploadModelVersionFiles"]["__typename"] == "VersionPayload"
    # pending files do not serve until the update
    assert (await predict(api, "re-svc", key, ONES)).json() == {"predictions": [[10.5]]}
    updated = (await api.gql(UPDATE, {"id": service_id}))["updateService"]
    assert updated["service"]["deployments"] == [{"fileRevision": 2}]
    await wait_status(api, service_id, "RUNNING", revision=2)
    assert (await predict(api, "re-svc", key, ONES)).json() == {"predictions": [[8.0]]}


SERVICE_PY = textwrap.dedent(
    """
    import os
    import numpy as np

    class Linear:
        def __init__(self, model_dir):
            with open(os.path.join(model_dir, "weights.pt"), "rb") as handle:
                self.w = np.load(handle, allow_pickle=False)

        def preprocess(self, inputs):
            return np.asarray(inputs["x"], dtype=np.float64)

        def predict(self, x):
            return x @ self.w + 1.0

        def postprocess(self, y):
            return {"y": y.reshape(-1, 1)}
    """
)
CONFIG = {
    "inputs": [{"name": "x", "type": "float32", "shape": [-1, 2]}],
    "outputs": [{"name": "y", "type": "float64", "shape": [-1, 1]}],
}


def custom_package() -> bytes:
    weights = io.BytesIO()
    np.save(weights, np.array([10.0, 100.0]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model_service.py", SERVICE_PY)
        archive.writestr("config.json", json.dumps(CONFIG))
        archive.writestr("weights.pt", weights.getvalue())
    return buffer.getvalue()


async def test_a_custom_model_service_is_served(api: Api) -> None:
    imported = await import_upload(api, "custom", "package.zip", custom_package(), fmt="PYTORCH")
    assert imported["__typename"] == "ImportSuccess", imported
    assert imported["version"]["source"]["kind"] == "upload"
    version = imported["version"]["id"]
    service_id, key = await publish(api, "custom-svc", [{"versionId": version}])
    answer = await predict(api, "custom-svc", key, {"instances": [[1, 2], [0, 1]]})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": [[211.0], [101.0]]}
    wrong = await predict(api, "custom-svc", key, {"instances": [[1, 2, 3]]})
    assert wrong.status_code == 400 and "'x'" in wrong.json()["error"]
    tested = await api.gql(
        "mutation($id: ID!, $p: JSON!) { testService(serviceId: $id, payload: $p) {"
        " ... on TestServiceSuccess { response statusCode } } }",
        {"id": service_id, "p": {"instances": [[1, 1]]}},
    )
    assert tested["testService"] == {"response": {"predictions": [[111.0]]}, "statusCode": 200}
