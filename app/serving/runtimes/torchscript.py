"""TorchScript models (``torch.jit.save`` archives), run by torch on the CPU.

The archive is found by content (a zip with ``code/``, ``data.pkl`` and ``constants.pkl``); with
several, the one named ``model.pt``. Inputs and outputs come from a ``config.json`` in the
package when there is one (the custom runtime's schema): the model is called with the inputs
in that order, and returns a tensor (the first output), a tuple or list (the outputs in
order) or a dict (by name). Without it the model has one input ``input__0`` (FP32,
[-1, -1]) and returns ``output__0`` (a tuple's items are ``output__0``, ``output__1``, ...).
``torch.set_num_threads`` takes ``cpu_threads``; note that it is process-wide.
"""

from __future__ import annotations

import asyncio
import warnings
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from app.packages._torchzip import torch_zip_layout
from app.packages.inventory import scan
from app.serving.runtimes.base import (
    DATATYPES,
    Batch,
    MissingExtra,
    Runtime,
    RuntimeFailure,
    RuntimeOptions,
    TensorSpec,
    read_config,
)


def find_torchscript(package: Path) -> Path:
    names = []
    for name in scan(package)[0].files:
        try:
            with zipfile.ZipFile(package / name) as archive:
                layout = torch_zip_layout(archive.namelist())
        except (zipfile.BadZipFile, OSError):
            continue
        if layout is not None and layout.is_torchscript:
            names.append(name)
    if len(names) == 1 or (len(names) > 1 and "model.pt" in names):
        return package / (names[0] if len(names) == 1 else "model.pt")
    found = f"several: {', '.join(names)}; name one model.pt" if names else "none"
    raise RuntimeFailure(f"the package needs one TorchScript archive ({found})")


class TorchscriptRuntime(Runtime):
    name: ClassVar[str] = "torchscript"

    def __init__(self, package: Path, options: RuntimeOptions | None = None) -> None:
        super().__init__(package, options)
        self._module: Any = None
        self._named_outputs = False

    async def load(self) -> None:
        try:
            import torch
        except ImportError as exc:
            raise MissingExtra(self.name, "torch", "torch") from exc
        named = self.options.model_file
        path = self.package / named if named else find_torchscript(self.package)
        config = read_config(self.package)
        if config is None:
            self.inputs = [TensorSpec("input__0", "FP32", (-1, -1))]
            self.outputs = [TensorSpec("output__0", "FP32", (-1, -1))]
        else:
            self.inputs, self.outputs, self._named_outputs = config.inputs, config.outputs, True
        if any(spec.datatype == "BYTES" for spec in self.inputs):
            raise RuntimeFailure("TorchScript inputs must be numbers or booleans, not strings")
        torch.set_num_threads(max(1, self.options.cpu_threads))
        # TorchScript is the format this runtime serves; its deprecation is known.
        warnings.filterwarnings("ignore", r"`torch\.jit\.load` is deprecated", DeprecationWarning)
        try:
            module = await asyncio.to_thread(torch.jit.load, str(path), map_location="cpu")
        except Exception as exc:
            raise RuntimeFailure(f"torch cannot load {path.name}: {exc}") from exc
        self._module = module.eval()

    @property
    def loaded(self) -> bool:
        return self._module is not None

    async def infer(self, batch: Batch) -> Batch:
        arrays = []
        for spec in self.inputs:
            array = np.asarray(batch[spec.name], dtype=DATATYPES[spec.datatype])
            arrays.append(array if array.flags.writeable else array.copy())
        try:
            result = await asyncio.to_thread(self._run, arrays)
        except RuntimeFailure:
            raise
        except Exception as exc:  # TorchScript raises RuntimeError for bad shapes
            raise RuntimeFailure(f"inference failed: {exc}", 400) from exc
        return self._outputs(result)

    def _run(self, arrays: list[np.ndarray]) -> Any:
        import torch

        with torch.inference_mode():
            result = self._module(*(torch.from_numpy(array) for array in arrays))
            if isinstance(result, torch.Tensor):
                return [result.numpy()]
            if isinstance(result, tuple | list):
                return [item.numpy() for item in result]
            if isinstance(result, dict):
                return {str(name): item.numpy() for name, item in result.items()}
        raise RuntimeFailure(f"the model returned {type(result).__name__}, not tensors", 500)

    def _outputs(self, result: list[np.ndarray] | dict[str, np.ndarray]) -> Batch:
        if isinstance(result, dict):
            missing = [spec.name for spec in self.outputs if spec.name not in result]
            if missing:
                raise RuntimeFailure(f"the model returned no output {missing[0]!r}", 500)
            return {spec.name: result[spec.name] for spec in self.outputs}
        if not self._named_outputs:
            return {f"output__{index}": array for index, array in enumerate(result)}
        if len(result) < len(self.outputs):
            raise RuntimeFailure(f"the model returned {len(result)} outputs", 500)
        return {spec.name: array for spec, array in zip(self.outputs, result, strict=False)}

    async def unload(self) -> None:
        self._module = None
        await super().unload()
