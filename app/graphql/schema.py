"""The GraphQL schema: features merged, limits on, unexpected errors masked."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
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
from strawberry.extensions import (
    MaskErrors,
    SchemaExtension,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.file_uploads import Upload
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.schema.name_converter import NameConverter
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperation

from app.graphql._documents import Checked, Documents
from app.graphql._inputs import plan_inputs
from app.graphql._plans import Plan, planner
from app.graphql._runner import LeanExtensionsRunner
from app.graphql.batch.schema import BatchMutations, BatchQueries
from app.graphql.batch.updates import BatchSubscriptions
from app.graphql.cost import Limits
from app.graphql.errors import DOMAIN_ERRORS, OtherDomainErrorHandler
from app.graphql.history.feed import FeedSubscriptions
from app.graphql.history.queries import HistoryQueries
from app.graphql.models.files import BIG_INT_SCALAR, BigInt
from app.graphql.models.inputs import UPLOAD_SCALAR
from app.graphql.models.links import DownloadLinkMutations
from app.graphql.models.mutations import ImportFailedHandler, ModelMutations
from app.graphql.models.queries import ModelQueries
from app.graphql.monitoring.queries import MonitoringQueries
from app.graphql.optimize.schema import OptimizationMutations, OptimizationQueries
from app.graphql.services.schema import ServiceMutations, ServiceQueries
from app.graphql.tokens.schema import TokenMutations, TokenQueries
from app.graphql.training.schema import TrainingMutations, TrainingQueries
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
    """Parsing, the limits and validation, each done once for a query text and kept
    (app.graphql._documents: every client sends the same few), and the error masking:
    what strawberry's MaxTokensLimiter, ParserCache, AddValidationRules, ValidationCache
    and MaskErrors do together, as one extension with one hook, because every extension
    and every hook costs every request.

    Both are done as the operation starts; strawberry then finds the document parsed and
    validated and only checks the operation type in between, as it would. A query refused
    before it was parsed (too large) or while it was (a syntax error) is given to strawberry
    as a stand-in document of one query with the refusal as its errors, so that strawberry
    answers with them and never parses the text itself."""

    def __init__(self, check: Callable[[str], Checked]) -> None:
        super().__init__()
        self._check = check

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        if query:
            checked = self._check(query)
            document = checked.document
            if document is None:
                # (the operation name asked for, the document being unset)
                document = _stand_in(context.operation_name)
            context.graphql_document = document
            context.pre_execution_errors = checked.errors
        yield from super().on_operation()


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
    # Planned execution of the operations clients repeat (app.graphql._plans); set by
    # build_schema.
    plan_for: Callable[[str, str | None], Plan | None] = staticmethod(lambda _q, _o: None)
    # Every query text's parse, checks and plans (set by build_schema).
    documents: Documents

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

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return LeanExtensionsRunner(execution_context=execution_context, extensions=extensions)


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
    built: ModelrepoSchema  # (its documents are set below, before any request)
    extensions: list[Any] = [lambda: CachedLimits(built.documents.check)]
    built = ModelrepoSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Domain errors as union members; the first handler that fits answers.
        exception_handlers=(*DOMAIN_ERRORS, ImportFailedHandler(), OtherDomainErrorHandler()),
        extensions=extensions,
        config=StrawberryConfig(
            scalar_map={BigInt: BIG_INT_SCALAR, Upload: UPLOAD_SCALAR},
            name_converter=CachedNameConverter(),
        ),
    )
    plan_inputs(built)
    limits = Limits(
        max_bytes=max_bytes,
        max_fragments=max_fragments,
        max_fields=max_fields,
        max_depth=max_depth,
        max_aliases=max_aliases,
    )
    built.documents = Documents(
        built._schema,
        limits,
        max_tokens=max_tokens,
        max_entries=CACHE_SIZE,
        max_bytes=cache_bytes,
    )
    built.plan_for = planner(built._schema, built.documents.check)
    return built


schema = build_schema()
