"""Where the optimized model file sits in an optimized version's package.

The package is the source package plus this one file; the version records it as its model
file, so the built-in runtimes load it, and a custom ``model_service.py`` can look for it.
"""

from __future__ import annotations

from domain.formats import ModelFormat

OPTIMIZED_FILES: dict[ModelFormat, str] = {
    ModelFormat.ONNX: "optimized/model.onnx",
    ModelFormat.TORCHSCRIPT: "optimized/model.pt",
}


def optimized_file(model_format: str) -> str:
    return OPTIMIZED_FILES[ModelFormat(model_format)]
