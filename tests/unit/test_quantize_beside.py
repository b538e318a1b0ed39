"""int8 quantization writes nothing beside its source: the source lives in the shared
package cache, where another job may be listing the files at the same moment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx.shape_inference
import pytest

from app.optimize.onnx_methods import quantize_int8
from tests.e2e.serving_helpers import linear_onnx


def test_int8_writes_only_its_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, work = tmp_path / "cache", tmp_path / "work"
    cache.mkdir()
    work.mkdir()
    source = cache / "model.onnx"
    source.write_bytes(linear_onnx([1, 2, 3, 4], 0.5))
    written: list[Path] = []
    infer = onnx.shape_inference.infer_shapes_path

    def recorded(model_path: str, output_path: str = "", *args: Any, **kwargs: Any) -> None:
        written.append(Path(output_path or model_path))
        infer(model_path, output_path, *args, **kwargs)

    monkeypatch.setattr(onnx.shape_inference, "infer_shapes_path", recorded)
    quantize_int8(source, work / "int8.onnx")
    assert (work / "int8.onnx").stat().st_size > 0
    assert sorted(p.name for p in cache.iterdir()) == ["model.onnx"]
    assert all(cache not in p.parents for p in written), written
