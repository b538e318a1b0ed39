"""The custom runtime: model_service.py in a worker process with limits, timeouts and a
clean environment. Every model here is written by the test."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.serving.runtimes import _custom_worker
from app.serving.runtimes.base import RuntimeFailure, RuntimeOptions, TensorSpec
from app.serving.runtimes.custom import CustomRuntime
from tests.integration.runtimes.conftest import wait_gone
from tests.unit.runtimes.builders import B, W, expected, loaded, tensor, write_service

LINEAR = """
    import os
    import numpy as np

    class Linear:
        def __init__(self, model_dir):
            self.w = np.load(os.path.join(model_dir, "w.npy"))
            self.b = np.load("b.npy")  # the working directory is the package

        def preprocess(self, inputs):
            return inputs["x"].astype(np.float64)

        def predict(self, x):
            print("predicting", x.shape)  # goes to the log, not into the protocol
            return x @ self.w + self.b

        def postprocess(self, y):
            return {"y": y, "pid": [os.getpid()] * len(y)}
"""

PROBE = """
    import os, subprocess, time
    import numpy as np

    class Probe:
        def load(self, model_dir):
            self.model_dir = model_dir
            # Which worker answered (process ids are those of the sandbox's namespace).
            self.ident = int.from_bytes(os.urandom(6), "big")

        def predict(self, inputs):
            action = str(inputs["action"][0])
            if action == "exit":
                os._exit(3)
            if action == "hang":
                subprocess.Popen(["sleep", f"100.{self.ident}"], start_new_session=True)
                time.sleep(100)
            if action == "raise":
                raise ValueError("no such action")
            if action == "allocate":
                np.zeros(2**27)  # 1 GiB of address space
            env = os.environ
            seen = sorted(k for k in env if k.startswith(("MODELREPO_", "AWS_")))
            facts = [",".join(seen), env["HOME"], os.getcwd(), env.get("OMP_NUM_THREADS", "")]
            return {"pid": np.array([self.ident]), "facts": np.array([facts], dtype=object)}
"""

PROBE_CONFIG = {
    "inputs": [tensor("action", "string", [-1])],
    "outputs": [tensor("pid", "int64", [-1]), tensor("facts", "string", [-1, 4])],
}


def linear_package(root: Path, config: dict[str, object] | None = None) -> Path:
    package = write_service(root, LINEAR, config)
    np.save(package / "w.npy", W)
    np.save(package / "b.npy", B)
    return package


def probe(root: Path, timeout: float = 30.0, memory_limit_mb: int | None = None) -> CustomRuntime:
    package = write_service(root, PROBE, PROBE_CONFIG)
    options = RuntimeOptions(timeout_seconds=timeout, memory_limit_mb=memory_limit_mb)
    return CustomRuntime(package, options)


async def act(runtime: CustomRuntime, action: str) -> tuple[int, list[str]]:
    """The answering worker's identity, and what it saw."""
    result = await runtime.predict({"action": np.array([action], dtype=object)})
    return int(result["pid"][0]), list(result["facts"][0])


def hung_child_gone(ident: int, seconds: float = 5.0) -> bool:
    """Whether the ``sleep`` that worker ``ident`` started (in a session of its own) is gone."""
    deadline = time.monotonic() + seconds
    while True:
        running = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if f"100.{ident}".encode() in cmdline.read_bytes():
                    running.append(cmdline.parent.name)
            except OSError:
                continue
        if not [pid for pid in running if not wait_gone(int(pid), 0)]:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


@pytest.mark.parametrize("rows", [1, 64])
async def test_predicts_known_values(tmp_path: Path, rows: int) -> None:
    x = np.random.default_rng(rows).normal(size=(rows, 2)).astype(np.float32)
    config = {
        "inputs": [tensor("x", "float32", [-1, 2])],
        "outputs": [tensor("y", "float32", [-1, 3]), tensor("pid", "int64", [-1])],
    }
    async with loaded(CustomRuntime(linear_package(tmp_path, config))) as runtime:
        assert runtime.inputs == [TensorSpec("x", "FP32", (-1, 2))]
        assert runtime.outputs[0] == TensorSpec("y", "FP32", (-1, 3))
        assert not runtime.supports_batching
        result = await runtime.predict({"x": x})
    np.testing.assert_allclose(result["y"], expected(x), rtol=1e-6)
    assert result["y"].dtype == np.float32  # cast to the declared type
    assert result["pid"][0] != os.getpid()  # it ran in another process


async def test_a_batch_section_turns_batching_on(tmp_path: Path) -> None:
    config = {
        "inputs": [tensor("x", "float32", [-1, 2])],
        "outputs": [tensor("y", "float64", [-1, 3]), tensor("pid", "int64", [-1])],
        "batch": {"max_batch_size": 8, "timeout_ms": 5},
    }
    async with loaded(CustomRuntime(linear_package(tmp_path, config))) as runtime:
        assert runtime.supports_batching
        assert (runtime.options.max_batch_size, runtime.options.max_wait_ms) == (8, 5)


