"""The data plane: answers v1 (KServe / TensorFlow Serving) and v2 (Open Inference
Protocol) requests end to end, over the in-memory model registry it extends
(:class:`app.serving.deployments.Deployments`).

For a predict request it finds the service (by Host, else by name), checks the access key,
reads and parses the body within the limits, lets the service's routing table choose the
version, decodes, predicts, encodes and records the answer for monitoring. Its front ends,
the Starlette routes (:mod:`app.serving.http`) and the plain ASGI v1 path
(:mod:`app.serving.asgi_v1`), only translate HTTP into a :class:`Call` and an
:class:`Answer` back. Every failure is a ServingError answered through ``error_answer``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.services.keys import key_matches
from app.serving.codec import (
    decode_v1,
    decode_v2,
    dump_json,
    encode_v1,
    encode_v2,
    metadata_v2,
    parse_json,
    status_v1,
)
from app.serving.deployments import Deployments, Loaded, ServiceState
from app.serving.errors import ClientGone, ServingError, error_answer

# Reads the request body given the most bytes it may have (ServingError 413 beyond them,
# ClientGone when the client leaves first): app.serving.request_body.read_body, bound.
ReadBody = Callable[[int], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class PredictLimits:
    """A predict body's largest size in bytes, rows and JSON nesting."""

    max_bytes: int = 20 * 1024**2
    max_rows: int = 10_000
    max_depth: int = 64


@dataclass(slots=True)  # not frozen: its __init__ would cost a microsecond more
class Call:
    """A request to the data plane: the service it names, the Host it was sent to, its
    Authorization headers, and its path (named in the log of an unexpected error)."""

    name: str
    host: str | None
    authorizations: list[str]
    path: str


@dataclass(slots=True)  # not frozen: its __init__ would cost a microsecond more
class Answer:
    """What the data plane answers: a status, a JSON body, and the number of the version
    that answered (sent as ``x-model-version``) once one was chosen."""

    status: int
    content: bytes
    version: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """A sample payload's answer (testService): status, JSON value, latency, version."""

    status: int
    body: dict[str, Any]
    latency_ms: float
    version_number: int | None


