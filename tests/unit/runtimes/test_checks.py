"""What Runtime.predict checks for every runtime before its own infer runs."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from app.serving.errors import ServingError
from app.serving.runtimes.base import Batch, NotLoaded, Runtime, RuntimeFailure, TensorSpec


class Doubling(Runtime):
    """Two inputs; answers their sum doubled, and counts the batches it was given."""

    name: ClassVar[str] = "doubling"

    def __init__(self, package: Path) -> None:
        super().__init__(package)
        self.ready = False
        self.given: list[Batch] = []

    async def load(self) -> None:
        self.inputs = [TensorSpec("a", "FP64", (-1,)), TensorSpec("b", "FP64", (-1,))]
        self.outputs = [TensorSpec("y", "FP64", (-1,))]
        self.ready = True

    @property
    def loaded(self) -> bool:
        return self.ready

    async def infer(self, batch: Batch) -> Batch:
        self.given.append(batch)
        return {"y": (batch["a"] + batch["b"]) * 2}

    async def unload(self) -> None:
        self.ready = False
        await super().unload()


async def test_a_loaded_runtime_answers(tmp_path: Path) -> None:
    runtime = Doubling(tmp_path)
    await runtime.load()
    result = await runtime.predict({"a": np.array([1.0]), "b": np.array([2.0])})
    assert result["y"].tolist() == [6.0]


async def test_before_load_and_after_unload_it_is_unavailable(tmp_path: Path) -> None:
    runtime = Doubling(tmp_path)
    batch = {"a": np.array([1.0]), "b": np.array([2.0])}
    with pytest.raises(NotLoaded) as before:
        await runtime.predict(batch)
    await runtime.load()
    await runtime.unload()
    with pytest.raises(NotLoaded) as after:
        await runtime.predict(batch)
    for caught in (before, after):
        assert isinstance(caught.value, RuntimeFailure) and isinstance(caught.value, ServingError)
        assert (caught.value.status, caught.value.message) == (503, "the model is not loaded")
    assert runtime.given == []


async def test_a_missing_input_is_a_client_error_named_before_infer(tmp_path: Path) -> None:
    runtime = Doubling(tmp_path)
    await runtime.load()
    with pytest.raises(RuntimeFailure) as caught:
        await runtime.predict({"a": np.array([1.0]), "z": np.array([2.0])})
    assert (caught.value.status, caught.value.message) == (400, "the input 'b' is missing")
    assert runtime.given == []
