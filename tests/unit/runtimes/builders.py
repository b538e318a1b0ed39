"""Tiny real models with known answers, built in tmp_path by the runtime tests."""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from app.serving.runtimes.base import Runtime

# y = x @ W + B for every runtime that can hold weights.
W = np.array([[1.0, -1.0, 0.5], [2.0, 0.0, -0.5]], dtype=np.float32)  # 2 inputs -> 3 outputs
B = np.array([0.5, 1.0, -2.0], dtype=np.float32)


def expected(x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float64) @ W.astype(np.float64) + B).astype(np.float32)


@asynccontextmanager
async def loaded(runtime: Runtime) -> AsyncIterator[Runtime]:
    """The runtime loaded, and unloaded afterwards (even when loading fails midway)."""
    try:
        await runtime.load()
        yield runtime
    finally:
        await runtime.unload()


def write_linear_onnx(path: Path) -> Path:
    """``y = x @ W + B`` (x: FP32 [batch, 2]) and ``best = argmax(y)`` (INT64 [batch])."""
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "B"], ["y"]),
            helper.make_node("ArgMax", ["y"], ["best"], axis=1, keepdims=0),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("best", TensorProto.INT64, ["batch"]),
        ],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def write_config(package: Path, config: dict[str, Any]) -> None:
    package.mkdir(parents=True, exist_ok=True)
    (package / "config.json").write_text(json.dumps(config))


def tensor(name: str, kind: str, shape: list[int]) -> dict[str, Any]:
    return {"name": name, "type": kind, "shape": shape}


def write_service(package: Path, source: str, config: dict[str, Any] | None = None) -> Path:
    """A custom runtime package: ``model_service.py`` and its ``config.json``."""
    package.mkdir(parents=True, exist_ok=True)
    (package / "model_service.py").write_text(textwrap.dedent(source))
    write_config(
        package,
        config
        or {
            "inputs": [tensor("x", "float32", [-1, 2])],
            "outputs": [tensor("y", "float32", [-1, 3])],
        },
    )
    return package


PMML_REGRESSION = """<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header description="y = 2*x1 + 3*x2 + 1, plus 10 when color is red"/>
  <DataDictionary>
    <DataField name="x1" optype="continuous" dataType="double"/>
    <DataField name="x2" optype="continuous" dataType="double"/>
    <DataField name="color" optype="categorical" dataType="string">
      <Value value="red"/><Value value="blue"/>
    </DataField>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <RegressionModel functionName="regression">
    <MiningSchema>
      <MiningField name="x1"/>
      <MiningField name="x2"/>
      <MiningField name="color"/>
      <MiningField name="y" usageType="target"/>
    </MiningSchema>
    <RegressionTable intercept="1">
      <NumericPredictor name="x1" coefficient="2"/>
      <NumericPredictor name="x2" coefficient="3"/>
      <CategoricalPredictor name="color" value="red" coefficient="10"/>
      <CategoricalPredictor name="color" value="blue" coefficient="0"/>
    </RegressionTable>
  </RegressionModel>
</PMML>
"""

PMML_CLASSIFIER = """<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header description="P(yes) = logistic(x + n)"/>
  <DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="n" optype="continuous" dataType="integer"/>
    <DataField name="label" optype="categorical" dataType="string">
      <Value value="yes"/><Value value="no"/>
    </DataField>
  </DataDictionary>
  <RegressionModel functionName="classification" normalizationMethod="logit">
    <MiningSchema>
      <MiningField name="x"/>
      <MiningField name="n"/>
      <MiningField name="label" usageType="target"/>
    </MiningSchema>
    <Output>
      <OutputField name="p_yes" optype="continuous" dataType="double" feature="probability"
                   value="yes"/>
    </Output>
    <RegressionTable intercept="0" targetCategory="yes">
      <NumericPredictor name="x" coefficient="1"/>
      <NumericPredictor name="n" coefficient="1"/>
    </RegressionTable>
    <RegressionTable intercept="0" targetCategory="no"/>
  </RegressionModel>
</PMML>
"""
