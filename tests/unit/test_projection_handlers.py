"""Every projection handler names an event that the domain really emits."""

from __future__ import annotations

from app.bootstrap import all_projections
from domain.batch import BatchJob, BatchRun
from domain.model import Model
from domain.names import NameClaim
from domain.optimization import OptimizationJob
from domain.service import Service
from domain.token import ApiToken
from domain.training import TrainingTask
from domain.version import ModelVersion

AGGREGATES = {
    cls.__name__: cls
    for cls in (
        Model,
        NameClaim,
        ModelVersion,
        ApiToken,
        TrainingTask,
        Service,
        BatchJob,
        BatchRun,
        OptimizationJob,
    )
}


def test_handler_names_resolve_to_event_classes() -> None:
    for projection in all_projections():
        for name in projection.handlers():
            aggregate, _, event = name.partition(".")
            assert hasattr(AGGREGATES[aggregate], event), f"{projection.name}: {name}"
