"""TensorFlow models: a SavedModel folder or a frozen graph (a GraphDef ``.pb``).

- SavedModel (a ``saved_model.pb`` anywhere in the package): the ``serving_default`` signature
  (or the only one); inputs and outputs are the signature's, by name.
- Frozen graph (otherwise, the one ``.pb`` file, or ``frozen_graph.pb``): imported with
  ``tf.compat.v1.wrap_function``. Inputs are its Placeholder ops. Outputs are named by a
  ``config.json`` in the package when there is one (the custom runtime's schema; a name is an
  op, ``op:1`` for another of its outputs, and its config inputs must be Placeholders), else
  they are the graph's sinks: the outputs of every op whose outputs nothing consumes
  (Placeholders, Consts, NoOps excepted). Tensors are named ``op`` (``op:N`` if N > 0).

TensorFlow's thread pools are process-wide and can be sized only before its first use.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from app.packages.inventory import scan
from app.serving.runtimes.base import (
    DATATYPES,
    Batch,
    MissingExtra,
    Runtime,
    RuntimeFailure,
    RuntimeOptions,
    TensorSpec,
    find_model_file,
    read_config,
)

TF_TYPES = {numpy: v2 for v2, numpy in DATATYPES.items() if v2 != "BYTES"} | {"string": "BYTES"}
_NOT_SINKS = frozenset({"Placeholder", "Const", "NoOp", "Assert"})


def _spec(name: str, tensor: Any) -> TensorSpec:
    datatype = TF_TYPES.get(tensor.dtype.name)
    if datatype is None:
        raise RuntimeFailure(f"the tensor {name!r} has the unsupported type {tensor.dtype.name}")
    dims = tensor.shape.as_list() if tensor.shape.rank is not None else [None]
    return TensorSpec(name, datatype, tuple(-1 if size is None else size for size in dims))


def _tensor_name(tensor: Any) -> str:
    return str(tensor.op.name if tensor.value_index == 0 else tensor.name)


class TensorflowRuntime(Runtime):
    name: ClassVar[str] = "tensorflow"

    def __init__(self, package: Path, options: RuntimeOptions | None = None) -> None:
        super().__init__(package, options)
        self._function: Any = None
        self._keep: Any = None  # what the function needs kept alive
        self._signature = False  # a SavedModel signature takes keyword arguments

    async def load(self) -> None:
        try:
            import tensorflow as tf
        except ImportError as exc:
            raise MissingExtra(self.name, "tensorflow", "tensorflow") from exc
        threads = max(1, self.options.cpu_threads)
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # already initialized by an earlier model
            pass
        package = scan(self.package)[0]
        saved = package.called("saved_model.pb") + package.called("saved_model.pbtxt")
        try:
            if saved:
                folder = self.package / saved[0].rpartition("/")[0]
                await asyncio.to_thread(self._load_saved_model, tf, folder)
            else:
                path = find_model_file(self.package, (".pb",), "frozen_graph.pb")
                await asyncio.to_thread(self._load_frozen_graph, tf, path)
        except RuntimeFailure:
            raise
        except Exception as exc:  # TensorFlow's own errors
            raise RuntimeFailure(f"TensorFlow cannot load the model: {exc}") from exc

    def _load_saved_model(self, tf: Any, folder: Path) -> None:
        model = tf.saved_model.load(str(folder))
        signatures = dict(model.signatures)
        if "serving_default" not in signatures and len(signatures) != 1:
            raise RuntimeFailure(f"no serving_default signature (found: {sorted(signatures)})")
        function = signatures.get("serving_default") or next(iter(signatures.values()))
        _, inputs = function.structured_input_signature
        self.inputs = [_spec(name, spec) for name, spec in sorted(inputs.items())]
        self.outputs = [_spec(n, s) for n, s in sorted(function.structured_outputs.items())]
        self._function, self._keep, self._signature = function, model, True

    def _load_frozen_graph(self, tf: Any, path: Path) -> None:
        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(path.read_bytes())
        wrapped = tf.compat.v1.wrap_function(
            lambda: tf.compat.v1.import_graph_def(graph_def, name=""), []
        )
        graph = wrapped.graph
        operations = graph.get_operations()
        config = read_config(self.package)
        if config is not None:
            feeds = [_graph_tensor(graph, spec.name) for spec in config.inputs]
            fetches = [_graph_tensor(graph, spec.name) for spec in config.outputs]
            if any(feed.op.type != "Placeholder" for feed in feeds):
                raise RuntimeFailure("config.json inputs must name Placeholder ops")
        else:
            feeds = [op.outputs[0] for op in operations if op.type == "Placeholder"]
            consumed = {tensor.name for op in operations for tensor in op.inputs}
            fetches = [
                tensor
                for op in operations
                if op.type not in _NOT_SINKS
                for tensor in op.outputs
                if tensor.name not in consumed
            ]
        if not fetches:
            raise RuntimeFailure("the graph has no outputs (name them in config.json)")
        self.inputs = [_spec(_tensor_name(t), t) for t in feeds]
        self.outputs = [_spec(_tensor_name(t), t) for t in fetches]
        self._function, self._keep = wrapped.prune(feeds=feeds, fetches=fetches), wrapped

    @property
    def loaded(self) -> bool:
        return self._function is not None

    async def infer(self, batch: Batch) -> Batch:
        try:
            return await asyncio.to_thread(self._run, self._function, batch)
        except RuntimeFailure:
            raise
        except Exception as exc:  # InvalidArgumentError and kin: bad shapes or values
            message = getattr(exc, "message", None) or str(exc)
            raise RuntimeFailure(f"inference failed: {message}", 400) from exc

    def _run(self, function: Any, batch: Batch) -> Batch:
        import tensorflow as tf

        feeds = {
            spec.name: tf.constant(
                batch[spec.name]
                if spec.datatype == "BYTES"
                else np.asarray(batch[spec.name], dtype=DATATYPES[spec.datatype])
            )
            for spec in self.inputs
        }
        if self._signature:
            result = function(**feeds)
            return {spec.name: result[spec.name].numpy() for spec in self.outputs}
        values = function(*feeds.values())
        return {spec.name: value.numpy() for spec, value in zip(self.outputs, values, strict=True)}

    async def unload(self) -> None:
        self._function = self._keep = None
        await super().unload()


def _graph_tensor(graph: Any, name: str) -> Any:
    try:
        return graph.get_tensor_by_name(name if ":" in name else f"{name}:0")
    except (KeyError, ValueError) as exc:
        raise RuntimeFailure(f"config.json names {name!r}, which is not in the graph") from exc
