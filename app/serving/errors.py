"""The data plane's one error type and the one mapping from an error to an answer.

Whatever refuses a request or fails to answer it (the access check, a body over its limit,
the codecs, the routing table, a runtime) raises a ``ServingError`` carrying the HTTP
status to answer with and the message the client reads; the codecs' ``ProtocolError`` and
the runtimes' ``RuntimeFailure`` are its kinds, with their own default status.
``error_answer`` turns any exception into the status and body the data plane sends.
"""

from __future__ import annotations

import logging
import uuid

log = logging.getLogger("modelrepo.serving")


class ServingError(Exception):
    """A request refused or not answered: ``status`` is the HTTP status of the answer and
    ``message`` the reason, sent as ``{"error": message}``."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ClientGone(Exception):
    """The client went away, or its body timed out (the server then reports a disconnect),
    before its request arrived: nobody to answer and nothing to record."""


def error_answer(exc: Exception, path: str) -> tuple[int, dict[str, str]]:
    """The status and body answering a request that failed with ``exc``: a ServingError's
    own; anything else is a 500 naming a request id, logged with its traceback."""
    if isinstance(exc, ServingError):
        return exc.status, {"error": exc.message}
    request_id = uuid.uuid4().hex
    log.error("request %s: unexpected error in %s", request_id, path, exc_info=exc)
    return 500, {"error": f"internal error (request id {request_id})"}
