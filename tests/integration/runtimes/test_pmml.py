"""The PMML runtime: hand-written PMML models evaluated by JPMML in a JVM (needs Java 17)."""

from __future__ import annotations

import asyncio
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.serving.runtimes.base import RuntimeFailure, RuntimeOptions, TensorSpec
from app.serving.runtimes.pmml import PmmlRuntime, _plain_loads
from tests.integration.runtimes.conftest import child_processes
from tests.unit.runtimes.builders import PMML_CLASSIFIER, PMML_REGRESSION, loaded

pytest.importorskip("jpmml_evaluator")
if shutil.which("java") is None:
    pytest.skip("the PMML runtime needs Java", allow_module_level=True)


def package(root: Path, text: str, name: str = "model.pmml") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(text)
    return root


async def test_a_regression_predicts_known_values(tmp_path: Path) -> None:
    options = RuntimeOptions(cpu_threads=2, memory_limit_mb=256)
    async with loaded(PmmlRuntime(package(tmp_path, PMML_REGRESSION), options)) as runtime:
        assert runtime.inputs == [
            TensorSpec("x1", "FP64", (-1,)),
            TensorSpec("x2", "FP64", (-1,)),
            TensorSpec("color", "BYTES", (-1,)),
        ]
        assert runtime.outputs == [TensorSpec("y", "FP64", (-1,))]
        rows = 64
        x1 = np.arange(rows, dtype=np.float64)
        x2 = np.linspace(-1, 1, rows)
        color = np.array(["red", b"blue"] * (rows // 2), dtype=object)
        result = await runtime.predict({"x1": x1, "x2": x2, "color": color})
        red = np.array([10.0, 0.0] * (rows // 2))
        np.testing.assert_allclose(result["y"], 2 * x1 + 3 * x2 + 1 + red)

        one = await runtime.predict(
            {"x1": np.array([[1.0]]), "x2": np.array([[2.0]]), "color": np.array(["blue"])}
        )
        assert one["y"].tolist() == [9.0]  # 2*1 + 3*2 + 1


async def test_a_missing_value_gives_nan_and_a_bad_category_fails_its_request(
    tmp_path: Path,
) -> None:
    async with loaded(PmmlRuntime(package(tmp_path, PMML_REGRESSION))) as runtime:
        result = await runtime.predict(
            {"x1": np.array([math.nan]), "x2": np.array([1.0]), "color": np.array(["red"])}
        )
        assert math.isnan(result["y"][0])
        with pytest.raises(RuntimeFailure) as caught:
            await runtime.predict(
                {
                    "x1": np.array([1.0, 1.0]),
                    "x2": np.array([1.0, 1.0]),
                    "color": np.array(["red", "green"], dtype=object),
                }
            )
        assert caught.value.status == 400
        assert caught.value.message == 'row 1: Field "color" cannot accept invalid value "green"'
        with pytest.raises(RuntimeFailure, match="the input 'color' is missing"):
            await runtime.predict({"x1": np.array([1.0]), "x2": np.array([1.0])})


async def test_a_classifier_gives_labels_and_probabilities(tmp_path: Path) -> None:
    async with loaded(PmmlRuntime(package(tmp_path, PMML_CLASSIFIER, "scorer.xml"))) as runtime:
        assert runtime.inputs == [TensorSpec("x", "FP64", (-1,)), TensorSpec("n", "INT64", (-1,))]
        assert runtime.outputs == [
            TensorSpec("label", "BYTES", (-1,)),
            TensorSpec("p_yes", "FP64", (-1,)),
        ]
        result = await runtime.predict(
            {"x": np.array([1.0, -5.0]), "n": np.array([1, 2], dtype=np.int64)}
        )
    assert result["label"].tolist() == ["yes", "no"]
    np.testing.assert_allclose(result["p_yes"], 1 / (1 + np.exp(-np.array([2.0, -3.0]))))


async def test_unload_ends_the_jvm(tmp_path: Path) -> None:
    before = child_processes()
    runtime = PmmlRuntime(package(tmp_path, PMML_REGRESSION))
    await runtime.load()
    assert [p for p in child_processes() if p not in before and p.endswith(" java")]
    await runtime.unload()
    await runtime.unload()  # twice is fine
    assert child_processes() == before


async def test_a_load_cancelled_while_the_jvm_starts_ends_the_jvm(tmp_path: Path) -> None:
    before = child_processes()
    runtime = PmmlRuntime(package(tmp_path, PMML_REGRESSION))
    loading = asyncio.create_task(runtime.load())
    for _ in range(500):  # cancel once the JVM runs, while the load is still going on
        if [p for p in child_processes() if p not in before and p.endswith(" java")]:
            break
        await asyncio.sleep(0.01)
    assert not loading.done()
    loading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loading
    for _ in range(1000):  # the thread finishes starting it, then it is ended
        if child_processes() == before:
            break
        await asyncio.sleep(0.02)
    assert child_processes() == before


async def test_an_invalid_document_fails_to_load_and_ends_the_jvm(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure, match=r"cannot load model\.pmml: .*XML") as caught:
        await PmmlRuntime(package(tmp_path, "<PMML>cut")).load()
    assert caught.value.status == 500
    # The autouse fixture checks that no JVM is left.


def test_results_are_read_without_resolving_any_global() -> None:
    import pickle

    assert _plain_loads(pickle.dumps({"data": [[1.5, None, "a"]]}, protocol=2)) == {
        "data": [[1.5, None, "a"]]
    }
    with pytest.raises(pickle.UnpicklingError, match="only values are read"):
        _plain_loads(pickle.dumps(Path("x"), protocol=2))
