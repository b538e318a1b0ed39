"""Recognising PyTorch's zip container (``torch.save`` and ``torch.jit.save``) by its entries.

Both write every entry under one record folder (``<root>/data.pkl``, ``<root>/version``,
``<root>/data/0`` …); TorchScript adds ``<root>/code/`` and ``<root>/constants.pkl``. Only the
zip's central directory is read: nothing is decompressed and nothing is unpickled.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TorchZip:
    root: str
    has_code: bool
    has_constants: bool
    has_version: bool

    @property
    def is_torchscript(self) -> bool:
        return self.has_code and self.has_constants and self.has_version


def torch_zip_layout(names: Collection[str]) -> TorchZip | None:
    """The layout of a PyTorch zip file, or ``None`` when the names are not one."""
    roots = {name.split("/", 1)[0] for name in names}
    if len(roots) != 1:
        return None
    (root,) = roots
    if f"{root}/data.pkl" not in names:
        return None
    return TorchZip(
        root=root,
        has_code=any(name.startswith(f"{root}/code/") for name in names),
        has_constants=f"{root}/constants.pkl" in names,
        has_version=f"{root}/version" in names or f"{root}/.data/version" in names,
    )
