"""What the schema worked out about each query text it was sent, kept for the next request
with the same text: every client sends the same few.

A text is checked in this order, each step only if the one before found nothing wrong:
its size (before it is parsed), parsing under the token limit, the cost limits of
app.graphql.cost (fragments expanded, in one linear walk), then graphql-core's validation
rules, which strawberry runs on the first request of the text (``Checked.errors`` keeps
what they found; app.graphql.schema.QueryLimits hands both to strawberry).

The cache is bounded by entries and by bytes. An entry's bytes are its text's plus an
estimate of what its parsed document holds (the AST with its tokens and validation
errors: about 600 bytes a token, measured with tracemalloc; ``TOKEN_BYTES`` leaves room),
since the document, not the text, is most of it: 20 kB of text can parse into 2.4 MB.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from graphql import DocumentNode, GraphQLError, parse

from app.graphql.cost import Limits, cost_errors, size_error

TOKEN_BYTES = 1024


@dataclass(slots=True, eq=False)
class Checked:
    """A query text's document (None: refused before or while parsing) and the errors that
    refuse it: empty when it is valid, None while it has not been validated yet."""

    document: DocumentNode | None
    errors: list[GraphQLError] | None


class Documents:
    def __init__(
        self,
        limits: Limits,
        *,
        max_tokens: int,
        max_entries: int,
        max_bytes: int,
    ) -> None:
        self._limits = limits
        self._max_tokens = max_tokens
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[Checked, int]] = OrderedDict()
        self._lock = threading.Lock()  # execute_sync may be called from threads
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, query: str) -> Checked:
        with self._lock:
            found = self._entries.get(query)
            if found is not None:
                self._entries.move_to_end(query)
                return found[0]
        too_large = size_error(query, self._limits.max_bytes)
        if too_large is not None:
            return Checked(None, [too_large])  # not kept: the text is what is too large
        checked, weight = self._check(query)
        self._keep(query, checked, weight)
        return checked

    def _check(self, query: str) -> tuple[Checked, int]:
        size = len(query.encode("utf-8", "surrogatepass"))
        try:
            document = parse(query, max_tokens=self._max_tokens)
        except GraphQLError as error:
            return Checked(None, [error]), size
        errors = cost_errors(document, self._limits)
        return Checked(document, errors or None), size + TOKEN_BYTES * _tokens(document)

    def _keep(self, query: str, checked: Checked, weight: int) -> None:
        if weight > self._max_bytes:
            return
        with self._lock:
            if query in self._entries:  # checked meanwhile in another thread
                return
            self._entries[query] = (checked, weight)
            self.bytes += weight
            while self.bytes > self._max_bytes or len(self._entries) > self._max_entries:
                _, (_, evicted) = self._entries.popitem(last=False)
                self.bytes -= evicted


def _tokens(document: DocumentNode) -> int:
    count = 0
    token = document.loc.start_token if document.loc else None
    while token is not None:
        count += 1
        token = token.next
    return count
