"""Model formats and the runtimes that can execute them."""

from __future__ import annotations

from enum import StrEnum

from domain.errors import ValidationError


class ModelFormat(StrEnum):
    SAVED_MODEL = "SAVED_MODEL"
    FROZEN_GRAPH = "FROZEN_GRAPH"
    TORCHSCRIPT = "TORCHSCRIPT"
    DETECTRON2 = "DETECTRON2"
    PYTORCH = "PYTORCH"
    PMML = "PMML"
    ONNX = "ONNX"
    MMDETECTION = "MMDETECTION"


CUSTOM_RUNTIME = "custom"
IMAGE_PREFIX = "image:"

# The built-in runtime of each format; formats without one are served by a custom
# inference script (model_service.py).
BUILTIN_RUNTIME: dict[ModelFormat, str] = {
    ModelFormat.SAVED_MODEL: "tensorflow",
    ModelFormat.FROZEN_GRAPH: "tensorflow",
    ModelFormat.TORCHSCRIPT: "torchscript",
    ModelFormat.PMML: "pmml",
    ModelFormat.ONNX: "onnxruntime",
}

DEFAULT_FRAMEWORK: dict[ModelFormat, str] = {
    ModelFormat.SAVED_MODEL: "TensorFlow",
    ModelFormat.FROZEN_GRAPH: "TensorFlow",
    ModelFormat.TORCHSCRIPT: "PyTorch",
    ModelFormat.DETECTRON2: "PyTorch",
    ModelFormat.PYTORCH: "PyTorch",
    ModelFormat.PMML: "PMML",
    ModelFormat.ONNX: "ONNX",
    ModelFormat.MMDETECTION: "PyTorch",
}


def resolve_runtime(model_format: ModelFormat, runtime: str | None) -> str:
    """The runtime name for a version: the format's built-in one by default, ``custom``
    for a model_service.py script, or ``image:<reference>`` for a container image."""
    builtin = BUILTIN_RUNTIME.get(model_format)
    requested = (runtime or "").strip()
    if not requested:
        return builtin or CUSTOM_RUNTIME
    if requested == CUSTOM_RUNTIME:
        return requested
    if requested.startswith(IMAGE_PREFIX):
        reference = requested.removeprefix(IMAGE_PREFIX).strip()
        if not reference or len(reference) > 255 or any(c.isspace() for c in reference):
            raise ValidationError("runtime", "an image runtime needs a reference: image:<ref>")
        return IMAGE_PREFIX + reference
    if requested == builtin:
        return requested
    allowed = ", ".join(x for x in (builtin, CUSTOM_RUNTIME, "image:<ref>") if x)
    raise ValidationError(
        "runtime", f"{requested!r} cannot run {model_format.value} models; use one of: {allowed}"
    )
