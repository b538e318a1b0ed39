"""Exports a PyTorch (native) model to TorchScript or ONNX, in a process of its own: the model
is built by the package's ``model_service.py`` (user code), as the custom runtime builds it.

Run as ``python -P -s _export_worker.py SETTINGS_JSON`` in the package folder. Settings:
``model_dir``, ``target`` (torchscript or onnx), ``output``, ``inputs`` (an .npz of the
example, ``example/<name>``, and the samples, ``<i>/<name>``), ``reference`` (an .npz to write
the eager outputs to), ``repeats`` and ``cpu_seconds``. The last line on stdout is a JSON
result: ``{"ok": true, "p50_ms": ...}`` or ``{"ok": false, "error": ...}``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import resource
import sys
import time
import traceback
import warnings
from typing import Any


def _model(model_dir: str) -> Any:
    module = importlib.import_module("model_service")
    classes = [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if c.__module__ == module.__name__ and callable(getattr(c, "predict", None))
    ]
    if not classes:
        raise RuntimeError("model_service.py has no class with a predict method")
    cls: Any = classes[0]
    takes_dir = len(inspect.signature(cls.__init__).parameters) > 1
    model = cls(model_dir) if takes_dir else cls()
    load = getattr(model, "load", None)
    if callable(load):
        load(model_dir) if inspect.signature(load).parameters else load()
    return model


def _torch_module(model: Any) -> Any:
    import torch

    if isinstance(model, torch.nn.Module):
        return model
    preferred = getattr(model, "model", None)
    if isinstance(preferred, torch.nn.Module):
        return preferred
    for value in vars(model).values():
        if isinstance(value, torch.nn.Module):
            return value
    raise RuntimeError(
        "model_service.py's model holds no torch.nn.Module"
        " (keep it in an attribute, e.g. self.model)"
    )


def _outputs(result: Any) -> dict[str, Any]:
    if isinstance(result, dict):
        return {str(k): v.detach().numpy() for k, v in result.items()}
    if isinstance(result, tuple | list):
        return {f"output__{i}": v.detach().numpy() for i, v in enumerate(result)}
    return {"output__0": result.detach().numpy()}


def main(settings: dict[str, Any]) -> dict[str, Any]:
    cpu = int(settings["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    import numpy as np
    import torch

    stored = np.load(settings["inputs"])
    names = [key.split("/", 1)[1] for key in stored.files if key.startswith("example/")]
    example = tuple(torch.from_numpy(stored[f"example/{n}"]) for n in names)
    count = len({key.split("/", 1)[0] for key in stored.files}) - 1
    module = _torch_module(_model(settings["model_dir"])).eval()
    try:
        with torch.inference_mode():
            reference = [
                _outputs(module(*(torch.from_numpy(stored[f"{i}/{n}"]) for n in names)))
                for i in range(count)
            ]
    except Exception as exc:
        raise RuntimeError(f"the example input does not fit the model: {exc}") from None
    timings = []
    with torch.inference_mode():
        for _ in range(3 + int(settings["repeats"])):
            start = time.perf_counter()
            module(*example)
            timings.append(time.perf_counter() - start)
    if settings["target"] == "onnx":
        outputs = list(reference[0])
        torch.onnx.export(
            module,
            example,
            settings["output"],
            input_names=names,
            output_names=outputs,
            dynamic_axes={n: {0: "batch"} for n in [*names, *outputs]},
            dynamo=False,
        )
    else:
        traced = torch.jit.trace(module, example)  # type: ignore[no-untyped-call]
        torch.jit.save(traced, settings["output"])
    np.savez(
        settings["reference"],
        **{f"{i}/{n}": v for i, found in enumerate(reference) for n, v in found.items()},
    )
    return {"ok": True, "p50_ms": float(np.median(timings[3:])) * 1000.0}


if __name__ == "__main__":
    try:
        answer = main(json.loads(sys.argv[1]))
    except BaseException as exc:  # reported to the parent, which fails the job with it
        traceback.print_exc()
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
    print(json.dumps(answer), flush=True)
