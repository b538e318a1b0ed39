"""Application service for training tasks."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from app.adapters.event_store.port import EventMeta
from app.services.ids import parse_id
from app.services.projector import ReadModelSync
from app.services.repository import Commands, Repository
from domain.training import TrainingTask


class TrainingService:
    def __init__(self, repository: Repository, projector: ReadModelSync) -> None:
        self.repo = repository
        self.commands = Commands(repository, projector)

    async def create(
        self, name: str, framework: str | None, output_uri: str, *, meta: EventMeta
    ) -> TrainingTask:
        task = TrainingTask.create(name, framework, output_uri)
        await self.commands.save(task, meta=meta)
        return task

    async def get(self, task_id: str | UUID) -> TrainingTask:
        return await self.repo.get(parse_id(task_id, "taskId"), TrainingTask, kind="training task")

    async def report_metrics(
        self,
        task_id: str | UUID,
        metrics: dict[str, Any],
        step: int | None = None,
        *,
        meta: EventMeta,
    ) -> TrainingTask:
        return await self._change(task_id, lambda t: t.report_metrics(metrics, step), meta)

    async def finish(
        self, task_id: str | UUID, succeeded: bool, message: str | None, *, meta: EventMeta
    ) -> TrainingTask:
        return await self._change(task_id, lambda t: t.finish(succeeded, message), meta)

    async def _change(self, task_id: str | UUID, change: Any, meta: EventMeta) -> TrainingTask:
        tid = parse_id(task_id, "taskId")
        task, _ = await self.commands.change(tid, TrainingTask, "training task", change, meta=meta)
        return task
