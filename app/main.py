"""The ASGI application. Nothing is opened at import time; the lifespan does it."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, Router, WebSocketRoute

from app.bootstrap import Container, build
from app.graphql.gate import AuthGate, GraphQLFirst
from app.graphql.schema import build_schema
from app.graphql.view import ModelrepoGraphQL
from app.http.console import console_app
from app.http.downloads import routes as download_routes
from app.http.links import SignedLinks
from app.monitoring.http import metrics
from app.services.projector import stop
from app.serving.asgi_v1 import PredictV1Middleware
from app.serving.http import routes as serving_routes
from app.settings import Settings

log = logging.getLogger("modelrepo")


def create_app(settings: Settings | None = None, container: Container | None = None) -> Starlette:
    """The app; with ``container`` given (tests), it is used instead of building one."""
    settings = settings or Settings()
    holder: dict[str, Container] = {}

    def get_container() -> Container:
        return holder["container"]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = container is None
        current = container if container is not None else await build(settings)
        holder["container"] = current
        app.state.container = current
        if settings.bootstrap_admin_token:
            secret = await current.tokens.bootstrap_admin()
            if secret:
                print(
                    "modelrepo: the store had no API token; created an admin token"
                    f" (shown only now):\n\n    {secret}\n",
                    file=sys.stderr,
                    flush=True,
                )
        follower = asyncio.create_task(current.projector.run(settings.projection_poll_seconds))
        await current.serving.start()
        worker = (
            asyncio.create_task(current.batch_worker.run_forever())
            if settings.batch_worker
            else None
        )
        optimizer = (
            asyncio.create_task(current.optimization_worker.run_forever())
            if settings.optimization_worker
            else None
        )
        monitoring = current.monitoring
        rollup = (
            asyncio.create_task(monitoring.rollup.run_forever()) if monitoring is not None else None
        )
        # Long-lived start-up objects need not be scanned by every GC pass.
        gc.freeze()
        try:
            yield
        finally:
            if worker is not None:
                await stop(worker)
            if optimizer is not None:
                await stop(optimizer)
            await current.serving.stop()
            if monitoring is not None and rollup is not None:
                monitoring.rollup.stop()
                await rollup
                await monitoring.rollup.flush_quietly()  # what the last interval recorded
            await stop(follower)
            if owned:
                await current.close()

    schema = build_schema(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_fields=settings.max_query_fields,
        max_fragments=settings.max_fragments,
        max_bytes=settings.max_query_bytes,
        cache_bytes=settings.graphql_cache_bytes,
    )
    # Multipart uploads are safe from cross-site requests here: every request must carry
    # an Authorization header, which a cross-site form cannot send without a preflight.
    graphql = ModelrepoGraphQL(
        schema,
        get_container,
        graphql_ide="graphiql" if settings.graphiql else None,
        multipart_uploads_enabled=True,
        max_json_depth=settings.max_json_depth,
        max_json_bytes=settings.max_request_bytes,
    )
    gate = AuthGate(
        graphql,
        get_container,
        max_body=settings.max_request_bytes,
        max_upload=settings.max_upload_bytes,
        graphiql=settings.graphiql,
    )

    async def health(request: Request) -> JSONResponse:
        position = holder["container"].projector.position if holder else 0
        return JSONResponse({"status": "ok", "projected_position": position})

    downloads = Router(routes=download_routes)
    files = AuthGate(
        downloads,
        get_container,
        max_body=settings.max_request_bytes,
        max_upload=settings.max_request_bytes,
        graphiql=False,
    )
    app = Starlette(
        routes=[
            Route("/graphql", gate, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", gate),
            Route("/healthz", health),
            Route("/metrics", metrics, methods=["GET"]),
            # Signed download links (app.http.links) need no token; the rest pass the gate.
            Mount("/v1/versions", SignedLinks(files, downloads)),
            *serving_routes,
        ],
        # The v1 predict and GraphQL hot paths, answered before Starlette's own
        # per-request machinery.
        middleware=[Middleware(PredictV1Middleware), Middleware(GraphQLFirst, gate=gate)],
        lifespan=lifespan,
    )
    # The console answers only what no route matches, so it never shadows one.
    app.router.default = console_app(settings.console_dir)
    return app
