"""config.json as tensor specs, shared by the custom, TorchScript and frozen-graph runtimes."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.serving.runtimes.base import RuntimeFailure, ServiceConfig, TensorSpec, read_config
from tests.unit.runtimes.builders import tensor, write_config


def test_types_map_to_v2_datatypes(tmp_path: Path) -> None:
    kinds = ["float32", "float64", "int32", "int64", "bool", "string", "bytes", "image"]
    write_config(
        tmp_path,
        {
            "inputs": [tensor(f"in_{kind}", kind, [-1]) for kind in kinds],
            "outputs": [tensor("y", "float32", [-1, 3])],
            "batch": {"max_batch_size": 4},
        },
    )
    config = read_config(tmp_path)
    assert config == ServiceConfig(
        inputs=[
            TensorSpec(f"in_{kind}", datatype, (-1,))
            for kind, datatype in zip(
                kinds,
                ["FP32", "FP64", "INT32", "INT64", "BOOL", "BYTES", "BYTES", "BYTES"],
                strict=True,
            )
        ],
        outputs=[TensorSpec("y", "FP32", (-1, 3))],
        batch={"max_batch_size": 4},
    )


def test_no_config_is_none_and_an_invalid_one_lists_its_problems(tmp_path: Path) -> None:
    assert read_config(tmp_path) is None
    write_config(tmp_path, {"inputs": [], "extra": 1})
    with pytest.raises(RuntimeFailure) as caught:
        read_config(tmp_path)
    assert caught.value.message.startswith("config.json is invalid: ")
    assert "'outputs' is required" in caught.value.message
    assert "unknown key 'extra'" in caught.value.message
