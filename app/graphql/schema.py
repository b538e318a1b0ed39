"""The GraphQL schema: features merged, limits on, unexpected errors masked."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.tools import merge_types

from app.graphql.history.queries import HistoryQueries
from app.graphql.models.mutations import ModelMutations
from app.graphql.models.queries import ModelQueries
from app.graphql.tokens.schema import TokenMutations, TokenQueries

log = logging.getLogger("modelrepo.graphql")

Query = merge_types("Query", (ModelQueries, HistoryQueries, TokenQueries))
Mutation = merge_types("Mutation", (ModelMutations, TokenMutations))


def _should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    # Permission messages are meant for the caller.
    from strawberry.exceptions import StrawberryGraphQLError

    if isinstance(original, StrawberryGraphQLError):
        return False
    log.error("unexpected error in %s", error.path, exc_info=original)
    return True


def build_schema(
    *, max_depth: int = 12, max_aliases: int = 30, max_tokens: int = 4000
) -> strawberry.Schema:
    # Factories: strawberry builds fresh extension instances per request.
    extensions: list[Any] = [
        lambda: QueryDepthLimiter(max_depth=max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=max_aliases),
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: MaskErrors(
            should_mask_error=_should_mask,
            error_message="Internal error; the server log has the details for this request id.",
        ),
    ]
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=extensions)


schema = build_schema()
