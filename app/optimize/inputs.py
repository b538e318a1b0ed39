"""Sample inputs for measuring: an example given as JSON (checked against the model's
declared inputs) or one generated from them, and the N samples compared before and after.

A sample maps input names to arrays with the batch on axis 0. JSON examples are a nested
list (the model's only input) or an object of nested lists by input name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from app.serving.runtimes.base import DATATYPES, TensorSpec
from domain.errors import ValidationError

Sample = dict[str, np.ndarray]
DEFAULT_INPUT = "input__0"
FIELD = "exampleInput"


@dataclass(frozen=True, slots=True)
class Example:
    sample: Sample
    generated: bool


def example_from_json(raw: Any, specs: list[TensorSpec] | None) -> Sample:
    """Arrays for ``raw``; with ``specs`` (declared inputs) by their names and types, else
    float32 arrays named as given (a bare list is ``input__0``)."""
    if isinstance(raw, dict):
        named = {str(k): v for k, v in raw.items()}
    elif isinstance(raw, list):
        if specs is not None and len(specs) != 1:
            names = ", ".join(s.name for s in specs)
            raise ValidationError(FIELD, f"the model has several inputs ({names}): use an object")
        named = {specs[0].name if specs else DEFAULT_INPUT: raw}
    else:
        raise ValidationError(FIELD, "a nested list, or an object of nested lists by input name")
    if not named:
        raise ValidationError(FIELD, "must not be empty")
    types = {s.name: DATATYPES[s.datatype] for s in specs or []}
    if specs is not None and set(named) != set(types):
        wanted = ", ".join(sorted(types))
        raise ValidationError(FIELD, f"give exactly the model's inputs: {wanted}")
    sample: Sample = {}
    for name, value in named.items():
        try:
            array = np.asarray(value, dtype=types.get(name, "float32"))
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                FIELD, f"input {name!r} is not a rectangular array: {exc}"
            ) from None
        if array.ndim == 0 or array.shape[0] == 0:
            raise ValidationError(FIELD, f"input {name!r} needs a batch axis with rows")
        sample[name] = array
    if specs is not None:
        check_shapes(sample, specs)
    return sample


def check_shapes(sample: Sample, specs: list[TensorSpec]) -> None:
    for spec in specs:
        shape = sample[spec.name].shape
        fits = len(shape) == len(spec.shape) and all(
            want in (-1, got) for want, got in zip(spec.shape, shape, strict=True)
        )
        if not fits:
            raise ValidationError(
                FIELD,
                f"input {spec.name!r} has shape {list(shape)}; the model takes"
                f" {list(spec.shape)} (-1: any size)",
            )


def generate(specs: list[TensorSpec], seed: int = 0) -> Sample:
    """One row per input from the declared shapes; a dynamic axis past the batch cannot be
    guessed."""
    rng = np.random.default_rng(seed)
    sample: Sample = {}
    for spec in specs:
        if any(dim == -1 for dim in spec.shape[1:]):
            raise ValidationError(
                FIELD,
                f"input {spec.name!r} has a dynamic axis {list(spec.shape)}: give an example input",
            )
        if spec.datatype == "BYTES":
            raise ValidationError(FIELD, f"input {spec.name!r} is a string: give an example input")
        shape = (1, *spec.shape[1:]) if spec.shape else ()
        sample[spec.name] = _random(rng, DATATYPES[spec.datatype], shape)
    return sample


def _random(rng: np.random.Generator, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith(("int", "uint")):
        return rng.integers(0, 2, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def samples(example: Sample, count: int, seed: int = 1) -> list[Sample]:
    """The example, then ``count - 1`` variations of it: floating inputs with noise of the
    example's own spread, other inputs as they are."""
    rng = np.random.default_rng(seed)
    found = [example]
    for _ in range(count - 1):
        varied: Sample = {}
        for name, array in example.items():
            if array.dtype.kind == "f":
                spread = float(np.std(array)) or 1.0
                noise = rng.standard_normal(array.shape) * spread
                varied[name] = (array + noise).astype(array.dtype)
            else:
                varied[name] = array
        found.append(varied)
    return found
