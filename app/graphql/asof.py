"""The ``asOf`` argument of queries that rebuild state at a past moment."""

from __future__ import annotations

from datetime import datetime

from graphql import GraphQLError


def check_as_of(as_of: datetime) -> datetime:
    """A moment with a time zone (a naive time would silently mean the server's zone)."""
    if as_of.tzinfo is None:
        raise GraphQLError("asOf needs a time zone, e.g. 2026-01-31T12:00:00Z")
    return as_of
