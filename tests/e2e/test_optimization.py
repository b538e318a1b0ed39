"""Optimization end to end: a job makes a version in the OPTIMIZED list with a report, the
version serves through the same path, bad requests are refused before any work, and two
jobs on one version at once both finish with distinct versions."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from app.adapters.event_store.port import EventMeta
from app.services.models import VersionSpec
from tests.e2e.conftest import Api
from tests.e2e.serving_helpers import model_with_versions, predict, publish
from tests.e2e.test_uploads import import_upload
from tests.unit.package_builders import torch_net_files

OPTIMIZE = """
mutation($versionId: ID!, $methods: [OptimizationMethod!]!, $example: JSON,
         $maxAbsDiff: Float, $target: String) {
  optimizeModelVersion(versionId: $versionId, methods: $methods, exampleInput: $example,
                       maxAbsDiff: $maxAbsDiff, targetModel: $target, samples: 16, repeats: 5) {
    __typename
    ... on OptimizationJobPayload { job { id status methods targetModel resultFormat } }
    ... on Error { message }
    ... on ValidationError { field }
  }
}"""

JOB = """
query($id: ID!) {
  optimizationJob(id: $id) {
    id status progress reason methods log { at message }
    report { latencyP50MsBefore latencyP50MsAfter speedup sizeBefore sizeAfter samples
             batchSize input maxAbsDiff top1Agreement classifierOutput }
    sourceVersion { id }
    resultVersion {
      id name format model { name list }
      optimizedFrom { id }
      optimizationReport { speedup top1Agreement }
      files { path }
    }
  }
}"""

SOURCE = """
query($id: ID!) { modelVersion(id: $id) { optimizations { id name } } }"""

OPTIMIZED_MODELS = """
query { models(list: OPTIMIZED) { nodes { name versionCount } } }"""

META = EventMeta(actor="test")


def classifier_onnx(seed: int = 0) -> bytes:
    """scores = relu(x @ W1) @ W2, x: [batch, 32] -> [batch, 4]."""
    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array(rng.normal(scale=0.2, size=(32, 128)).astype(np.float32), "W1")
    w2 = numpy_helper.from_array(rng.normal(scale=0.2, size=(128, 4)).astype(np.float32), "W2")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W1"], ["h"]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("MatMul", ["r", "W2"], ["scores"]),
        ],
        "classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 32])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 4])],
        [w1, w2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


async def optimize(api: Api, version_id: str, methods: list[str], **extra: Any) -> Any:
    variables = {"versionId": version_id, "methods": methods, **extra}
    return (await api.gql(OPTIMIZE, variables))["optimizeModelVersion"]


async def job(api: Api, job_id: str) -> Any:
    return (await api.gql(JOB, {"id": job_id}))["optimizationJob"]


async def test_an_optimization_makes_a_served_version_in_the_optimized_list(api: Api) -> None:
    _, (source,) = await model_with_versions(api, "mlp", classifier_onnx())
    started = await optimize(api, source, ["ONNX_GRAPH_BASIC", "ONNX_INT8_DYNAMIC"])
    assert started["__typename"] == "OptimizationJobPayload", started
    assert started["job"]["status"] == "PENDING"
    assert started["job"]["targetModel"] == "mlp-optimized"

    assert await api.container.optimization_worker.tick() == 1
    done = await job(api, started["job"]["id"])
    assert done["status"] == "SUCCEEDED", done["reason"]
    assert done["progress"] == 1.0
    messages = [line["message"] for line in done["log"]]
    assert messages[0].startswith("ONNX_GRAPH_BASIC") and any("int8" in m for m in messages)
    report = done["report"]
    assert report["input"] == "generated" and report["samples"] == 16
    assert report["latencyP50MsBefore"] > 0 and report["latencyP50MsAfter"] > 0
    assert report["classifierOutput"] == "scores" and 0 <= report["top1Agreement"] <= 1
    assert report["sizeAfter"] < report["sizeBefore"]
    assert 0 < report["maxAbsDiff"] < 0.2
    result = done["resultVersion"]
    assert result["model"] == {"name": "mlp-optimized", "list": "OPTIMIZED"}
    assert result["optimizedFrom"]["id"] == source
    assert result["optimizationReport"]["speedup"] == report["speedup"]
    assert {f["path"] for f in result["files"]} == {"model.onnx", "optimized/model.onnx"}
    linked = (await api.gql(SOURCE, {"id": source}))["modelVersion"]["optimizations"]
    assert [v["id"] for v in linked] == [result["id"]]
    models = (await api.gql(OPTIMIZED_MODELS))["models"]["nodes"]
    assert models == [{"name": "mlp-optimized", "versionCount": 1}]

    # Published like any version, it serves the optimized file (int8: close, not equal).
    x = np.random.default_rng(5).normal(size=(3, 32)).astype(np.float32).tolist()
    answers = []
    for name, version in (("plain", source), ("fast", result["id"])):
        _, key = await publish(api, name, [{"versionId": version}])
        response = await predict(api, name, key, {"instances": x})
        assert response.status_code == 200, response.text
        answers.append(np.array(response.json()["predictions"]))
    assert answers[0].shape == answers[1].shape == (3, 4)
    assert not np.array_equal(answers[0], answers[1])  # the quantized model answered
    assert np.abs(answers[0] - answers[1]).max() < 0.2


async def test_a_crossed_threshold_fails_the_job_with_its_report(api: Api) -> None:
    _, (source,) = await model_with_versions(api, "mlp", classifier_onnx())
    started = await optimize(api, source, ["ONNX_FP16"], maxAbsDiff=0.0)
    await api.container.optimization_worker.tick()
    done = await job(api, started["job"]["id"])
    assert done["status"] == "FAILED"
    assert "max absolute difference" in done["reason"] and "> 0" in done["reason"]
    assert done["report"]["maxAbsDiff"] > 0 and done["resultVersion"] is None
    assert (await api.gql(OPTIMIZED_MODELS))["models"]["nodes"] == []


async def test_bad_requests_are_refused_before_any_work(api: Api) -> None:
    model_id, (source,) = await model_with_versions(api, "mlp", classifier_onnx())

    wrong = await optimize(api, source, ["TORCHSCRIPT_FREEZE"])
    assert wrong["__typename"] == "ValidationError" and wrong["field"] == "methods"
    assert "TORCHSCRIPT" in wrong["message"] and "ONNX" in wrong["message"]
    twice = await optimize(api, source, ["ONNX_INT8_DYNAMIC", "ONNX_FP16"])
    assert twice["__typename"] == "ValidationError" and twice["field"] == "methods"

    shape = await optimize(api, source, ["ONNX_INT8_DYNAMIC"], example=[[1.0, 2.0, 3.0]])
    assert shape["__typename"] == "ValidationError" and shape["field"] == "exampleInput"
    assert "[1, 3]" in shape["message"] and "[-1, 32]" in shape["message"]
    ragged = await optimize(api, source, ["ONNX_INT8_DYNAMIC"], example=[[1.0], [1.0, 2.0]])
    assert ragged["__typename"] == "ValidationError" and ragged["field"] == "exampleInput"

    failed = await import_upload(api, "broken", "model.onnx", b"not a model")
    assert failed["__typename"] == "ImportFailed", failed
    refused = await optimize(api, failed["version"]["id"], ["ONNX_INT8_DYNAMIC"])
    assert refused["__typename"] == "InvalidState" and "failed" in refused["message"]

    models = api.container.models
    _, importing = await models.import_version(
        model_id, VersionSpec("ONNX", source={"kind": "upload", "uri": "x.onnx"}), meta=META
    )
    busy = await optimize(api, str(importing.id), ["ONNX_INT8_DYNAMIC"])
    assert busy["__typename"] == "InvalidState" and "importing" in busy["message"]

    _, metadata = await models.import_version(model_id, VersionSpec("ONNX"), meta=META)
    empty = await optimize(api, str(metadata.id), ["ONNX_INT8_DYNAMIC"])
    assert empty["__typename"] == "InvalidState" and "without files" in empty["message"]

    await models.delete_version(source, meta=META)
    gone = await optimize(api, source, ["ONNX_INT8_DYNAMIC"])
    assert gone["__typename"] == "AlreadyDeleted"

    jobs = await api.gql("{ optimizationJobs { nodes { id } } }")
    assert jobs["optimizationJobs"]["nodes"] == []  # nothing was started
    assert await api.container.optimization_worker.tick() == 0


async def test_two_optimizations_of_one_version_at_once_make_two_versions(api: Api) -> None:
    _, (source,) = await model_with_versions(api, "mlp", classifier_onnx())
    first = await optimize(api, source, ["ONNX_INT8_DYNAMIC"])
    second = await optimize(api, source, ["ONNX_GRAPH_EXTENDED"])
    assert await api.container.optimization_worker.tick() == 2  # run together
    results = [await job(api, s["job"]["id"]) for s in (first, second)]
    assert [r["status"] for r in results] == ["SUCCEEDED", "SUCCEEDED"]
    versions = {r["resultVersion"]["id"] for r in results}
    assert len(versions) == 2
    assert sorted(r["resultVersion"]["name"] for r in results) == ["V1", "V2"]
    models = (await api.gql(OPTIMIZED_MODELS))["models"]["nodes"]
    assert models == [{"name": "mlp-optimized", "versionCount": 2}]
    # No lost events: every log line the read model shows is a Progressed event in the log.
    for started, result in zip((first, second), results, strict=True):
        history = await api.gql(
            "query($id: ID!) { history(aggregateId: $id) { nodes { type } } }",
            {"id": started["job"]["id"]},
        )
        types = [n["type"] for n in history["history"]["nodes"]]
        assert types[:2] == ["Requested", "Started"] and types[-1] == "Succeeded"
        assert types.count("Progressed") == len(result["log"])
    linked = (await api.gql(SOURCE, {"id": source}))["modelVersion"]["optimizations"]
    assert {v["id"] for v in linked} == versions


VERSION = """
query($id: ID!) { modelVersion(id: $id) { format runtime model { list } } }"""


def pytorch_package() -> bytes:
    """A PyTorch native package: model_service.py builds the network and loads its state."""
    pytest.importorskip("torch")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in torch_net_files().items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def test_a_pytorch_model_exported_to_onnx_serves_its_answers(api: Api) -> None:
    imported = await import_upload(api, "net", "package.zip", pytorch_package(), fmt="PYTORCH")
    assert imported["__typename"] == "ImportSuccess", imported
    source = imported["version"]["id"]
    x = np.random.default_rng(3).normal(size=(4, 6)).round(3).tolist()
    # The model is built by user code, so a wrong shape is found in the export's process.
    wrong = await optimize(api, source, ["PYTORCH_EXPORT_ONNX"], example={"x": [[1.0, 2.0]]})
    started = await optimize(api, source, ["PYTORCH_EXPORT_ONNX"], example={"x": x})
    assert wrong["__typename"] == started["__typename"] == "OptimizationJobPayload", started
    assert started["job"]["resultFormat"] == "ONNX"

    assert await api.container.optimization_worker.tick() == 2
    refused = await job(api, wrong["job"]["id"])
    assert refused["status"] == "FAILED" and refused["resultVersion"] is None
    assert "does not fit the model" in refused["reason"], refused["reason"]
    assert "[1, 2]" in refused["reason"] or "1x2" in refused["reason"], refused["reason"]
    done = await job(api, started["job"]["id"])
    assert done["status"] == "SUCCEEDED", done["reason"]
    report = done["report"]
    assert report["input"] == "given" and report["batchSize"] == 4 and report["samples"] == 16
    assert report["top1Agreement"] == 1.0 and report["maxAbsDiff"] < 1e-5
    result = done["resultVersion"]
    assert result["optimizedFrom"]["id"] == source and result["format"] == "ONNX"
    assert {f["path"] for f in result["files"]} == {
        "model_service.py",
        "config.json",
        "weights.pt",
        "optimized/model.onnx",
    }
    shown = (await api.gql(VERSION, {"id": result["id"]}))["modelVersion"]
    assert shown == {"format": "ONNX", "runtime": "onnxruntime", "model": {"list": "OPTIMIZED"}}

    # The exported version serves through onnxruntime what the source serves through its
    # model_service.py.
    answers = []
    for name, version in (("eager", source), ("exported", result["id"])):
        _, key = await publish(api, name, [{"versionId": version}])
        response = await predict(api, name, key, {"instances": x})
        assert response.status_code == 200, response.text
        answers.append(np.array(response.json()["predictions"]))
    assert answers[1].shape == (4, 3)
    np.testing.assert_allclose(answers[1].sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(answers[0], answers[1], atol=1e-5)
