"""Services: publish, traffic, upgrade, rollback, update, keys, stop/start, delete, test."""

from __future__ import annotations

from dataclasses import replace
from typing import cast

import strawberry
from strawberry.scalars import JSON

from app.graphql.context import Info
from app.graphql.pagination import (
    query_id,
)
from app.graphql.permissions import IsEditor
from app.graphql.services.inputs import DeployVersionInput, TrafficInput
from app.graphql.services.payloads import (
    DeletedService,
    DeleteServiceResult,
    KeyResult,
    PublishResult,
    ServicePayload,
    ServiceResult,
    ServiceWithKey,
    TestServiceResult,
    TestServiceSuccess,
)
from app.graphql.services.types import Service
from app.services.ids import parse_id
from domain.errors import NotFound as NotFoundError
from domain.errors import ValidationError as DomainValidationError
from domain.service import Service as ServiceAggregate
from projections.services import get_service


async def _service(info: Info, service_id: str) -> Service:
    # This process's data plane follows the change at once (others within a poll).
    await info.context.container.serving.reconcile()
    row = await get_service(info.context.container.db, id=service_id)
    assert row is not None  # read-your-writes
    return Service.from_row(row)


@strawberry.type
class ServiceMutations:
    @strawberry.mutation(
        permission_classes=[IsEditor],
        description="Publish versions as a prediction service. Traffic percentages must sum"
        " to 100 (all 0 gives the first version 100).",
    )
    async def publish_service(
        self, info: Info, name: str, versions: list[DeployVersionInput]
    ) -> PublishResult:
        service, key = await info.context.container.services.publish(
            name, [v.to_choice() for v in versions], meta=info.context.meta()
        )
        return ServiceWithKey(service=await _service(info, str(service.id)), access_key=key)

    @strawberry.mutation(
        permission_classes=[IsEditor],
        description="Whole percentages per deployed version, summing to 100; versions left"
        " out get 0.",
    )
    async def set_service_traffic(
        self, info: Info, service_id: strawberry.ID, traffic: list[TrafficInput]
    ) -> ServiceResult:
        weights: dict[str, object] = {}
        for item in traffic:
            key = str(parse_id(item.version_id, "versionId"))
            if key in weights:
                raise DomainValidationError("traffic", f"version {key} is listed twice")
            weights[key] = item.percent
        service = await info.context.container.services.set_traffic(
            service_id, weights, meta=info.context.meta()
        )
        return await _payload(info, service)

    @strawberry.mutation(
        permission_classes=[IsEditor],
        description="Without instances: a full upgrade (the new version takes every instance"
        " and all traffic). With instances: a partial one (it runs beside the others at 0%).",
    )
    async def upgrade_service(
        self,
        info: Info,
        service_id: strawberry.ID,
        to_version: DeployVersionInput,
        instances: int | None = None,
    ) -> ServiceResult:
        choice = to_version.to_choice()
        if instances is not None:
            choice = replace(choice, instances=instances)

        service = await info.context.container.services.upgrade(
            service_id, choice, full=instances is None, meta=info.context.meta()
        )
        return await _payload(info, service)

    @strawberry.mutation(
        permission_classes=[IsEditor],
        description="Restore an earlier revision (the previous one by default) as a new one.",
    )
    async def rollback_service(
        self, info: Info, service_id: strawberry.ID, revision: int | None = None
    ) -> ServiceResult:
        service = await info.context.container.services.rollback(
            service_id, revision, meta=info.context.meta()
        )
        return await _payload(info, service)

    @strawberry.mutation(
        permission_classes=[IsEditor],
        description="Redeploy: re-uploaded (pending) files of the deployed versions go live.",
    )
    async def update_service(self, info: Info, service_id: strawberry.ID) -> ServiceResult:
        service = await info.context.container.services.update(service_id, meta=info.context.meta())
        return await _payload(info, service)

    @strawberry.mutation(permission_classes=[IsEditor])
    async def stop_service(self, info: Info, service_id: strawberry.ID) -> ServiceResult:
        service = await info.context.container.services.stop(service_id, meta=info.context.meta())
        return await _payload(info, service)

    @strawberry.mutation(permission_classes=[IsEditor])
    async def start_service(self, info: Info, service_id: strawberry.ID) -> ServiceResult:
        service = await info.context.container.services.start(service_id, meta=info.context.meta())
        return await _payload(info, service)

    @strawberry.mutation(permission_classes=[IsEditor])
    async def rotate_service_key(self, info: Info, service_id: strawberry.ID) -> KeyResult:
        service, key = await info.context.container.services.rotate_key(
            service_id, meta=info.context.meta()
        )
        return ServiceWithKey(service=await _service(info, str(service.id)), access_key=key)

    @strawberry.mutation(
        permission_classes=[IsEditor],
        description="Stop and delete a service; its versions are free to delete afterwards.",
    )
    async def delete_service(self, info: Info, service_id: strawberry.ID) -> DeleteServiceResult:
        service = await info.context.container.services.delete(service_id, meta=info.context.meta())
        await info.context.container.serving.reconcile()
        return DeletedService(id=strawberry.ID(str(service.id)), name=service.name)

    @strawberry.mutation(
        permission_classes=[IsEditor],
        description="Run a sample payload (a v1 body, e.g. {instances: [[1, 2]]}) through the"
        " service's own predict path; image inputs take base64 strings.",
    )
    async def test_service(
        self, info: Info, service_id: strawberry.ID, payload: JSON
    ) -> TestServiceResult:
        container = info.context.container
        row = await get_service(container.db, id=query_id(service_id))
        state = None if row is None else container.serving.find(row.name)
        if row is None or state is None:
            raise NotFoundError("service", str(service_id))
        outcome = await container.serving.predict_sample(state, payload)
        return TestServiceSuccess(
            response=cast(JSON, outcome.body),
            status_code=outcome.status,
            latency_ms=outcome.latency_ms,
            version_number=outcome.version_number,
        )


async def _payload(info: Info, service: ServiceAggregate) -> ServicePayload:
    return ServicePayload(service=await _service(info, str(service.id)))
