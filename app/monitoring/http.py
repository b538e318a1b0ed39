"""GET /metrics: the Prometheus text exposition of this server process."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response


async def metrics(request: Request) -> Response:
    monitoring = request.app.state.container.monitoring
    if monitoring is None:
        return PlainTextResponse("monitoring is off (MODELREPO_MONITORING=false)\n", 404)
    return Response(
        generate_latest(monitoring.registry), headers={"content-type": CONTENT_TYPE_LATEST}
    )
