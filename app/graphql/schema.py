"""The GraphQL schema: features merged, limits on, unexpected errors masked."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension
from strawberry.file_uploads import Upload
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.schema.name_converter import NameConverter
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult, StreamExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperation

from app.graphql._documents import Checked, Documents
from app.graphql.batch.mutations import BatchMutations
from app.graphql.batch.queries import BatchQueries
from app.graphql.batch.subscriptions import BatchSubscriptions
from app.graphql.cost import Limits
from app.graphql.errors import DOMAIN_ERRORS, OtherDomainErrorHandler
from app.graphql.history.queries import HistoryQueries
from app.graphql.history.subscriptions import FeedSubscriptions
from app.graphql.models.mutations import (
    DownloadLinkMutations,
    ImportFailedHandler,
    ModelMutations,
)
from app.graphql.models.queries import ModelQueries
from app.graphql.monitoring.queries import MonitoringQueries
from app.graphql.optimize.mutations import OptimizationMutations
from app.graphql.optimize.queries import OptimizationQueries
from app.graphql.scalars import BIG_INT_SCALAR, UPLOAD_SCALAR, BigInt
from app.graphql.services.mutations import ServiceMutations
from app.graphql.services.queries import ServiceQueries
from app.graphql.tokens.mutations import TokenMutations
from app.graphql.tokens.queries import TokenQueries
from app.graphql.training.mutations import TrainingMutations
from app.graphql.training.queries import TrainingQueries
from domain.errors import DomainError

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
    # GraphQLErrors (bad arguments, permission messages) and domain errors (expected
    # failures, with messages for people) are meant for the caller.
    return original is not None and not isinstance(original, GraphQLError | DomainError)


class MaskUnexpectedErrors(SchemaExtension):
    """Unexpected errors reach the caller as one message with the request id; the log
    gets the traceback under the same id. Masked in the operation's result and in each
    result of a subscription.

    What strawberry's MaskErrors does with ``should_mask_error``, without its check of
    every result against a runtime Protocol (about 20 us a request, a tenth of a small
    operation's time in Schema.execute)."""

    def on_operation(self) -> Iterator[None]:
        yield
        self._mask(self.execution_context.result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        self._mask(result)
        yield

    def _mask(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            masked = [self._anonymised(e) if _should_mask(e) else e for e in errors]
            result.errors = masked  # type: ignore[attr-defined]

    def _anonymised(self, error: GraphQLError) -> GraphQLError:
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


class QueryLimits(SchemaExtension):
    """The limits of app.graphql.cost, with parsing and validation done once per query
    text (app.graphql._documents keeps them: every client sends the same few), through
    the hooks strawberry's own ParserCache and ValidationCache use: ``on_parse`` hands
    strawberry the document, ``on_validate`` the errors that refuse it (the cost limits'
    come before any validation rule runs), or lets strawberry validate the first time and
    keeps what it found.

    A text refused before it is parsed (too large) or while it is (a syntax error) is
    handed over as a stand-in document of one query, refused by its validation errors, so
    that strawberry answers with them and never parses the text itself."""

    def __init__(self, documents: Documents) -> None:
        self._documents = documents
        self._checked: Checked | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        if query:  # (strawberry refuses an operation without one before parsing)
            self._checked = checked = self._documents.check(query)
            # (the operation name asked for, the document being unset)
            context.graphql_document = checked.document or _stand_in(context.operation_name)
        yield

    def on_validate(self) -> Iterator[None]:
        checked = self._checked
        errors = None if checked is None else checked.errors
        if errors is not None:
            self.execution_context.pre_execution_errors = errors  # (empty: valid)
        yield  # strawberry validates when nothing was set here
        if checked is not None and errors is None:
            checked.errors = list(self.execution_context.pre_execution_errors or ())


def _stand_in(operation_name: str | None) -> DocumentNode:
    """A document of one query ``{ __typename }``, named ``operation_name``."""
    name = None if operation_name is None else NameNode(value=operation_name)
    typename = FieldNode(name=NameNode(value="__typename"), arguments=(), directives=())
    operation = OperationDefinitionNode(
        operation=OperationType.QUERY,
        name=name,
        variable_definitions=(),
        directives=(),
        selection_set=SelectionSetNode(selections=(typename,)),
    )
    return DocumentNode(definitions=(operation,))


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


class SubscriptionOverHttp(InvalidOperationTypeError):
    """A subscription sent as a plain HTTP request; the view answers 400 with this."""

    def __init__(self) -> None:
        super().__init__(StrawberryOperation.SUBSCRIPTION)

    def as_http_error_reason(self, method: str) -> str:
        return (
            f"subscriptions are not served over {method}: open a websocket to /graphql"
            " (protocol graphql-transport-ws)"
        )


class ModelrepoSchema(strawberry.Schema):
    # What QueryLimits keeps of every query text (set by build_schema).
    documents: Documents

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Strawberry logs every error with its traceback. Expected ones (a bad document,
        variable or argument, a permission, a domain error) are answers, not faults: no
        traceback. Unexpected ones are logged once, with the request id, where they are
        masked (MaskUnexpectedErrors)."""
        for error in errors:
            if not _should_mask(error):
                log.debug("expected error at %s: %s", error.path, error.message)

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[StrawberryOperation] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """As strawberry's, but never a subscription: those run over websockets
        (``subscribe``). Executed as a query, one fails inside its resolver and is answered
        as a masked internal error."""
        allowed = set(
            StrawberryOperation if allowed_operation_types is None else allowed_operation_types
        )
        try:
            return await super().execute(
                query,
                variable_values,
                context_value,
                root_value,
                operation_name,
                allowed - {StrawberryOperation.SUBSCRIPTION},
                operation_extensions,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type == StrawberryOperation.SUBSCRIPTION:
                raise SubscriptionOverHttp from None
            raise


def build_schema(
    *,
    max_depth: int = 12,
    max_aliases: int = 30,
    max_tokens: int = 4000,
    max_fields: int = 5000,
    max_fragments: int = 100,
    max_bytes: int = 100_000,
    cache_bytes: int = 16 * 1024**2,
) -> ModelrepoSchema:
    documents = Documents(
        Limits(
            max_bytes=max_bytes,
            max_fragments=max_fragments,
            max_fields=max_fields,
            max_depth=max_depth,
            max_aliases=max_aliases,
        ),
        max_tokens=max_tokens,
        max_entries=CACHE_SIZE,
        max_bytes=cache_bytes,
    )
    built = ModelrepoSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Domain errors as union members; the first handler that fits answers.
        exception_handlers=(*DOMAIN_ERRORS, ImportFailedHandler(), OtherDomainErrorHandler()),
        extensions=[lambda: QueryLimits(documents), MaskUnexpectedErrors],
        config=StrawberryConfig(
            scalar_map={BigInt: BIG_INT_SCALAR, Upload: UPLOAD_SCALAR},
            name_converter=CachedNameConverter(),
        ),
    )
    built.documents = documents
    return built


schema = build_schema()
