"""Tiny model packages built at test time: real ONNX models, hand-made protobuf bytes,
PMML text, TorchScript-shaped zips and hostile pickles. Nothing binary is committed."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# --- ONNX -------------------------------------------------------------------------------


def onnx_model(*, external: str | None = None, broken: bool = False) -> onnx.ModelProto:
    """y = x @ W, with W stored in the file or at ``external`` (a location, not written)."""
    weights = numpy_helper.from_array(np.ones((2, 2), dtype=np.float32), name="W")
    if external is not None:
        weights.ClearField("raw_data")
        weights.data_location = TensorProto.EXTERNAL
        for key, value in (("location", external), ("offset", "0"), ("length", "16")):
            entry = weights.external_data.add()
            entry.key, entry.value = key, value
    node = helper.make_node("MatMul", ["x", "missing" if broken else "W"], ["y"])
    graph = helper.make_graph(
        [node],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [weights],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def write_onnx(path: Path, *, external: str | None = None, broken: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onnx_model(external=external, broken=broken).SerializeToString())
    return path


WEIGHTS_BYTES = np.ones((2, 2), dtype=np.float32).tobytes()

# --- protobuf wire format ---------------------------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def field_bytes(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def node_def(name: str, op: str, *inputs: str) -> bytes:
    attr = field_bytes(1, b"T") + field_bytes(2, field_varint(6, 1))  # map entry T -> type
    body = field_bytes(1, name.encode()) + field_bytes(2, op.encode())
    body += b"".join(field_bytes(3, item.encode()) for item in inputs)
    return body + field_bytes(5, attr)


def graph_def(*nodes: bytes) -> bytes:
    """A GraphDef: nodes, then a VersionDef (producer 1)."""
    return b"".join(field_bytes(1, node) for node in nodes) + field_bytes(4, field_varint(1, 1))


def tiny_graph_def() -> bytes:
    return graph_def(
        node_def("x", "Placeholder"), node_def("y", "Identity", "x"), node_def("z", "Neg", "y")
    )


def saved_model_pb(*, signatures: bool = True) -> bytes:
    meta_graph = field_bytes(2, tiny_graph_def())
    if signatures:
        meta_graph += field_bytes(5, field_bytes(1, b"serving_default") + field_bytes(2, b""))
    return field_varint(1, 1) + field_bytes(2, meta_graph)


def write_saved_model(root: Path, *, shards: int = 1) -> None:
    (root / "variables").mkdir(parents=True, exist_ok=True)
    (root / "saved_model.pb").write_bytes(saved_model_pb())
    (root / "variables" / "variables.index").write_bytes(b"\x00index")
    for shard in range(shards):
        name = f"variables.data-{shard:05d}-of-{shards:05d}"
        (root / "variables" / name).write_bytes(b"\x00" * 16)


# --- PMML -------------------------------------------------------------------------------

PMML = """<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header description="tiny"/>
  <DataDictionary numberOfFields="2">
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <RegressionModel functionName="regression">
    <MiningSchema>
      <MiningField name="x"/>
      <MiningField name="y" usageType="target"/>
    </MiningSchema>
    <RegressionTable intercept="1.0">
      <NumericPredictor name="x" coefficient="2.0"/>
    </RegressionTable>
  </RegressionModel>
</PMML>
"""

XXE_PMML = """<?xml version="1.0"?>
<!DOCTYPE PMML [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<PMML version="4.4"><Header description="&secret;"/></PMML>
"""

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE PMML [\n<!ENTITY lol0 "lol">\n'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">\n' for i in range(1, 10))
    + ']>\n<PMML version="4.4"><Header description="&lol9;"/></PMML>\n'
)

# --- PyTorch ----------------------------------------------------------------------------


def torch_zip(path: Path, *, code: bool = True, data_pkl: bytes = b"\x80\x02}q\x00.") -> Path:
    """A zip laid out like torch.jit.save (with ``code``) or torch.save (without)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", data_pkl)
        archive.writestr("model/version", "3\n")
        archive.writestr("model/byteorder", "little")
        archive.writestr("model/data/0", b"\x00" * 16)
        if code:
            archive.writestr("model/constants.pkl", b"\x80\x02).")
            archive.writestr("model/code/__torch__/tiny.py", "class Tiny(Module):\n  pass\n")
    return path


class _Payload:
    """Unpickling this object creates ``marker``: the proof that something unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def evil_pickle(marker: Path) -> bytes:
    return pickle.dumps(_Payload(marker), protocol=2)


# --- custom runtime ---------------------------------------------------------------------

SERVICE_SCRIPT = """\
class ModelService:
    def load(self, path):
        self.path = path

    def predict(self, inputs):
        return inputs
"""

SERVICE_CONFIG = {
    "inputs": [{"name": "x", "type": "float32", "shape": [-1, 2]}],
    "outputs": [{"name": "y", "type": "float32", "shape": [-1, 2]}],
    "batch": {"max_batch_size": 8, "timeout_ms": 5},
    "requirements": ["numpy>=1.26"],
}


def write_service(root: Path, config: object = SERVICE_CONFIG) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model_service.py").write_text(SERVICE_SCRIPT)
    (root / "config.json").write_text(json.dumps(config))


# --- PyTorch native (model_service.py builds the network) --------------------------------

TORCH_NET_SERVICE = """\
import os
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(6, 3)

    def forward(self, x):
        return torch.softmax(self.fc(x), dim=-1)


class Model:
    def __init__(self, model_dir):
        self.model = Net()
        state = torch.load(os.path.join(model_dir, "weights.pt"), weights_only=True)
        self.model.load_state_dict(state)

    def predict(self, data):
        with torch.no_grad():
            return self.model(torch.from_numpy(data["x"])).numpy()
"""
TORCH_NET_CONFIG = {
    "inputs": [{"name": "x", "type": "float32", "shape": [-1, 6]}],
    "outputs": [{"name": "y", "type": "float32", "shape": [-1, 3]}],
}


def torch_net_files() -> dict[str, bytes]:
    """A PyTorch native package's files: model_service.py builds a 6-to-3 network and
    loads its seeded weights. Needs torch (callers skip without it)."""
    import torch

    torch.manual_seed(1)
    weights = io.BytesIO()
    torch.save({f"fc.{k}": v for k, v in torch.nn.Linear(6, 3).state_dict().items()}, weights)
    return {
        "model_service.py": TORCH_NET_SERVICE.encode(),
        "config.json": json.dumps(TORCH_NET_CONFIG).encode(),
        "weights.pt": weights.getvalue(),
    }
