"""The GraphQL schema: features merged, limits on, unexpected errors masked."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import strawberry
from graphql import DocumentNode, GraphQLError, GraphQLSchema, specified_rules
from graphql import parse as graphql_parse
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.file_uploads import Upload
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema import validate_document
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from app.graphql._inputs import plan_inputs
from app.graphql._plans import Plan, planner
from app.graphql._runner import LeanExtensionsRunner
from app.graphql.batch.schema import BatchMutations, BatchQueries
from app.graphql.batch.updates import BatchSubscriptions
from app.graphql.history.feed import FeedSubscriptions
from app.graphql.history.queries import HistoryQueries
from app.graphql.models.files import BIG_INT_SCALAR, BigInt
from app.graphql.models.inputs import UPLOAD_SCALAR
from app.graphql.models.links import DownloadLinkMutations
from app.graphql.models.mutations import ModelMutations
from app.graphql.models.queries import ModelQueries
from app.graphql.monitoring.queries import MonitoringQueries
from app.graphql.optimize.schema import OptimizationMutations, OptimizationQueries
from app.graphql.services.schema import ServiceMutations, ServiceQueries
from app.graphql.tokens.schema import TokenMutations, TokenQueries
from app.graphql.training.schema import TrainingMutations, TrainingQueries

log = logging.getLogger("modelrepo.graphql")
CACHE_SIZE = 512

Query = merge_types(
    "Query",
    (
        ModelQueries,
        HistoryQueries,
        TokenQueries,
        TrainingQueries,
        ServiceQueries,
        BatchQueries,
        MonitoringQueries,
        OptimizationQueries,
    ),
)
Subscription = merge_types("Subscription", (BatchSubscriptions, FeedSubscriptions))
Mutation = merge_types(
    "Mutation",
    (
        ModelMutations,
        DownloadLinkMutations,
        TokenMutations,
        TrainingMutations,
        ServiceMutations,
        BatchMutations,
        OptimizationMutations,
    ),
)


def _should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    # GraphQLErrors (bad arguments, permission messages) are meant for the caller.
    return original is not None and not isinstance(original, GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    """Unexpected errors reach the caller as one message with the request id; the log
    gets the traceback under the same id."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_should_mask)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", "") or "-"
        log.error(
            "request %s: unexpected error at %s",
            request_id,
            error.path,
            exc_info=error.original_error,
        )
        return GraphQLError(
            message=f"Internal error (request id {request_id}); the server log has the details.",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"requestId": request_id},
        )

    def _process_result(self, result: object) -> None:
        # MaskErrors checks ``result`` against a runtime Protocol, which costs more than
        # the rest of the masking of a result without errors.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]


class CachedLimits(MaskUnexpectedErrors):
    """Parsing with the token limit and validation with the depth and alias rules, each
    cached by document (every client sends the same few), and the error masking: what
    strawberry's MaxTokensLimiter, ParserCache, AddValidationRules, ValidationCache and
    MaskErrors do together, as one extension with one hook, because every extension and
    every hook costs every request.

    Both are done as the operation starts; strawberry then finds the document parsed and
    validated and only checks the operation type in between, as it would. A query that
    fails to parse is left to strawberry's own parsing step, with the same token limit,
    so it fails there as it always did."""

    def __init__(
        self,
        parse: Callable[[str], Any],
        validate: Callable[[Any, str], Any],
        max_tokens: int,
    ) -> None:
        super().__init__()
        self._parse = parse
        self._validate = validate
        self._max_tokens = max_tokens

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        if query:
            context.parse_options["max_tokens"] = self._max_tokens
            try:
                context.graphql_document = self._parse(query)
            except GraphQLError:
                pass  # strawberry's parsing step raises it again
            else:
                # Keyed by the query's text, not by the document (hashing one walks it).
                context.pre_execution_errors = self._validate(context.schema._schema, query)
        yield from super().on_operation()


class CachedNameConverter(NameConverter):
    """Strawberry turns python names into GraphQL names (camelCase) again for every
    argument of every field it resolves; the answer for a name never changes."""

    def __init__(self) -> None:
        super().__init__()
        self._names: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        converted = self._names.get(name)
        if converted is None:
            converted = self._names[name] = super().apply_naming_config(name)
        return converted


class ModelrepoSchema(strawberry.Schema):
    # Planned execution of the operations clients repeat (app.graphql._plans); set by
    # build_schema.
    plan_for: Callable[[str, str | None], Plan | None] = staticmethod(lambda _q, _o: None)

    def plan_errors(
        self,
        errors: list[GraphQLError],
        context: Any,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> list[GraphQLError]:
        """Errors of a planned operation, logged and masked as ``execute`` does it (its
        ``process_errors``, then the masking of CachedLimits)."""
        execution_context = ExecutionContext(
            query=query,
            schema=self,
            allowed_operations=(),
            context=context,
            variables=variables,
            provided_operation_name=operation_name,
        )
        self._process_errors(errors, execution_context)
        masking = MaskUnexpectedErrors()
        masking.execution_context = execution_context
        return masking._process_errors(errors)

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return LeanExtensionsRunner(execution_context=execution_context, extensions=extensions)


def build_schema(
    *, max_depth: int = 12, max_aliases: int = 30, max_tokens: int = 4000
) -> ModelrepoSchema:
    # The limit rules are built once so that every request passes the same rule classes:
    # the validation cache is keyed by them.
    rules = (
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    )

    @functools.lru_cache(maxsize=CACHE_SIZE)
    def parse(query: str) -> DocumentNode:
        return graphql_parse(query, max_tokens=max_tokens)

    @functools.lru_cache(maxsize=CACHE_SIZE)
    def validate(schema: GraphQLSchema, query: str) -> list[GraphQLError]:
        return validate_document(schema, parse(query), (*specified_rules, *rules))

    extensions: list[Any] = [lambda: CachedLimits(parse, validate, max_tokens)]
    built = ModelrepoSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(
            scalar_map={BigInt: BIG_INT_SCALAR, Upload: UPLOAD_SCALAR},
            name_converter=CachedNameConverter(),
        ),
    )
    plan_inputs(built)
    built.plan_for = planner(built._schema, parse, validate, CACHE_SIZE)
    return built


schema = build_schema()
