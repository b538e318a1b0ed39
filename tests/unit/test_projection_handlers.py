"""Every projection handler names an event that the domain really emits."""

from __future__ import annotations

from app.bootstrap import all_projections
from domain.batch import BatchJob, BatchRun
from domain.model import Model, ModelName
from domain.optimization import OptimizationJob
from domain.service import Service, ServiceName
from domain.token import ApiToken
from domain.training import TrainingTask
from domain.version import ModelVersion

AGGREGATES = {
    cls.__name__: cls
    for cls in (
        Model,
        ModelName,
        ModelVersion,
        ApiToken,
        TrainingTask,
        Service,
        ServiceName,
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