async def test_a_bare_result_is_the_single_output(tmp_path: Path) -> None:
    source = """
        class Upper:
            def predict(self, inputs):
                return [text.upper() for text in inputs["text"]]
    """
    config = {"inputs": [tensor("text", "string", [-1])], "outputs": [tensor("up", "string", [-1])]}
    async with loaded(CustomRuntime(write_service(tmp_path, source, config))) as runtime:
        result = await runtime.predict({"text": np.array(["ab", "çd"], dtype=object)})
    assert list(result["up"]) == ["AB", "ÇD"]


async def test_the_worker_sees_no_server_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELREPO_SECRET", "s3cr3t")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
    runtime = probe(tmp_path / "package")
    runtime.options.cpu_threads = 3
    async with loaded(runtime):
        _, (secrets, home, cwd, threads) = await act(runtime, "look")
    assert secrets == ""
    assert (home, cwd) == ("/tmp", "/model")  # a private tmpfs, the package read-only
    assert threads == "3"


async def test_a_crash_fails_the_request_and_the_next_one_works(tmp_path: Path) -> None:
    async with loaded(probe(tmp_path)) as runtime:
        first, _ = await act(runtime, "look")
        with pytest.raises(RuntimeFailure) as caught:
            await act(runtime, "exit")
        assert (caught.value.status, caught.value.message) == (
            502,
            "the model's worker exited with status 3",
        )
        second, _ = await act(runtime, "look")
    assert second != first


async def test_a_hang_times_out_and_the_worker_is_replaced(tmp_path: Path) -> None:
    async with loaded(probe(tmp_path, timeout=1)) as runtime:
        first, _ = await act(runtime, "look")
        started = time.monotonic()
        with pytest.raises(RuntimeFailure) as caught:
            await act(runtime, "hang")
        assert time.monotonic() - started < 5
        assert (caught.value.status, caught.value.message) == (
            504,
            "the model's worker took longer than 1 s",
        )
        assert hung_child_gone(first)  # the worker and every process it started
        second, _ = await act(runtime, "look")
    assert second != first


async def test_a_cancelled_request_does_not_leave_its_answer_to_the_next(tmp_path: Path) -> None:
    async with loaded(probe(tmp_path)) as runtime:
        first, _ = await act(runtime, "look")
        hung = asyncio.create_task(act(runtime, "hang"))
        await asyncio.sleep(0.5)
        hung.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hung
        assert hung_child_gone(first)  # the worker was mid-request: it cannot be reused
        second, _ = await act(runtime, "look")
    assert second != first


async def test_an_exception_fails_the_request_and_keeps_the_worker(tmp_path: Path) -> None:
    async with loaded(probe(tmp_path)) as runtime:
        first, _ = await act(runtime, "look")
        with pytest.raises(RuntimeFailure) as caught:
            await act(runtime, "raise")
        assert (caught.value.status, caught.value.message) == (
            500,
            "the model failed: ValueError: no such action",
        )
        assert (await act(runtime, "look"))[0] == first


async def test_the_memory_limit_fails_a_request_cleanly(tmp_path: Path) -> None:
    async with loaded(probe(tmp_path / "limited", memory_limit_mb=512)) as runtime:
        with pytest.raises(RuntimeFailure, match="the model failed: MemoryError") as caught:
            await act(runtime, "allocate")
        assert caught.value.status == 500
        await act(runtime, "look")  # still serving
    async with loaded(probe(tmp_path / "unlimited")) as runtime:
        await act(runtime, "allocate")  # the same allocation fits without the limit


async def test_a_model_that_fails_to_load_leaves_nothing_running(tmp_path: Path) -> None:
    source = """
        class Broken:
            def __init__(self, model_dir):
                raise RuntimeError("weights missing")

            def predict(self, data):
                return data
    """
    with pytest.raises(RuntimeFailure) as caught:
        async with loaded(CustomRuntime(write_service(tmp_path, source))):
            pass
    assert caught.value.message == "model_service.py failed to load: RuntimeError: weights missing"


async def test_a_slow_load_times_out(tmp_path: Path) -> None:
    source = """
        import time

        class Slow:
            def load(self):
                time.sleep(100)

            def predict(self, data):
                return data
    """
    options = RuntimeOptions(extra={"load_timeout_seconds": 1})
    with pytest.raises(
        RuntimeFailure, match=r"^the model's worker took longer than 1 s while loading$"
    ):
        async with loaded(CustomRuntime(write_service(tmp_path, source), options)):
            pass


async def test_a_package_without_model_service_fails_to_load(tmp_path: Path) -> None:
    write_service(tmp_path, "")
    (tmp_path / "model_service.py").unlink()
    with pytest.raises(RuntimeFailure, match=r"needs model_service\.py and config\.json"):
        await CustomRuntime(tmp_path).load()


def test_the_cpu_time_cap_stops_a_spinning_worker() -> None:
    code = f"import sys; sys.path[:0] = [{str(Path(_custom_worker.__file__).parent)!r}]\n"
    code += "from _custom_worker import _limit_cpu\n_limit_cpu(1)\nwhile True: pass\n"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], timeout=30, check=False)
    assert result.returncode == -signal.SIGXCPU
    assert time.monotonic() - started < 10
