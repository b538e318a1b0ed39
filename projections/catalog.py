"""Every read model, in the order the projector applies them."""

from __future__ import annotations

from projections.audit import AuditProjection
from projections.base import Projection
from projections.batch import BatchProjection
from projections.models import ModelListProjection
from projections.optimizations import OptimizationsProjection
from projections.services import ServicesProjection
from projections.tokens import TokensProjection
from projections.training import TrainingProjection
from projections.versions import VersionsProjection


def all_projections() -> list[Projection]:
    return [
        ModelListProjection(),
        VersionsProjection(),
        AuditProjection(),
        TokensProjection(),
        TrainingProjection(),
        ServicesProjection(),
        BatchProjection(),
        OptimizationsProjection(),
    ]
