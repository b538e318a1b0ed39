"""Model inputs from a run's preprocessed columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from app.batch.errors import RunFailed
from app.serving.runtimes.base import DATATYPES, Batch, Runtime


def to_batch(runtime: Runtime, frame: pd.DataFrame) -> Batch:
    """Model inputs from preprocessed columns: by name when every input is a column, else
    all columns (in order) as the one 2-D input."""
    names = [spec.name for spec in runtime.inputs]
    if names and all(name in frame.columns for name in names):
        batch = {}
        for spec in runtime.inputs:
            values = frame[spec.name].to_numpy(dtype=DATATYPES[spec.datatype])
            batch[spec.name] = values.reshape(-1, *([1] * (len(spec.shape) - 1)))
        return batch
    if len(runtime.inputs) == 1 and len(runtime.inputs[0].shape) == 2:
        spec = runtime.inputs[0]
        width = spec.shape[1]
        if width not in (-1, frame.shape[1]):
            raise RunFailed(
                f"the model's input {spec.name!r} takes {width} columns; after the steps the"
                f" input has {frame.shape[1]}: {list(frame.columns)}"
            )
        return {spec.name: np.ascontiguousarray(frame.to_numpy(dtype=DATATYPES[spec.datatype]))}
    raise RunFailed(
        f"cannot map columns {list(frame.columns)} to the model's inputs {names}; name the"
        " columns after the inputs (a rename step) or use a model with one 2-D input"
    )
