"""Reading a request body from ASGI ``receive``, within a size limit: the one body reader
of the data plane's front ends (the Starlette routes and the plain ASGI v1 path) and of
the GraphQL gate (app.graphql.gate)."""

from __future__ import annotations

from starlette.types import Message, Receive

from app.serving.errors import ClientGone, ServingError


async def read_body(receive: Receive, declared: str | bytes | None, limit: int) -> bytes:
    """The whole body. Raises ServingError (413) when the declared Content-Length or the
    bytes that arrive exceed ``limit`` (the declared length before anything is read), and
    ClientGone when the client disconnects first."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ServingError(f"request body larger than {limit} bytes", 413)
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            raise ClientGone()
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise ServingError(f"request body larger than {limit} bytes", 413)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
