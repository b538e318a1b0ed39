"""Checking a version's package before the version becomes READY.

Files are judged by their content, not their names, and every problem is reported, not just
the first. Nothing is imported, run or unpickled: model files are parsed as data (protobuf,
XML, zip directories) or judged by name and size alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.packages.formats.custom import check_custom
from app.packages.formats.onnx_model import check_onnx
from app.packages.formats.pmml import check_pmml
from app.packages.formats.pytorch import check_torchscript, check_weights
from app.packages.formats.tensorflow_graphs import check_frozen_graph, check_saved_model
from app.packages.inventory import Package, scan
from app.packages.problems import Problem
from app.packages.redact import without_paths
from domain.formats import CUSTOM_RUNTIME, ModelFormat

Check = Callable[[Package], list[Problem]]

MODEL_CHECKS: dict[ModelFormat, Check] = {
    ModelFormat.SAVED_MODEL: check_saved_model,
    ModelFormat.FROZEN_GRAPH: check_frozen_graph,
    ModelFormat.TORCHSCRIPT: check_torchscript,
    ModelFormat.DETECTRON2: check_weights,
    ModelFormat.PYTORCH: check_weights,
    ModelFormat.PMML: check_pmml,
    ModelFormat.ONNX: check_onnx,
    ModelFormat.MMDETECTION: check_weights,
}


def check_package(root: Path, model_format: ModelFormat, runtime: str) -> list[Problem]:
    """Every problem with the package in ``root`` for a version of ``model_format`` run by
    ``runtime`` (a resolved runtime name, see :func:`domain.formats.resolve_runtime`).

    An empty list means the package is fine. With the ``custom`` runtime the package also
    needs ``model_service.py`` and ``config.json``; a container image runtime (``image:…``)
    brings its own server, so it needs only the model files. Messages name files relative
    to ``root``, never by a server path. Blocking: run it in a thread.
    """
    package, problems = scan(root)
    if not package.files:
        return [*problems, Problem("", "the package is empty")]
    problems += MODEL_CHECKS[model_format](package)
    if runtime == CUSTOM_RUNTIME:
        problems += check_custom(package)
    # Parsers and checkers name files by their full path in the work folder.
    return [Problem(p.path, without_paths(p.message, [root])) for p in problems]
