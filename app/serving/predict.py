"""One v1 prediction through a service's current routing table (HTTP and testService)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from app.serving.codec import ProtocolError, decode_v1, encode_v1
from app.serving.plane import DataPlane, Loaded, ServiceState
from app.serving.runtimes.base import RuntimeFailure


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a predict call answered (for testService as much as for HTTP)."""

    status: int
    body: dict[str, Any]
    latency_ms: float
    version_number: int | None


async def run_v1(plane: DataPlane, state: ServiceState, payload: Any, max_rows: int) -> Outcome:
    started = time.perf_counter()
    loaded: Loaded | None = None
    try:
        loaded = plane.choose(state)
        batch, fmt = decode_v1(payload, loaded.runtime.inputs, max_rows=max_rows)
        body = encode_v1(await loaded.predict(batch), fmt)
        status = 200
    except (ProtocolError, RuntimeFailure) as exc:
        status, body = exc.status, {"error": exc.message}
    return Outcome(
        status, body, (time.perf_counter() - started) * 1000, loaded.number if loaded else None
    )
