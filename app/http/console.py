"""The web console: the built single-page app under ``web/dist``, served at ``/``.

It answers only what no other route does (it is the router's default), so it can never
shadow ``/graphql``, ``/healthz``, ``/metrics`` or the data plane. Client-side routes such as
``/models/<id>`` get ``index.html``; a missing build gets a page saying how to build it.
"""

from __future__ import annotations

from pathlib import Path, PurePath

from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

# The API's own prefixes: an unknown path below them is a 404, never the console.
RESERVED = ("/graphql", "/healthz", "/metrics", "/v1/", "/v2/")
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "web" / "dist"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>modelrepo: console not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>The web console is not built</h1>
<p>The API is up: GraphQL at <a href="/graphql">/graphql</a>.</p>
<p>Build the console with <code>make console</code> (or start the server with
<code>make run</code>, which builds it when needed). It needs Node.js 20 and npm:
<code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>.</p>
<p>Looked for <code>{index}</code>.</p>
</body></html>
"""


class _SinglePageFiles(StaticFiles):
    """Static files; a path without a file extension that is not a file is a client-side
    route and gets ``index.html``."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404 or PurePath(path).suffix:
                raise
            response = await super().get_response("index.html", scope)
        if not path.startswith("assets/"):
            # index.html names the hashed bundles; it must never be stale.
            response.headers["cache-control"] = "no-cache"
        else:
            response.headers["cache-control"] = "public, max-age=31536000, immutable"
        return response


def console_app(directory: Path | None = None) -> ASGIApp:
    root = directory or DEFAULT_DIR
    files = _SinglePageFiles(directory=root, check_dir=False)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith(RESERVED) or scope["method"] not in ("GET", "HEAD"):
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return
        index = root / "index.html"
        if not index.is_file():
            page = NOT_BUILT.replace("{index}", str(index))
            await HTMLResponse(page, status_code=503)(scope, receive, send)
            return
        await files(scope, receive, send)

    return app
