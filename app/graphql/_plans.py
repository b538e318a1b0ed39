"""A lean executor for the operations clients send again and again.

graphql-core's executor works out, for every request, what the document already said:
which fields each selection collects, which resolver and return type each field has, how
each value is completed; strawberry's ``Schema.execute`` around it creates an execution
context, extension objects and their runner for every request. Together that is about a
third of the server's CPU for a small mutation such as ``importModelVersion``, and more
for a list of 100 models. Here an operation is planned once per document (the fields,
resolvers and the completion of each return type) and each request only runs resolvers
and completes values, the way graphql-core's ``Executor`` does it: the same resolvers
with the same ``info``, concurrent fields awaited together (DataLoaders still batch),
serial root fields for mutations, the same field errors, null propagation and messages.

A plan is made only for a document that parses and validates without errors under the
schema's limits (both cached, as for every request), for a query or mutation without
directives (``@skip``, ``@include``, ``@defer``, ...), fragment variables or
introspection beyond ``__typename``, sent without operation extensions; everything else
goes to ``Schema.execute`` as before. Variables are coerced by graphql-core's own function,
and its errors, like the errors of execution, are logged and masked as ``Schema.execute``
does it (``ModelrepoSchema.plan_errors``).

Fields with no resolver of their own (strawberry's basic fields) and a scalar or enum type
read their attribute without building an ``info`` they would ignore.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLAbstractType,
    GraphQLError,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    located_error,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.executor import default_field_resolver, default_type_resolver
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.language import Visitor, visit
from graphql.pyutils import Path, Undefined, gather_with_cancel, inspect, is_iterable
from graphql.type import GraphQLResolveInfoHelpers, is_abstract_type, is_leaf_type
from graphql.type.definition import is_non_null_type, is_object_type
from strawberry.execution import optimized_is_awaitable as is_awaitable
from strawberry.schema.schema import _OperationContextAwareGraphQLResolveInfo as ResolveInfo

from app.graphql._documents import Checked

MAX_COERCION_ERRORS = 50  # graphql-core's default, which strawberry keeps
_NO_VARIABLES = VariableValues({}, {})
# What strawberry's info carries without operation extensions (answer_json sends requests
# with extensions through Schema.execute).
_NO_EXTENSIONS: Any = None

# How a field's value is completed, planned from its return type: (kind, what the kind
# completes with (the inner shape, or the named type), the type at this level).
NON_NULL, LIST, LEAF, ABSTRACT, OBJECT = range(5)
Shape = tuple[Any, ...]


def _shape(return_type: GraphQLOutputType) -> Shape:
    if isinstance(return_type, GraphQLNonNull):
        return (NON_NULL, _shape(return_type.of_type), return_type)
    if isinstance(return_type, GraphQLList):
        return (LIST, _shape(return_type.of_type), return_type)
    if is_leaf_type(return_type):
        return (LEAF, return_type, return_type)
    if is_abstract_type(return_type):
        return (ABSTRACT, return_type, return_type)
    if is_object_type(return_type):
        return (OBJECT, return_type, return_type)
    raise TypeError(f"Cannot complete value of unexpected output type: '{inspect(return_type)}'.")


def _leaves_only(shape: Shape) -> bool:
    return shape[0] == LEAF or (shape[0] in (NON_NULL, LIST) and _leaves_only(shape[1]))


class _Field:
    """One response key of a selection set on one object type."""

    __slots__ = (
        "basic",
        "definition",
        "details",
        "has_args",
        "key",
        "name",
        "node",
        "nodes",
        "parent",
        "resolve",
        "return_type",
        "shape",
        "subfields",
    )

    def __init__(
        self,
        key: str,
        parent: GraphQLObjectType,
        definition: GraphQLField,
        details: list[FieldDetails],
        resolve: Callable[..., Any],
    ) -> None:
        self.key = key
        self.parent = parent
        self.definition = definition
        self.details = details
        self.node: FieldNode = details[0].node
        self.nodes = [d.node for d in details]
        self.name = self.node.name.value
        self.return_type = definition.type
        self.resolve = resolve
        self.has_args = bool(definition.args or self.node.arguments)
        self.shape = _shape(definition.type)
        # strawberry's resolver of a field without one reads the attribute, info unused.
        self.basic = (
            getattr(resolve, "_is_default", False)
            and not self.has_args
            and _leaves_only(self.shape)
        )
        # The selection on each runtime object type, planned on first use.
        self.subfields: dict[str, list[_Field]] = {}


class Plan:
    """An operation of one document, ready to run with any variables."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        root_type: GraphQLObjectType,
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments: dict[str, FragmentDefinitionNode] = {}
        self.fragment_details: dict[str, FragmentDetails] = {}
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                self.fragments[definition.name.value] = definition
                self.fragment_details[definition.name.value] = FragmentDetails(definition)
        self.serial = operation.operation == OperationType.MUTATION
        grouped = collect_fields(
            schema, self.fragment_details, _NO_VARIABLES, root_type, operation
        ).grouped_field_set
        self.fields = self._fields(root_type, grouped)

    def _fields(
        self, parent: GraphQLObjectType, grouped: dict[str, list[FieldDetails]]
    ) -> list[_Field]:
        fields = []
        for key, details in grouped.items():
            definition = self.schema.get_field(parent, details[0].node.name.value)
            if definition is None:  # graphql-core leaves it out of the answer too
                continue
            resolve = definition.resolve or default_field_resolver
            fields.append(_Field(key, parent, definition, details, resolve))
        return fields

    def subfields(self, field: _Field, runtime_type: GraphQLObjectType) -> list[_Field]:
        planned = field.subfields.get(runtime_type.name)
        if planned is None:
            grouped = collect_subfields(
                self.schema,
                self.fragment_details,
                _NO_VARIABLES,
                self.operation,
                runtime_type,
                field.details,
            ).grouped_field_set
            planned = field.subfields[runtime_type.name] = self._fields(runtime_type, grouped)
        return planned

    def run(self, context: Any, root_value: Any, variables: dict[str, Any] | None) -> Any:
        """The result's ``(data, errors)``, or an awaitable of them; ``(None, errors)``
        when the variables do not coerce (nothing has run then)."""
        coerced = get_variable_values(
            self.schema,
            self.operation.variable_definitions or (),
            variables or {},
            max_errors=MAX_COERCION_ERRORS,
        )
        if isinstance(coerced, list):
            return None, coerced
        return _Run(self, context, root_value, coerced).execute()


