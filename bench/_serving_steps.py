"""What each step of modelrepo's predict path costs for one single-row request, timed
in-process (no HTTP) with modelrepo's own functions on the benchmark's model: where the
time goes that the bare endpoint does not spend."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
from _serving_model import SINGLE_ROW, ModelFiles, body
from starlette.responses import JSONResponse

from app.services.keys import hash_key, key_matches
from app.serving.batcher import Batcher
from app.serving.codec import decode_v1, dump_json, encode_v1, parse_json
from app.serving.runtimes.base import RuntimeOptions
from app.serving.runtimes.onnx import OnnxRuntime


def _sync(fn: Callable[[], object], calls: int) -> float:
    for _ in range(min(calls, 200)):
        fn()
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6


async def _async(fn: Callable[[], Awaitable[object]], calls: int) -> float:
    for _ in range(min(calls, 50)):
        await fn()
    started = time.perf_counter()
    for _ in range(calls):
        await fn()
    return (time.perf_counter() - started) / calls * 1e6


async def _steps(files: ModelFiles, calls: int) -> list[list[object]]:
    package = Path(tempfile.mkdtemp(prefix="bench-serving-pkg-"))
    try:
        shutil.copy(files.onnx, package / "model.onnx")
        runtime = OnnxRuntime(package, RuntimeOptions())
        await runtime.load()
        raw = body([SINGLE_ROW])
        payload: Any = parse_json(raw)
        batch, fmt = decode_v1(payload, runtime.inputs, max_rows=10_000)
        outputs = await runtime.predict(batch)
        answer = encode_v1(outputs, fmt)
        header = {"x-model-version": "1"}
        key = "mr_" + "k" * 40
        stored = hash_key(key)
        session = runtime._session
        names = [spec.name for spec in runtime.outputs]
        feeds = {spec.name: batch[spec.name] for spec in runtime.inputs}
        wait0 = Batcher(runtime.predict, max_batch_size=64, max_wait_ms=0)
        cost = runtime._cost

        async def threaded(batch: dict[str, np.ndarray]) -> object:
            runtime._cost = None  # every run to the model's thread
            try:
                return await runtime.predict(batch)
            finally:
                runtime._cost = cost

        wait2 = Batcher(runtime.predict, max_batch_size=64, max_wait_ms=2)

        async def sixteen(batcher: Batcher) -> None:
            await asyncio.gather(*(batcher.submit(batch) for _ in range(16)))

        few = max(10, calls // 20)
        instances = payload["instances"]
        inputs = runtime.inputs
        rows: list[list[object]] = []
        for name, fn in (
            ("json.loads (all the bare endpoint does)", lambda: json.loads(raw)),
            ("parse_json (orjson + nesting check)", lambda: parse_json(raw)),
            ("np.asarray(rows, float32) (bare)", lambda: np.asarray(instances, dtype=np.float32)),
            (
                "decode_v1 (numeric rows fast path)",
                lambda: decode_v1(payload, inputs, max_rows=10_000),
            ),
            ("key_matches (sha256 + compare_digest)", lambda: key_matches(key, stored)),
            ("session.run inline (bare)", lambda: session.run(names, feeds)),
            ("encode_v1 (label + probabilities)", lambda: encode_v1(outputs, fmt)),
            ("JSONResponse(answer, headers) (bare)", lambda: JSONResponse(answer, headers=header)),
            ("dump_json(answer) (orjson)", lambda: dump_json(answer)),
        ):
            rows.append([name, _sync(fn, calls)])
        for name, coro, count, per in (
            ("OnnxRuntime.predict (as chosen at load)", lambda: runtime.predict(batch), calls, 1),
            ("OnnxRuntime.predict in its thread", lambda: threaded(batch), calls, 1),
            ("Batcher(wait 0).submit, a lone request", lambda: wait0.submit(batch), calls, 1),
            ("Batcher(wait 2 ms).submit, a lone request", lambda: wait2.submit(batch), few, 1),
            ("Batcher(wait 0), 16 concurrent, per request", lambda: sixteen(wait0), few, 16),
            ("Batcher(wait 2 ms), 16 concurrent, per request", lambda: sixteen(wait2), few, 16),
        ):
            rows.append([name, await _async(coro, count) / per])
        await wait0.close()
        await wait2.close()
        await runtime.unload()
        return rows
    finally:
        shutil.rmtree(package, ignore_errors=True)


def steps(files: ModelFiles, calls: int) -> list[list[object]]:
    """[step, microseconds per call] rows, measured on uvloop (the server's loop). Runs its
    own event loop: call it from a thread (asyncio.to_thread) when a loop is running."""
    try:
        import uvloop

        return uvloop.run(_steps(files, calls))
    except ImportError:
        return asyncio.run(_steps(files, calls))
