"""PyTorch formats. Nothing here unpickles: files are judged by their zip directory, names and
sizes only, because loading a pickle runs whatever code it names.

- TORCHSCRIPT: a ``torch.jit.save`` archive, a zip whose entries sit under one folder and
  include ``<root>/code/``, ``<root>/data.pkl``, ``<root>/constants.pkl`` and a ``version``.
  A ``torch.save`` checkpoint has ``data.pkl`` but no ``code/`` and is rejected as such.
- PYTORCH, DETECTRON2, MMDETECTION: weights files (``.pt``, ``.pth``, ``.bin``, ``.pkl``,
  ``.safetensors``, ``.ckpt``) run by a custom ``model_service.py`` (checked elsewhere).
"""

from __future__ import annotations

import zipfile

from app.packages._torchzip import TorchZip, torch_zip_layout
from app.packages.formats._sniff import describe, hint
from app.packages.inventory import Package
from app.packages.problems import Problem

WEIGHTS_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".safetensors", ".ckpt")
_TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".pt2", ".torchscript", ".ts", ".jit", ".zip")


def check_weights(package: Package) -> list[Problem]:
    weights = package.named(*WEIGHTS_SUFFIXES)
    if not weights:
        listed = ", ".join(f"*{suffix}" for suffix in WEIGHTS_SUFFIXES)
        return [Problem("", f"no weights file in the package ({listed})")]
    return [
        Problem(name, "the weights file is empty") for name in weights if not package.files[name]
    ]


def check_torchscript(package: Package) -> list[Problem]:
    # By name, and by content: any zip file may be a TorchScript archive.
    named = package.candidates(*_TORCHSCRIPT_SUFFIXES)
    zips = [name for name in package.files if package.head(name, 4) == b"PK\x03\x04"]
    candidates = sorted({*named, *zips})
    if not candidates:
        listed = ", ".join(_TORCHSCRIPT_SUFFIXES)
        return [Problem("", f"no TorchScript file in the package ({listed})")]
    problems: list[Problem] = []
    valid = 0
    for name in candidates:
        found = _torchscript_problem(package, name)
        if found is None:
            valid += 1
        else:
            problems.append(found)
    # Other .pt files (e.g. a checkpoint kept next to the TorchScript export) are fine.
    return [] if valid else problems


def _torchscript_problem(package: Package, name: str) -> Problem | None:
    if not package.files[name]:
        return Problem(name, "the model file is empty")
    head = package.head(name)
    if not head.startswith(b"PK\x03\x04"):
        kind = describe(head)
        if kind and "pickle" in kind:
            return Problem(name, "is a legacy torch.save pickle, not TorchScript")
        return Problem(name, f"is not a TorchScript archive{hint(head)}")
    try:
        with zipfile.ZipFile(package.path(name)) as archive:
            names = [info.orig_filename for info in archive.infolist()]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return Problem(name, f"is not a TorchScript archive: the zip is corrupt ({exc})")
    layout = torch_zip_layout(names)
    if layout is None:
        return Problem(name, "is a zip file but not a TorchScript archive (no <root>/data.pkl)")
    if not layout.has_code:
        return Problem(
            name,
            "is a PyTorch checkpoint (torch.save), not TorchScript: it has data.pkl but no "
            "code/; export the model with torch.jit.script or torch.jit.trace and save it "
            "with torch.jit.save",
        )
    if not layout.is_torchscript:
        return Problem(name, f"is an incomplete TorchScript archive: {_missing(layout)}")
    return None


def _missing(layout: TorchZip) -> str:
    missing = [
        f"{layout.root}/{part}"
        for part, present in (
            ("constants.pkl", layout.has_constants),
            ("version", layout.has_version),
        )
        if not present
    ]
    return "missing " + ", ".join(missing)
