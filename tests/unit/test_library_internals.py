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
import dataclasses
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


def test_strawberry_OperationContextAwareGraphQLResolveInfo_fields_unchanged() -> None:
    module = relied_on_by("app/graphql/_plans.py", "_OperationContextAwareGraphQLResolveInfo")
    from strawberry.schema.schema import _OperationContextAwareGraphQLResolveInfo

    # _plans.py builds it positionally, in this order.
    expected = (
        "field_name",
        "field_nodes",
        "return_type",
        "parent_type",
        "path",
        "schema",
        "fragments",
        "root_value",
        "operation",
        "variable_values",
        "context",
        "is_awaitable",
        "abort_signal",
        "async_helpers",
        "operation_extensions",
    )
    fields = getattr(_OperationContextAwareGraphQLResolveInfo, "_fields", None)
    assert fields == expected, changed(
        "strawberry",
        "strawberry.schema.schema._OperationContextAwareGraphQLResolveInfo",
        module,
        f"_Run._field passes {len(expected)} values in the order {expected}, it now has {fields}",
    )


def test_strawberry_optimized_is_awaitable_unchanged() -> None:
    module = relied_on_by("app/graphql/_plans.py", "optimized_is_awaitable")
    from strawberry.execution import optimized_is_awaitable

    async def coroutine() -> None:
        pass

    pending = coroutine()
    try:
        shape = (optimized_is_awaitable(pending), optimized_is_awaitable(1))
    finally:
        pending.close()
    assert parameters(optimized_is_awaitable) == ["value"] and shape == (True, False), changed(
        "strawberry", "strawberry.execution.optimized_is_awaitable", module
    )


def test_strawberry_default_resolver_is_default_flag_unchanged() -> None:
    module = relied_on_by("app/graphql/_plans.py", "_is_default")

    @strawberry.type
    class Query:
        plain: int = 1

        @strawberry.field
        def resolved(self) -> int:
            return 2

    fields = strawberry.Schema(query=Query)._schema.query_type.fields  # type: ignore[union-attr]
    flags = (
        getattr(fields["plain"].resolve, "_is_default", None),
        getattr(fields["resolved"].resolve, "_is_default", None),
    )
    assert flags == (True, False), changed(
        "strawberry",
        "the _is_default flag on the resolvers of its schema converter",
        module,
        "a field without a resolver of its own is read without building an info",
    )


def test_strawberry_Schema_private_schema_and_process_errors_unchanged() -> None:
    module = relied_on_by("app/graphql/schema.py", "._schema", "._process_errors(errors,")

    from graphql import GraphQLSchema

    @strawberry.type
    class Query:
        value: int = 1

    schema = strawberry.Schema(query=Query)
    assert isinstance(schema._schema, GraphQLSchema), changed(
        "strawberry", "Schema._schema (graphql-core's schema)", module
    )
    assert parameters(strawberry.Schema._process_errors) == [
        "self",
        "errors",
        "execution_context",
    ], changed("strawberry", "Schema._process_errors(errors, execution_context)", module)


def test_strawberry_validate_document_unchanged() -> None:
    module = relied_on_by("app/graphql/_documents.py", "validate_document")
    from strawberry.schema.schema import validate_document

    assert parameters(validate_document) == ["schema", "document", "validation_rules"], changed(
        "strawberry", "strawberry.schema.schema.validate_document", module
    )


def test_strawberry_MaskErrors_process_errors_and_process_result_unchanged() -> None:
    module = relied_on_by("app/graphql/schema.py", "_process_errors", "_process_result")
    from graphql import GraphQLError
    from strawberry.extensions import MaskErrors
    from strawberry.types import ExecutionResult

    class Recorded(MaskErrors):
        processed: list[object] = []

        def _process_result(self, result: object) -> None:
            self.processed.append(result)
            super()._process_result(result)

    masking = Recorded(should_mask_error=lambda error: error.message == "secret")
    masked = masking._process_errors([GraphQLError("secret"), GraphQLError("shown")])
    assert [error.message for error in masked] == ["Unexpected error.", "shown"], changed(
        "strawberry",
        "MaskErrors._process_errors(errors), masking through should_mask_error and anonymise_error",
        module,
        "ModelrepoSchema.plan_errors masks a planned operation's errors with it",
    )
    result = ExecutionResult(data=None, errors=[GraphQLError("secret")])
    masking.execution_context = dataclasses.make_dataclass("Context", ["result"])(result)  # type: ignore[assignment]
    hook = masking.on_operation()
    assert isinstance(hook, Iterator)
    next(hook)
    with pytest.raises(StopIteration):
        next(hook)
    assert masking.processed == [result], changed(
        "strawberry",
        "MaskErrors.on_operation, which no longer hands the result to _process_result",
        module,
        "MaskUnexpectedErrors overrides _process_result",
    )