class DataPlane(Deployments):
    """The deployments (the model registry it extends) answering requests."""

    # A predict body's limits; bootstrap sets the server's (app.settings).
    limits: PredictLimits = PredictLimits()

    # -- predictions ----------------------------------------------------------------------

    async def predict_v1(self, call: Call, read_body: ReadBody) -> Answer:
        """``POST /v1/models/{name}:predict``. Raises ClientGone (nothing to answer)."""
        return await self._predict(call, read_body, v2=False)

    async def infer_v2(self, call: Call, read_body: ReadBody) -> Answer:
        """``POST /v2/models/{name}/infer``. Raises ClientGone (nothing to answer)."""
        return await self._predict(call, read_body, v2=True)

    async def _predict(self, call: Call, read_body: ReadBody, *, v2: bool) -> Answer:
        started = time.perf_counter()
        state: ServiceState | None = None
        version: int | None = None
        try:
            state = self._service(call)
            self._check_key(state, call.authorizations)
            limits = self.limits
            payload = parse_json(await read_body(limits.max_bytes), max_depth=limits.max_depth)
            loaded = self.choose(state)
            version = loaded.number
            if v2:
                body = await self._infer_v2(state, loaded, payload)
            else:
                body = await self._predict_v1(loaded, payload)
            status = 200
        except ClientGone:
            raise
        except Exception as exc:
            status, body = error_answer(exc, call.path)
        content = dump_json(body)
        # Recorded for the service it reached, refusals too (unknown services are not).
        recorder = self.recorder
        if recorder is not None and state is not None:
            seconds = time.perf_counter() - started
            recorder.record(state.row.id, state.row.name, version, status, seconds)
        return Answer(status, content, version)

    async def _predict_v1(self, loaded: Loaded, payload: Any) -> dict[str, Any]:
        batch, fmt = decode_v1(payload, loaded.runtime.inputs, max_rows=self.limits.max_rows)
        return encode_v1(await loaded.predict(batch), fmt)

    async def _infer_v2(self, state: ServiceState, loaded: Loaded, payload: Any) -> dict[str, Any]:
        batch = decode_v2(payload, loaded.runtime.inputs, max_rows=self.limits.max_rows)
        outputs = await loaded.predict(batch)
        answer_id = payload.get("id")  # decode_v2 took an object with a string id or none
        name, number = state.row.name, str(loaded.number)
        return encode_v2(name, number, outputs, id=str(answer_id) if answer_id else None)

    async def predict_sample(self, state: ServiceState, payload: Any) -> Outcome:
        """A v1 payload through ``state``'s routing table as ``predict_v1`` answers it, for
        testService: no access check, no record; its errors other than ServingErrors raise."""
        started = time.perf_counter()
        loaded: Loaded | None = None
        try:
            loaded = self.choose(state)
            body, status = await self._predict_v1(loaded, payload), 200
        except ServingError as exc:
            status, body = error_answer(exc, "testService")
        latency_ms = (time.perf_counter() - started) * 1000
        return Outcome(status, body, latency_ms, loaded.number if loaded else None)

    # -- the other requests (not recorded) ----------------------------------------------

    def model_status_v1(self, call: Call) -> Answer:
        """``GET /v1/models/{name}`` (TensorFlow Serving's model status)."""

        def build(state: ServiceState) -> tuple[int, dict[str, Any]]:
            row, router = state.row, state.router
            versions = sorted({t.number for t, _ in router.targets}) if router else []
            return 200, status_v1(versions, row.status, row.status_reason)

        return self._answer(call, build)

    def model_metadata_v2(self, call: Call) -> Answer:
        """``GET /v2/models/{name}``: 503 while the service is not serving."""

        def build(state: ServiceState) -> tuple[int, dict[str, Any]]:
            runtime = self.choose(state).runtime
            router = state.router
            versions = sorted({str(t.number) for t, _ in router.targets}) if router else []
            body = metadata_v2(
                state.row.name, versions, runtime.inputs, runtime.outputs, runtime.name
            )
            return 200, body

        return self._answer(call, build)

    def model_ready_v2(self, call: Call) -> Answer:
        """``GET /v2/models/{name}/ready``: 200 while serving, else 503."""

        def build(state: ServiceState) -> tuple[int, dict[str, Any]]:
            ready = state.router is not None
            return (200 if ready else 503), {"name": state.row.name, "ready": ready}

        return self._answer(call, build)

    def _answer(
        self, call: Call, build: Callable[[ServiceState], tuple[int, dict[str, Any]]]
    ) -> Answer:
        try:
            state = self._service(call)
            self._check_key(state, call.authorizations)
            status, body = build(state)
        except Exception as exc:
            status, body = error_answer(exc, call.path)
        return Answer(status, dump_json(body))

    # -- access and routing -----------------------------------------------------------------

    def _service(self, call: Call) -> ServiceState:
        state = self.find(call.name, call.host)
        if state is None:
            raise ServingError(f"no service named {call.name[:80]!r}", 404)
        return state

    @staticmethod
    def _check_key(state: ServiceState, authorizations: list[str]) -> None:
        """ServingError: 400 several Authorization headers; 401 no key or the wrong one.
        The key is compared in constant time with the stored hash and opens its own
        service only."""
        if len(authorizations) > 1:
            raise ServingError("send one Authorization header, not several", 400)
        if not authorizations or not authorizations[0].strip():
            raise ServingError("send the service's access key: Authorization: <key>", 401)
        sent = authorizations[0].strip()
        scheme, _, rest = sent.partition(" ")
        key = rest.strip() if scheme.lower() == "bearer" else sent
        if not key_matches(key, state.row.key_hash):
            raise ServingError(f"the access key does not open service {state.row.name}", 401)

    def choose(self, state: ServiceState) -> Loaded:
        """The version to answer, by the service's traffic split; 503 while not serving."""
        if state.router is None:
            status = state.row.status.lower()
            raise ServingError(f"service {state.row.name} is not serving ({status})", 503)
        return state.router.next()
