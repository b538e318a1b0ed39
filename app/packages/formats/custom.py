"""A custom runtime: ``model_service.py`` and ``config.json`` at the package root.

The script is parsed, never imported or run (it is user code and runs only in the serving
worker's sandbox): it must be valid Python defining a class with a ``predict`` method. The
config must follow :mod:`app.packages.service_config`.
"""

from __future__ import annotations

import ast

from app.packages.inventory import Package
from app.packages.problems import Problem
from app.packages.service_config import read_service_config

SCRIPT = "model_service.py"
CONFIG = "config.json"


def check_custom(package: Package) -> list[Problem]:
    return _check_script(package) + _check_config(package)


def _missing(package: Package, name: str, what: str) -> Problem:
    elsewhere = package.called(name)
    where = f" (found {', '.join(elsewhere)}; it must be at the root)" if elsewhere else ""
    return Problem("", f"a custom runtime needs {what} {name} at the package root{where}")


def _check_script(package: Package) -> list[Problem]:
    if SCRIPT not in package.files:
        return [_missing(package, SCRIPT, "the inference script")]
    source = package.path(SCRIPT).read_bytes()
    try:
        tree = ast.parse(source, filename=SCRIPT)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return [Problem(SCRIPT, f"is not valid Python: {exc.msg}{where}")]
    except ValueError as exc:  # NUL bytes, on some Python versions
        return [Problem(SCRIPT, f"is not valid Python: {exc}")]
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
            isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == "predict"
            for item in node.body
        ):
            return []
    return [Problem(SCRIPT, "defines no class with a predict method")]


def _check_config(package: Package) -> list[Problem]:
    if CONFIG not in package.files:
        return [_missing(package, CONFIG, "the service config")]
    _, problems = read_service_config(package.path(CONFIG))
    return [Problem(CONFIG, message) for message in problems]
