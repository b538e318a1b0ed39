"""The scalars the schema maps: BigInt (sizes in bytes) and Upload (a file of a
multipart request)."""

from __future__ import annotations

from typing import NewType

import strawberry
from graphql import GraphQLError
from starlette.datastructures import UploadFile

# Sizes in bytes outgrow GraphQL's 32-bit Int; the schema maps this to a BigInt scalar.
BigInt = NewType("BigInt", int)
BIG_INT_SCALAR = strawberry.scalar(
    name="BigInt",
    description="An integer that may not fit in 32 bits (sizes in bytes).",
    serialize=int,
    parse_value=int,
)


def _parse_upload(value: object) -> UploadFile:
    # The multipart view puts the files in place of their variables; anything else came
    # as JSON (or as a literal in the query), and a GraphQLError says so to the caller
    # where any other exception would be an internal error.
    if not isinstance(value, UploadFile):
        raise GraphQLError(
            "Upload takes a file sent as a part of a GraphQL multipart request"
            " (https://github.com/jaydenseric/graphql-multipart-request-spec), not a JSON value"
        )
    return value


UPLOAD_SCALAR = strawberry.scalar(
    name="Upload",
    description="Represents a file upload.",
    serialize=lambda value: value,
    parse_value=_parse_upload,
)
