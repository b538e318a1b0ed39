"""TorchScript optimizers: freeze (parameters and attributes become constants) and
``torch.jit.optimize_for_inference``. Blocking (run in a thread)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

# TorchScript is the format these methods serve; its deprecation is known.
_DEPRECATED = r"`torch\.jit\.\w+` is deprecated"


def _torch() -> Any:
    import torch

    warnings.filterwarnings("ignore", _DEPRECATED, DeprecationWarning)
    return torch


def freeze(source: Path, target: Path) -> str:
    torch = _torch()
    module = torch.jit.load(str(source), map_location="cpu").eval()
    torch.jit.save(torch.jit.freeze(module), str(target))
    return "torch.jit.freeze"


def optimize_for_inference(source: Path, target: Path) -> str:
    """``optimize_for_inference``; when its result cannot be saved and loaded again (it may
    hold MKLDNN constants, which TorchScript cannot serialize), the portable part of it:
    freeze and ``run_frozen_optimizations`` (conv/batch-norm folding and the like)."""
    torch = _torch()
    module = torch.jit.load(str(source), map_location="cpu").eval()
    torch.jit.save(torch.jit.optimize_for_inference(module), str(target))
    try:
        torch.jit.load(str(target), map_location="cpu")
    except RuntimeError:
        module = torch.jit.load(str(source), map_location="cpu").eval()
        frozen = torch.jit.freeze(module)
        torch.jit.run_frozen_optimizations(frozen, optimize_numerics=True)
        torch.jit.save(frozen, str(target))
        return (
            "torch.jit.optimize_for_inference made MKLDNN constants that TorchScript cannot"
            " save; used torch.jit.freeze + run_frozen_optimizations instead"
        )
    return "torch.jit.optimize_for_inference"
