"""ONNX optimizers: onnxruntime's offline graph optimization, int8 dynamic quantization
(weights int8, activations quantized at run time) and fp16 conversion (inputs and outputs
stay float32). Each reads one model file and writes another; blocking (run in a thread)."""

from __future__ import annotations

import logging
from pathlib import Path

from domain.optimization import Method

LEVELS = {
    Method.ONNX_GRAPH_BASIC: "ORT_ENABLE_BASIC",
    Method.ONNX_GRAPH_EXTENDED: "ORT_ENABLE_EXTENDED",
    Method.ONNX_GRAPH_ALL: "ORT_ENABLE_ALL",
}


def optimize_graph(source: Path, target: Path, method: Method) -> str:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = getattr(onnxruntime.GraphOptimizationLevel, LEVELS[method])
    options.optimized_model_filepath = str(target)
    options.log_severity_level = 3
    onnxruntime.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    note = " (hardware-specific fusions: serve it on the same kind of CPU)"
    return f"onnxruntime graph optimization {LEVELS[method]}" + (
        note if method == Method.ONNX_GRAPH_ALL else ""
    )


def quantize_int8(source: Path, target: Path) -> str:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer logs advice through the root logger at WARNING; it is not ours to show.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        # Given a path, the quantizer writes its shape-inferred copy beside the source, in
        # the shared package cache, where another job may be listing the files; given the
        # model, it uses a temporary directory of its own.
        model = onnx.load(str(source))
        quantize_dynamic(model, str(target), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return "int8 dynamic quantization (weights QInt8, activations at run time)"


def to_fp16(source: Path, target: Path) -> str:
    import onnx
    from onnxruntime.transformers import float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = float16.convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    # The converter inserts input casts after the nodes that use them.
    wrapped = OnnxModel(model)
    wrapped.topological_sort()
    onnx.save(wrapped.model, str(target))
    return "fp16 conversion (inputs and outputs stay float32)"