class _Run:
    """One execution of a plan."""

    __slots__ = (
        "background",
        "context",
        "error_paths",
        "errors",
        "helpers",
        "plan",
        "root_value",
        "variables",
    )

    def __init__(
        self, plan: Plan, context: Any, root_value: Any, variables: VariableValues
    ) -> None:
        self.plan = plan
        self.context = context
        self.root_value = root_value
        self.variables = variables
        self.errors: list[GraphQLError] = []
        self.error_paths: set[Path | None] = set()
        self.background: set[Any] = set()
        self.helpers = GraphQLResolveInfoHelpers(self._gather, self._track)

    # --- the operation ------------------------------------------------------------

    def execute(self) -> Any:
        plan = self.plan
        try:
            if plan.serial:
                data = self._serially(plan.fields, self.root_value)
            else:
                data = self._fields(plan.fields, self.root_value, None)
        except GraphQLError as error:
            self._add_error(error, None)
            return None, self.errors
        if is_awaitable(data):
            return self._await_data(data)
        return data, self.errors

    async def _await_data(self, data: Awaitable[dict[str, Any]]) -> Any:
        try:
            return await data, self.errors
        except GraphQLError as error:
            self._add_error(error, None)
            return None, self.errors

    def _serially(self, fields: list[_Field], source: Any) -> Any:
        results: dict[str, Any] = {}
        for index, field in enumerate(fields):
            result = self._field(field, source, None)
            if is_awaitable(result):
                return self._serially_from(fields, index, result, results, source)
            results[field.key] = result
        return results

    async def _serially_from(
        self,
        fields: list[_Field],
        index: int,
        pending: Any,
        results: dict[str, Any],
        source: Any,
    ) -> dict[str, Any]:
        results[fields[index].key] = await pending
        for field in fields[index + 1 :]:
            result = self._field(field, source, None)
            if is_awaitable(result):
                result = await result
            results[field.key] = result
        return results

    # --- fields -------------------------------------------------------------------

    def _fields(self, fields: list[_Field], source: Any, path: Path | None) -> Any:
        results: dict[str, Any] = {}
        awaited: list[str] = []
        try:
            for field in fields:
                result = results[field.key] = self._field(field, source, path)
                if is_awaitable(result):
                    awaited.append(field.key)
        except Exception:
            self._settle([results[key] for key in awaited])
            raise
        return self._gathered(results, awaited) if awaited else results

    async def _gathered(self, results: Any, awaited: list[Any]) -> Any:
        """``results`` (a dict or a list) with its awaitables at ``awaited`` awaited
        together, as graphql-core awaits the fields of an object or items of a list."""
        if len(awaited) == 1:
            results[awaited[0]] = await results[awaited[0]]
        else:
            values = await gather_with_cancel(*(results[key] for key in awaited))
            for key, value in zip(awaited, values, strict=True):
                results[key] = value
        return results

    def _field(self, field: _Field, source: Any, parent_path: Path | None) -> Any:
        path = Path(parent_path, field.key, field.parent.name)
        if field.basic:
            try:
                result = field.resolve(source)
                if is_awaitable(result):
                    return self._await_value(field, None, path, result)
                return self._complete(field.shape, field, None, path, result)
            except Exception as raw_error:
                self._field_error(raw_error, field.return_type, field, path)
                return None
        plan = self.plan
        info = ResolveInfo(
            field.name,
            field.nodes,
            field.return_type,
            field.parent,
            path,
            plan.schema,
            plan.fragments,
            self.root_value,
            plan.operation,
            self.variables.coerced,
            self.context,
            is_awaitable,
            None,
            self.helpers,
            _NO_EXTENSIONS,
        )
        try:
            args = (
                get_argument_values(field.definition, field.node, self.variables)
                if field.has_args
                else {}
            )
            result = field.resolve(source, info, **args)
            if is_awaitable(result):
                return self._await_value(field, info, path, result)
            completed = self._complete(field.shape, field, info, path, result)
            if is_awaitable(completed):
                return self._await_completed(field.return_type, field, path, completed)
        except Exception as raw_error:
            self._field_error(raw_error, field.return_type, field, path)
            return None
        return completed

    async def _await_value(self, field: _Field, info: Any, path: Path, result: Any) -> Any:
        try:
            completed = self._complete(field.shape, field, info, path, await result)
            if is_awaitable(completed):
                completed = await completed
        except Exception as raw_error:
            self._field_error(raw_error, field.return_type, field, path)
            completed = None
        return completed

    async def _await_completed(
        self, return_type: GraphQLOutputType, field: _Field, path: Path, completed: Any
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self._field_error(raw_error, return_type, field, path)
            return None

    # --- values -------------------------------------------------------------------

    def _complete(self, shape: Shape, field: _Field, info: Any, path: Path, result: Any) -> Any:
        if isinstance(result, Exception):
            raise result
        kind = shape[0]
        if kind == NON_NULL:
            completed = self._complete(shape[1], field, info, path, result)
            if completed is None:
                raise TypeError(
                    f"Cannot return null for non-nullable field {field.parent}.{field.name}."
                )
            return completed
        if result is None or result is Undefined:
            return None
        if kind == LEAF:
            return _leaf(shape[1], result)
        if kind == LIST:
            return self._list(shape[1], field, info, path, result)
        if kind == ABSTRACT:
            return self._abstract(shape[1], field, info, path, result)
        return self._object(shape[1], field, info, path, result)

    def _list(self, item_shape: Shape, field: _Field, info: Any, path: Path, result: Any) -> Any:
        if hasattr(result, "__aiter__"):
            return self._async_list(item_shape, field, info, path, result)
        if not is_iterable(result):
            raise GraphQLError(
                f"Expected Iterable, but did not find one for field '{field.parent}.{field.name}'."
            )
        return self._items(item_shape, field, info, path, result)

    async def _async_list(
        self, item_shape: Shape, field: _Field, info: Any, path: Path, result: Any
    ) -> Any:
        items = [item async for item in result]
        completed = self._items(item_shape, field, info, path, items)
        if is_awaitable(completed):
            completed = await completed
        return completed

    def _items(
        self, item_shape: Shape, field: _Field, info: Any, path: Path, items: Iterable[Any]
    ) -> Any:
        item_type = item_shape[2]
        completed: list[Any] = []
        awaited: list[int] = []
        try:
            for index, item in enumerate(items):
                item_path = path.add_key(index, None)
                if is_awaitable(item):
                    waiting = self._await_item(item_shape, item_type, field, info, item_path, item)
                    completed.append(waiting)
                    awaited.append(index)
                    continue
                try:
                    value = self._complete(item_shape, field, info, item_path, item)
                    if is_awaitable(value):
                        value = self._await_completed(item_type, field, item_path, value)
                        awaited.append(index)
                except Exception as raw_error:
                    self._field_error(raw_error, item_type, field, item_path)
                    value = None
                completed.append(value)
        except Exception:
            self._settle([completed[index] for index in awaited])
            raise
        return self._gathered(completed, awaited) if awaited else completed

    async def _await_item(
        self,
        item_shape: Shape,
        item_type: GraphQLOutputType,
        field: _Field,
        info: Any,
        path: Path,
        item: Any,
    ) -> Any:
        try:
            completed = self._complete(item_shape, field, info, path, await item)
            if is_awaitable(completed):
                completed = await completed
        except Exception as raw_error:
            self._field_error(raw_error, item_type, field, path)
            return None
        return completed

    def _abstract(
        self, abstract: GraphQLAbstractType, field: _Field, info: Any, path: Path, result: Any
    ) -> Any:
        resolve_type = abstract.resolve_type or default_type_resolver
        runtime_type = resolve_type(result, info, abstract)
        if is_awaitable(runtime_type):
            return self._await_abstract(abstract, field, info, path, result, runtime_type)
        object_type = self._runtime_type(runtime_type, abstract, field, result)
        return self._object(object_type, field, info, path, result)

    async def _await_abstract(
        self,
        abstract: GraphQLAbstractType,
        field: _Field,
        info: Any,
        path: Path,
        result: Any,
        runtime_type: Any,
    ) -> Any:
        object_type = self._runtime_type(await runtime_type, abstract, field, result)
        value = self._object(object_type, field, info, path, result)
        if is_awaitable(value):
            return await value
        return value

    def _runtime_type(
        self, name: Any, abstract: GraphQLAbstractType, field: _Field, result: Any
    ) -> GraphQLObjectType:
        """graphql-core's ``ensure_valid_runtime_type``, with its messages."""
        where = f"{field.parent}.{field.name}"
        if name is None:
            raise GraphQLError(
                f"Abstract type '{abstract}' must resolve to an Object type at runtime"
                f" for field '{where}'. Either the '{abstract}' type should provide"
                " a 'resolve_type' function or each possible type should provide"
                " an 'is_type_of' function.",
                field.nodes,
            )
        if not isinstance(name, str):
            raise GraphQLError(
                f"Abstract type '{abstract}' must resolve to an Object type at runtime"
                f" for field '{where}' with value {inspect(result)},"
                f" received '{inspect(name)}', which is not a valid Object type name.",
                field.nodes,
            )
        schema = self.plan.schema
        runtime_type = schema.get_type(name)
        if runtime_type is None:
            raise GraphQLError(
                f"Abstract type '{abstract}' was resolved to a type '{name}'"
                " that does not exist inside the schema.",
                field.nodes,
            )
        if not isinstance(runtime_type, GraphQLObjectType):
            raise GraphQLError(
                f"Abstract type '{abstract}' was resolved to a non-object type '{name}'.",
                field.nodes,
            )
        if not schema.is_sub_type(abstract, runtime_type):
            raise GraphQLError(
                f"Runtime Object type '{runtime_type}' is not a possible type for '{abstract}'.",
                field.nodes,
            )
        return runtime_type

    def _object(
        self, object_type: GraphQLObjectType, field: _Field, info: Any, path: Path, result: Any
    ) -> Any:
        if object_type.is_type_of:
            is_type_of = object_type.is_type_of(result, info)
            if is_awaitable(is_type_of):
                return self._await_object(object_type, field, path, result, is_type_of)
            if not is_type_of:
                raise _invalid_return_type(object_type, result, field)
        return self._fields(self.plan.subfields(field, object_type), result, path)

    async def _await_object(
        self, object_type: GraphQLObjectType, field: _Field, path: Path, result: Any, check: Any
    ) -> Any:
        if not await check:
            raise _invalid_return_type(object_type, result, field)
        value = self._fields(self.plan.subfields(field, object_type), result, path)
        if is_awaitable(value):
            return await value
        return value

    # --- errors and background work -----------------------------------------------

    def _field_error(
        self, raw_error: Exception, return_type: GraphQLOutputType, field: _Field, path: Path
    ) -> None:
        error = located_error(raw_error, field.nodes, path.as_list())
        if is_non_null_type(return_type):
            raise error
        self._add_error(error, path)

    def _add_error(self, error: GraphQLError, path: Path | None) -> None:
        """Left out when the position or one above it was nulled already (as
        graphql-core's ``CollectedErrors``)."""
        at: Path | None = path
        while at is not None:
            if at in self.error_paths:
                return
            at = at.prev
        if None in self.error_paths:
            return
        self.error_paths.add(path)
        self.errors.append(error)

    def _settle(self, awaitables: list[Any]) -> None:
        """Siblings of a field whose error nulls their parent still run to the end, their
        errors observed (graphql-core's ``settle_in_background``)."""
        if not awaitables:
            return
        future = asyncio.gather(*awaitables, return_exceptions=True)
        self.background.add(future)
        future.add_done_callback(self.background.discard)

    def _gather(self, values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        return gather_with_cancel(*values)

    def _track(self, values: Sequence[Any]) -> None:
        self._settle([value for value in values if is_awaitable(value)])


def _leaf(leaf_type: GraphQLLeafType, result: Any) -> Any:
    coerced = leaf_type.coerce_output_value(result)
    if coerced is Undefined or coerced is None:
        raise TypeError(
            f"Expected `{inspect(leaf_type)}.coerce_output_value({inspect(result)})`"
            f" to return non-nullable value, returned: {inspect(coerced)}"
        )
    return coerced


def _invalid_return_type(
    object_type: GraphQLObjectType, result: Any, field: _Field
) -> GraphQLError:
    return GraphQLError(
        f"Expected value of type '{object_type.name}' but got: {inspect(result)}.",
        field.nodes,
    )


# --- which documents get a plan -----------------------------------------------------------


class _Unplannable(Visitor):
    """Finds what plans leave to graphql-core: directives, fragment variables and
    introspection other than ``__typename``."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_directive(self, node: DirectiveNode, *_: Any) -> Any:
        self.found = True
        return self.BREAK

    def enter_fragment_definition(self, node: FragmentDefinitionNode, *_: Any) -> Any:
        if node.variable_definitions:
            self.found = True
            return self.BREAK
        return None

    def enter_fragment_spread(self, node: Any, *_: Any) -> Any:
        if getattr(node, "arguments", None):
            self.found = True
            return self.BREAK
        return None

    def enter_field(self, node: FieldNode, *_: Any) -> Any:
        name = node.name.value
        if name.startswith("__") and name != "__typename":
            self.found = True
            return self.BREAK
        return None


def _plannable(document: DocumentNode) -> bool:
    finder = _Unplannable()
    visit(document, finder)
    return not finder.found


def _operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    """As graphql-core picks it; None where it would answer with an error."""
    found = None
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            if operation_name is None:
                if found is not None:
                    return None
                found = definition
            elif definition.name and definition.name.value == operation_name:
                found = definition
    return found


def planner(
    schema: GraphQLSchema, check: Callable[[str], Checked]
) -> Callable[[str, str | None], Plan | None]:
    """Plans by (query, operation name), kept with the query's other checks (so bounded
    with them); None for what plans leave to ``Schema.execute``."""

    def plan_for(query: str, operation_name: str | None) -> Plan | None:
        try:
            checked = check(query)
        except Exception:  # Schema.execute answers it as it always did
            return None
        plans = checked.plans
        if operation_name in plans:
            return plans[operation_name]
        document = checked.document
        if document is None or checked.errors:
            return None
        operation = _operation(document, operation_name)
        if operation is None:  # not kept: any name may be sent
            return None
        try:
            plan = _plan(document, operation)
        except Exception:  # whatever went wrong, Schema.execute answers it as it always did
            plan = None
        plans[operation_name] = plan
        return plan

    def _plan(document: DocumentNode, operation: OperationDefinitionNode) -> Plan | None:
        if operation.operation not in (OperationType.QUERY, OperationType.MUTATION):
            return None
        if not _plannable(document):
            return None
        root_type = schema.get_root_type(operation.operation)
        if root_type is None:
            return None
        return Plan(schema, document, operation, root_type)

    return plan_for