def test_strawberry_execute_keeps_a_document_and_errors_set_in_on_operation() -> None:
    module = relied_on_by("app/graphql/schema.py", "graphql_document", "pre_execution_errors")

    from graphql import GraphQLError, parse
    from strawberry.extensions import SchemaExtension

    @strawberry.type
    class Query:
        value: int = 1

    given: dict[str, Any] = {}

    class Given(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            self.execution_context.graphql_document = parse("{ value }")
            self.execution_context.pre_execution_errors = given.get("errors")
            yield

    schema = strawberry.Schema(query=Query, extensions=[Given])
    given["errors"] = []
    answered = asyncio.run(schema.execute("this text is never parsed", root_value=Query()))
    given["errors"] = [GraphQLError("refused")]
    refused = asyncio.run(schema.execute("this text is never parsed", root_value=Query()))
    assert answered.data == {"value": 1} and not answered.errors, changed(
        "strawberry",
        "Schema.execute's use of ExecutionContext.graphql_document and pre_execution_errors"
        " set by an extension's on_operation",
        module,
        "CachedLimits parses and validates once per query text and hands strawberry the result",
    )
    assert [error.message for error in refused.errors or ()] == ["refused"], changed(
        "strawberry", "Schema.execute's use of ExecutionContext.pre_execution_errors", module
    )


def test_strawberry_ExecutionContext_fields_unchanged() -> None:
    module = relied_on_by("app/graphql/schema.py", "ExecutionContext(")
    from strawberry.types import ExecutionContext

    needed = {
        "query",
        "schema",
        "allowed_operations",
        "context",
        "variables",
        "provided_operation_name",
        "graphql_document",
        "pre_execution_errors",
    }
    missing = needed - set(parameters(ExecutionContext))
    assert not missing, changed("strawberry", "ExecutionContext", module, f"missing {missing}")


def test_strawberry_extensions_runner_and_context_managers_unchanged() -> None:
    module = relied_on_by("app/graphql/_runner.py", "SchemaExtensionsRunner", "ContextManager")

    from strawberry.extensions.context import (
        ExecutingContextManager,
        ExtensionContextManagerBase,
        ParsingContextManager,
        ValidationContextManager,
    )
    from strawberry.extensions.runner import SchemaExtensionsRunner

    for phase, manager in (
        ("parsing", ParsingContextManager),
        ("validation", ValidationContextManager),
        ("executing", ExecutingContextManager),
    ):
        method = getattr(SchemaExtensionsRunner, phase, None)
        assert method is not None and parameters(method) == ["self"], changed(
            "strawberry", f"SchemaExtensionsRunner.{phase}()", module
        )
        # Ours are made without strawberry's __init__, which only looks up hooks.
        assert issubclass(manager, ExtensionContextManagerBase), changed(
            "strawberry", manager.__name__, module
        )
        assert parameters(manager.__init__) == ["self", "extensions"], changed(
            "strawberry", f"{manager.__name__}.__init__", module
        )
        for entered in ("__enter__", "__exit__", "__aenter__", "__aexit__"):
            assert entered in vars(ExtensionContextManagerBase), changed(
                "strawberry", f"ExtensionContextManagerBase.{entered}", module
            )
    assert parameters(SchemaExtensionsRunner.__init__) == [
        "self",
        "execution_context",
        "extensions",
    ], changed("strawberry", "SchemaExtensionsRunner.__init__", module)
    assert parameters(strawberry.Schema.create_extensions_runner) == [
        "self",
        "execution_context",
        "extensions",
    ], changed("strawberry", "Schema.create_extensions_runner", "app/graphql/schema.py")


def test_strawberry_GraphQL_view_methods_we_override_unchanged() -> None:
    module = relied_on_by("app/graphql/view.py", "async def run(", "def decode_json(")
    from strawberry.asgi import GraphQL

    expected = {
        "run": ["self", "request", "context", "root_value"],
        "decode_json": ["self", "data"],
        "process_result": ["self", "request", "result"],
        "get_context": ["self", "request", "response"],
        "on_ws_connect": ["self", "context"],
    }
    for name, names in expected.items():
        assert parameters(getattr(GraphQL, name)) == names, changed(
            "strawberry", f"GraphQL.{name}{tuple(names[1:])}", module
        )


@strawberry.input
class Item:
    name: str
    size: int = 0


@strawberry.type
class _ItemQuery:
    @strawberry.field
    def count(self, item: Item) -> int:
        return item.size


def test_strawberry_InputContext_and_from_input_unchanged() -> None:
    module = relied_on_by("app/graphql/_inputs.py", "InputContext", "from_input")
    from strawberry.types.arguments import InputContext
    from strawberry.types.base import StrawberryObjectDefinition

    fields = [field.name for field in dataclasses.fields(InputContext)]
    assert fields == ["info", "config", "scalar_registry", "path"], changed(
        "strawberry", "InputContext's fields", module, "_within builds one for a nested input"
    )
    assert parameters(InputContext.convert) == ["self", "value", "type_", "keys"], changed(
        "strawberry", "InputContext.convert(value, type_, *keys)", module
    )
    definition_fields = {field.name for field in dataclasses.fields(StrawberryObjectDefinition)}
    assert {"from_input", "is_input", "fields"} <= definition_fields, changed(
        "strawberry", "StrawberryObjectDefinition.from_input", module
    )
    assert hasattr(StrawberryObjectDefinition, "is_one_of"), changed(
        "strawberry", "StrawberryObjectDefinition.is_one_of", module
    )

    schema = strawberry.Schema(query=_ItemQuery)
    concrete = schema.schema_converter.type_map["Item"]
    definition = concrete.definition
    assert isinstance(definition, StrawberryObjectDefinition), changed(
        "strawberry", "Schema.schema_converter.type_map's entries (.definition)", module
    )
    field = definition.fields[0]
    assert (field.python_name, field.default_value, field.default_factory) == (
        "name",
        dataclasses.MISSING,
        dataclasses.MISSING,
    ), changed("strawberry", "StrawberryField's python_name and defaults", module)
    assert "type_definition" in parameters(field.resolve_type), changed(
        "strawberry", "StrawberryField.resolve_type(type_definition=...)", module
    )
    assert schema.config.name_converter.from_field(field) == "name", changed(
        "strawberry", "NameConverter.from_field", module
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


# --- graphql-core ------------------------------------------------------------------------

_SDL = """
type Query { model(name: String!): Model, count: Int }
type Model { name: String!, size: Int }
"""


def test_graphql_core_collect_fields_unchanged() -> None:
    module = relied_on_by("app/graphql/_plans.py", "collect_fields", "collect_subfields")
    from graphql import FieldNode, OperationDefinitionNode, build_schema, parse
    from graphql.execution.collect_fields import (
        FieldDetails,
        FragmentDetails,
        collect_fields,
        collect_subfields,
    )
    from graphql.execution.values import VariableValues

    schema = build_schema(_SDL)
    document = parse('query { model(name: "a") { ...F } count } fragment F on Model { name }')
    operation, fragment = document.definitions
    assert isinstance(operation, OperationDefinitionNode)
    fragments = {"F": FragmentDetails(fragment)}  # type: ignore[arg-type]
    no_variables = VariableValues({}, {})
    query = schema.query_type
    assert query is not None
    grouped = collect_fields(schema, fragments, no_variables, query, operation).grouped_field_set
    assert list(grouped) == ["model", "count"], changed(
        "graphql-core", "collect_fields(...).grouped_field_set", module
    )
    details = grouped["model"]
    assert isinstance(details[0], FieldDetails) and isinstance(details[0].node, FieldNode), changed(
        "graphql-core", "FieldDetails.node", module
    )
    model = schema.get_type("Model")
    sub = collect_subfields(schema, fragments, no_variables, operation, model, details)  # type: ignore[arg-type]
    assert list(sub.grouped_field_set) == ["name"], changed(
        "graphql-core",
        "collect_subfields(schema, fragments, variables, operation, type, details)",
        module,
    )


def test_graphql_core_variable_and_argument_values_unchanged() -> None:
    module = relied_on_by("app/graphql/_plans.py", "get_variable_values", "get_argument_values")
    from graphql import FieldNode, OperationDefinitionNode, build_schema, parse
    from graphql.execution.values import (
        VariableValues,
        get_argument_values,
        get_variable_values,
    )

    schema = build_schema(_SDL)
    operation = parse("query ($n: String!) { model(name: $n) { name } }").definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    definitions = operation.variable_definitions or ()
    coerced = get_variable_values(schema, definitions, {"n": "a"}, max_errors=50)
    assert isinstance(coerced, VariableValues) and coerced.coerced == {"n": "a"}, changed(
        "graphql-core", "get_variable_values(...) -> VariableValues(.coerced)", module
    )
    errors = get_variable_values(schema, definitions, {}, max_errors=50)
    assert isinstance(errors, list) and errors, changed(
        "graphql-core", "get_variable_values's errors (a list)", module
    )
    assert parameters(VariableValues)[:2] == ["sources", "coerced"], changed(
        "graphql-core", "VariableValues(sources, coerced)", module
    )
    node = operation.selection_set.selections[0]
    assert isinstance(node, FieldNode)
    query = schema.query_type
    assert query is not None
    arguments = get_argument_values(query.fields["model"], node, coerced)
    assert arguments == {"name": "a"}, changed(
        "graphql-core", "get_argument_values(field, node, variable_values)", module
    )


def test_graphql_core_executor_helpers_unchanged() -> None:
    module = relied_on_by(
        "app/graphql/_plans.py", "GraphQLResolveInfoHelpers", "gather_with_cancel"
    )
    from graphql import GraphQLEnumType, GraphQLString, build_schema
    from graphql.execution.executor import default_field_resolver, default_type_resolver
    from graphql.language import OperationType
    from graphql.pyutils import Path, gather_with_cancel
    from graphql.type import GraphQLResolveInfo, GraphQLResolveInfoHelpers

    assert GraphQLResolveInfoHelpers._fields == ("gather", "track"), changed(
        "graphql-core", "GraphQLResolveInfoHelpers(gather, track)", module
    )
    # strawberry's info (above) extends graphql-core's, field for field.
    assert GraphQLResolveInfo._fields[:12] == (
        "field_name",
        "field_nodes",
        "return_type",
        "parent_type",
        "path",
        "schema",
        "fragments",
        "root_value",
        "operation",
        "variable_values",
        "context",
        "is_awaitable",
    ), changed("graphql-core", "GraphQLResolveInfo's fields", module)
    assert asyncio.run(gather_with_cancel(asyncio.sleep(0, 1), asyncio.sleep(0, 2))) == [1, 2]
    path = Path(None, "models", "Query").add_key(0, None)
    assert path.as_list() == ["models", 0] and path.prev is not None, changed(
        "graphql-core", "Path(prev, key, typename).add_key(key, typename)", module
    )
    assert parameters(default_type_resolver) == ["value", "info", "abstract_type"], changed(
        "graphql-core", "default_type_resolver(value, info, abstract_type)", module
    )
    assert callable(default_field_resolver)
    enum = GraphQLEnumType("Kind", {"A": "a"})
    assert (GraphQLString.coerce_output_value("x"), enum.coerce_output_value("a")) == (
        "x",
        "A",
    ), changed("graphql-core", "the leaf types' coerce_output_value", module)
    schema = build_schema("type Query { a: Int } union U = Query")
    union = schema.get_type("U")
    assert (
        schema.get_root_type(OperationType.QUERY) is schema.query_type
        and schema.get_field(schema.query_type, "a") is not None  # type: ignore[arg-type]
        and schema.is_sub_type(union, schema.query_type)  # type: ignore[arg-type]
    ), changed("graphql-core", "GraphQLSchema.get_root_type, get_field and is_sub_type", module)


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
