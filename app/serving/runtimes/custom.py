"""Custom runtime: the package's ``model_service.py``, run in a worker process (user code).

``model_service.py``: its first class with a ``predict`` method is the model, built as
``Model(model_dir)`` (or ``Model()`` when ``__init__`` takes no argument), then ``load(model_dir)``
(or ``load()``) if defined. A request runs ``preprocess(inputs)`` (optional; numpy arrays by
input name, batch on axis 0, strings/bytes as object arrays) -> ``predict(data)`` ->
``postprocess(result)`` (optional) -> outputs by name (arrays or lists; a lone declared output
may be returned bare). ``config.json`` declares inputs and outputs; a ``batch`` section turns
batching on and replaces ``options.max_batch_size`` / ``max_wait_ms``.

The worker runs in a sandbox (``app.sandbox``: its own namespaces and unprivileged uid, the
package read-only at ``/model``, its working folder; a private ``/tmp`` as ``HOME``) with an
environment built from nothing (no server secrets), an address-space limit
(``memory_limit_mb``, never above the server's ceiling), process, file and CPU-time caps. A
request slower than ``timeout_seconds`` fails with 504, one whose worker dies with 502; either
way the worker and every process it started are killed and the next request starts a fresh
one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any, ClassVar

from app.sandbox import Layout, SandboxUnavailable
from app.serving.runtimes import _custom_worker as wire
from app.serving.runtimes.base import (
    DATATYPES,
    Batch,
    NotLoaded,
    Runtime,
    RuntimeFailure,
    RuntimeOptions,
    read_config,
)

logger = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024 * 1024


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self.process = process
        self.logs = asyncio.create_task(self._log(name))

    async def _log(self, name: str) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            logger.info("%s: %s", name, line.decode("utf-8", "replace").rstrip()[:2000])

    async def exchange(self, batch: Batch | None, seconds: float) -> tuple[dict[str, Any], Batch]:
        """Send ``batch`` and read the answer (None: read the answer to loading). A timeout
        (504), a dead worker or a garbled answer (502) stops the worker: RuntimeFailure."""
        try:
            return await asyncio.wait_for(self._exchange(batch), seconds)
        except BaseException as exc:
            code = await asyncio.shield(self.stop(grace=0))
            during, loading = (" while loading", 500) if batch is None else ("", 0)
            if isinstance(exc, TimeoutError):
                why = f"took longer than {seconds:g} s{during}"
                raise RuntimeFailure(f"the model's worker {why}", loading or 504) from exc
            if isinstance(exc, asyncio.IncompleteReadError | ConnectionError | wire.WireError):
                why = f"{_ended(code)}{during}"
                raise RuntimeFailure(f"the model's worker {why}", loading or 502) from exc
            raise

    async def _exchange(self, batch: Batch | None) -> tuple[dict[str, Any], Batch]:
        assert self.process.stdin is not None and self.process.stdout is not None
        if batch is not None:
            self.process.stdin.write(wire.encode({}, batch))
            await self.process.stdin.drain()
        text_size, body_size = wire.HEAD.unpack(
            await self.process.stdout.readexactly(wire.HEAD.size)
        )
        if text_size > wire.MAX_HEADER or body_size > MAX_BODY:
            raise wire.WireError("the answer is too large")
        text = await self.process.stdout.readexactly(text_size)
        return wire.decode(text, await self.process.stdout.readexactly(body_size))

    async def stop(self, grace: float = 5.0) -> int:
        """End the worker (EOF, then SIGKILL to its whole session) and collect it; its exit
        status (negative: the signal that ended it)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the children it started too
        code = await self.process.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.stdout.read(), 5)  # to EOF: the pipe closes
            await asyncio.wait_for(self.logs, 5)
        self.logs.cancel()
        return code


class CustomRuntime(Runtime):
    name: ClassVar[str] = "custom"
    supports_batching = False

    def __init__(self, package: Path, options: RuntimeOptions | None = None) -> None:
        super().__init__(package, options)
        self._lock = asyncio.Lock()
        self._layout: Layout | None = None
        self._network = False
        self._worker: _Worker | None = None

    async def load(self) -> None:
        config = read_config(self.package)
        if config is None or not (self.package / "model_service.py").is_file():
            raise RuntimeFailure("a custom runtime needs model_service.py and config.json")
        self.inputs, self.outputs = config.inputs, config.outputs
        if config.batch is not None:
            self.supports_batching = True
            wait = config.batch.get("timeout_ms", self.options.max_wait_ms)
            size = config.batch["max_batch_size"]
            self.options = dataclasses.replace(self.options, max_batch_size=size, max_wait_ms=wait)
        self._network = config.network
        self._layout = self.options.sandbox.layout(self.package)
        try:
            self._worker = await self._start(self._layout)
        except BaseException:
            await self.unload()
            raise

    async def _start(self, layout: Layout) -> _Worker:
        cores, outputs = os.cpu_count() or 1, [spec.name for spec in self.outputs]
        load_timeout = float(self.options.extra.get("load_timeout_seconds", 300.0))
        settings: dict[str, Any] = {"model_dir": layout.model_dir, "outputs": outputs}
        # CPU-time caps: a backstop behind the wall-clock timeouts (e.g. if the server dies).
        settings["cpu_seconds"] = self.options.timeout_seconds * cores + 1
        settings["load_cpu_seconds"] = load_timeout * cores + 1
        threads = str(max(1, self.options.cpu_threads))
        try:
            process = await self.options.sandbox.start(
                Path(wire.__file__),
                [json.dumps(settings)],
                layout,
                package=self.package,
                network=self._network,
                memory_mb=self.options.memory_limit_mb,
                environment={f"{n}_NUM_THREADS": threads for n in ("OMP", "OPENBLAS", "MKL")},
            )
        except SandboxUnavailable as exc:
            raise RuntimeFailure(str(exc), 501) from None
        worker = _Worker(process, self.package.name)
        header, _ = await worker.exchange(None, load_timeout)
        if not header.get("ok"):
            await worker.stop()
            raise RuntimeFailure(f"model_service.py failed to load: {header.get('error')}")
        return worker

    @property
    def loaded(self) -> bool:
        return self._layout is not None

    async def infer(self, batch: Batch) -> Batch:
        async with self._lock:
            if self._layout is None:  # unloaded while this request waited for the lock
                raise NotLoaded()
            worker, self._worker = self._worker or await self._start(self._layout), None
            header, arrays = await worker.exchange(batch, self.options.timeout_seconds)
            self._worker = worker  # only after a complete exchange
        if not header.get("ok"):
            raise RuntimeFailure(f"the model failed: {header.get('error')}", 500)
        if missing := [spec.name for spec in self.outputs if spec.name not in arrays]:
            raise RuntimeFailure(f"the model returned no output {missing[0]!r}", 500)
        try:  # the declared outputs, numbers cast to their declared types
            return {
                spec.name: arrays[spec.name]
                if spec.datatype == "BYTES"
                else arrays[spec.name].astype(DATATYPES[spec.datatype], copy=False)
                for spec in self.outputs
            }
        except (TypeError, ValueError) as exc:
            raise RuntimeFailure(f"the model returned a wrongly typed output: {exc}", 500) from exc

    async def unload(self) -> None:
        async with self._lock:  # after a request in flight (at most timeout_seconds)
            worker, self._worker = self._worker, None
            if worker is not None:
                await worker.stop()
            if self._layout is not None:
                await asyncio.to_thread(self._layout.cleanup)
                self._layout = None
        await super().unload()


def _ended(code: int) -> str:
    if code == -signal.SIGXCPU:
        return "was stopped for using too much CPU time"
    return f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
