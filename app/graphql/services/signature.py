"""A deployed version's inputs, as its runtime declared them when this process's data plane
loaded it. The API never loads a model just to answer a query, so a version that is not
loaded here (stopped, still deploying, failed, served by another process) has none."""

from __future__ import annotations

import asyncio
from pathlib import Path

import strawberry

from app.packages.service_config import read_service_config
from app.serving.plane import DataPlane
from app.serving.runtimes.base import TensorSpec

IMAGE_RANK = 4  # batch, height, width and channels (in either order)


@strawberry.type(description="One input of a loaded model.")
class TensorSignature:
    name: str
    datatype: str = strawberry.field(description="An Open Inference Protocol datatype: FP32, ...")
    shape: list[int] = strawberry.field(description="Including the batch axis; -1 = any size.")
    image: bool = strawberry.field(
        description="Takes images: declared with type image in a custom runtime's config.json,"
        " or a 4-D tensor (batch, height, width, channels in some order)."
    )


async def loaded_inputs(
    plane: DataPlane, version_id: str, file_revision: int | None
) -> list[TensorSignature] | None:
    """The inputs of this file set of the version, if any service here has it loaded."""
    for state in plane.services.values():
        for loaded in state.loaded.values():
            version, revision, _ = loaded.key
            if version == version_id and revision == file_revision and loaded.runtime.inputs:
                runtime = loaded.runtime
                images = await asyncio.to_thread(_declared_images, runtime.package)
                return [_signature(spec, images) for spec in runtime.inputs]
    return None


def _signature(spec: TensorSpec, declared_images: set[str]) -> TensorSignature:
    image = spec.name in declared_images or len(spec.shape) == IMAGE_RANK
    return TensorSignature(
        name=spec.name, datatype=spec.datatype, shape=list(spec.shape), image=image
    )


def _declared_images(package: Path) -> set[str]:
    """Names of the inputs a custom package's config.json declares as images (the runtime
    sees them as BYTES, so the config is the only place that says so)."""
    path = package / "config.json"
    if not path.is_file():
        return set()
    document, problems = read_service_config(path)
    if problems:
        return set()  # the runtime refused it, so nothing of it is loaded
    return {t["name"] for t in document["inputs"] if t["type"] == "image"}
