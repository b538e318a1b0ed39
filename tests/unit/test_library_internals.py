"""The non-public parts of libraries that our code still relies on, one test each.

pyproject.toml pins these libraries to the minor release the code is tested on; when the
lock moves to another release (``make lock UPGRADE=1``, or a wider range), a test here
fails by the name of the internal that changed, saying which module of ours depends on it.
Then read that part of the library again and adjust our module (or, better, move it onto
the library's public API and delete the test).

A test whose module no longer uses the internal is skipped with a note to delete it, so
that moving a module onto the public API never fails here.

uvicorn's httptools protocol, which app/http_writes.py extends, is checked in
tests/security/test_http_limits.py
(``test_uvicorn_httptools_internals_the_limits_extend_are_unchanged``).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import strawberry

ROOT = Path(__file__).resolve().parents[2]


def relied_on_by(module: str, *names: str) -> str:
    """``module`` (a path under the project) if its source still mentions every one of
    ``names``; the test is skipped otherwise."""
    path = ROOT / module
    source = path.read_text() if path.exists() else ""
    for name in names:
        if name not in source:
            pytest.skip(f"{module} no longer uses {name}: delete this test")
    return module


def changed(library: str, internal: str, module: str, detail: str = "") -> str:
    """The failure message: what changed, who depends on it, what to do."""
    return (
        f"{library} changed {internal}, which {module} relies on{': ' + detail if detail else ''}."
        f" Read {internal} in the installed {library} and adjust {module} (or move it onto"
        f" {library}'s public API), then update this test and the range in pyproject.toml."
    )


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


# --- strawberry-graphql ---------------------------------------------------------------


def test_strawberry_execute_keeps_a_document_set_in_on_parse_and_errors_in_on_validate() -> None:
    module = relied_on_by("app/graphql/schema.py", "graphql_document", "pre_execution_errors")

    from graphql import GraphQLError, parse
    from strawberry.extensions import SchemaExtension

    @strawberry.type
    class Query:
        value: int = 1

    given: dict[str, Any] = {}
    validated: list[object] = []

    class Given(SchemaExtension):
        def on_parse(self) -> Iterator[None]:
            self.execution_context.graphql_document = parse("{ value }")
            yield

        def on_validate(self) -> Iterator[None]:
            if "errors" in given:
                self.execution_context.pre_execution_errors = given["errors"]
            yield
            validated.append(self.execution_context.pre_execution_errors)

    schema = strawberry.Schema(query=Query, extensions=[Given])
    checked = asyncio.run(schema.execute("this text is never parsed", root_value=Query()))
    given["errors"] = []
    answered = asyncio.run(schema.execute("this text is never parsed", root_value=Query()))
    given["errors"] = [GraphQLError("refused")]
    refused = asyncio.run(schema.execute("this text is never parsed", root_value=Query()))
    assert checked.data == answered.data == {"value": 1} and validated[0] == [], changed(
        "strawberry",
        "Schema.execute's use of ExecutionContext.graphql_document set by an extension's"
        " on_parse, and of pre_execution_errors after validation",
        module,
        "QueryLimits parses once per query text and keeps what validation found",
    )
    assert [error.message for error in refused.errors or ()] == ["refused"], changed(
        "strawberry",
        "Schema.execute's use of ExecutionContext.pre_execution_errors set in on_validate",
        module,
    )


def test_strawberry_NameConverter_apply_naming_config_unchanged() -> None:
    module = relied_on_by("app/graphql/schema.py", "apply_naming_config")
    from strawberry.schema.name_converter import NameConverter

    converter = NameConverter()
    assert parameters(NameConverter.apply_naming_config) == ["self", "name"], changed(
        "strawberry", "NameConverter.apply_naming_config(name)", module
    )
    assert converter.apply_naming_config("model_version") == "modelVersion", changed(
        "strawberry", "NameConverter.apply_naming_config", module
    )


def test_strawberry_InvalidOperationTypeError_unchanged() -> None:
    module = relied_on_by("app/graphql/schema.py", "InvalidOperationTypeError")
    from strawberry.schema.exceptions import InvalidOperationTypeError
    from strawberry.types.graphql import OperationType

    error = InvalidOperationTypeError(OperationType.SUBSCRIPTION)
    assert error.operation_type is OperationType.SUBSCRIPTION, changed(
        "strawberry", "InvalidOperationTypeError(operation_type).operation_type", module
    )
    assert parameters(InvalidOperationTypeError.as_http_error_reason) == ["self", "method"], (
        changed("strawberry", "InvalidOperationTypeError.as_http_error_reason(method)", module)
    )


# --- uvicorn -------------------------------------------------------------------------


def test_uvicorn_Server_serve_and_handle_exit_unchanged() -> None:
    module = relied_on_by("app/server.py", "def handle_exit(", "async def serve(")
    import uvicorn

    assert parameters(uvicorn.Server.handle_exit) == ["self", "sig", "frame"], changed(
        "uvicorn", "Server.handle_exit(sig, frame)", module, "DrainingServer overrides it"
    )
    assert parameters(uvicorn.Server.serve) == ["self", "sockets"], changed(
        "uvicorn", "Server.serve(sockets)", module
    )


# --- eventsourcing -------------------------------------------------------------------


def test_eventsourcing_Aggregate_create_unchanged() -> None:
    module = relied_on_by("app/services/batch_jobs.py", "._create(")
    from eventsourcing.domain import Aggregate

    names = parameters(Aggregate._create)
    assert names[:2] == ["event_class", "id"] and names[-1] == "kwargs", changed(
        "eventsourcing",
        "Aggregate._create(event_class, *, id=None, **kwargs)",
        module,
        "a batch run is created with an id derived from its job and time",
    )


# --- jpmml-evaluator ----------------------------------------------------------------


def test_jpmml_evaluator_classpath_and_backend_loads_unchanged() -> None:
    module = relied_on_by("app/serving/runtimes/pmml.py", "_classpath", ".loads")
    jpmml_evaluator = pytest.importorskip("jpmml_evaluator")
    from jpmml_evaluator.py4j import Py4JBackend

    jars = jpmml_evaluator._classpath([])
    assert jars and all(Path(jar).is_file() for jar in jars), changed(
        "jpmml-evaluator", "_classpath(user_classpath)", module, "the JVM is started with it"
    )
    assert parameters(Py4JBackend.loads) == ["self", "results"], changed(
        "jpmml-evaluator", "JavaBackend.loads(results)", module, "ours reads no pickles"
    )
    evaluate_all = jpmml_evaluator.PythonEvaluatorUtil.evaluateAll
    assert parameters(evaluate_all) == [
        "backend",
        "javaEvaluator",
        "arguments_dict",
        "dropColumns",
        "parallelism",
    ] and "backend.loads(" in inspect.getsource(evaluate_all), changed(
        "jpmml-evaluator", "PythonEvaluatorUtil.evaluateAll and its use of backend.loads", module
    )
