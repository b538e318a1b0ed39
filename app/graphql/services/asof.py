"""A service as it was at a past moment (``asOf``), rebuilt from the event log, not from the
read models: its status, deployments (traffic) and revisions with who made them and when."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from app.graphql.context import Info
from app.graphql.services.types import Deployment, Revision, Service
from app.services.replay import replay
from domain.errors import ValidationError
from domain.names import NameClaim
from domain.service import Service as ServiceAggregate
from domain.service import service_name_id
from projections.audit import split_topic
from projections.services import DeploymentRow, RevisionRow, ServiceRow

_SPEC_EVENTS = ("Published", "SpecChanged")


async def service_id_by_name_as_of(info: Info, name: str, as_of: datetime) -> str | None:
    """The service that held ``name`` at ``as_of`` (names are released on deletion)."""
    try:
        claim_id = service_name_id(name)
    except ValidationError:
        return None  # never a valid name, so never held
    claim = await replay(info.context.container.repository, claim_id, NameClaim, as_of)
    if claim is None or claim.state.owner_id is None:
        return None
    return str(claim.state.owner_id)


async def service_as_of(info: Info, service_id: str, as_of: datetime) -> Service | None:
    past = await replay(
        info.context.container.repository, UUID(service_id), ServiceAggregate, as_of
    )
    if past is None:
        return None
    state = past.state
    # Revision n was made by the n-th spec event (the publish is revision 1).
    spec_events = [e for e in past.events if split_topic(e.topic)[1] in _SPEC_EVENTS]
    revisions = [
        Revision.from_row(
            RevisionRow(
                revision=spec["revision"],
                kind=spec["kind"],
                restored=spec.get("restored", 0),
                deployments=spec["deployments"],
                created_at=event.recorded_at,
                created_by=event.meta.actor,
            )
        )
        for spec, event in zip(state.revisions, spec_events, strict=True)
    ]
    for revision in revisions:
        for deployment in revision.deployments:
            deployment._as_of = as_of
    row = ServiceRow(
        id=str(state.id),
        name=state.name,
        host_id=state.host_id,
        key_hash=state.key_hash,
        status=state.status,
        status_reason=state.status_reason,
        revision=state.revision,
        position=past.updated.position,
        created_at=past.created.recorded_at,
        created_by=past.created.meta.actor,
        updated_at=past.updated.recorded_at,
    )
    service = Service.from_row(row)
    service.deleted = state.deleted
    service.as_of = as_of
    service._deployments = [_deployment(d, as_of) for d in state.deployments]
    service._revisions = revisions
    return service


def _deployment(entry: dict[str, object], as_of: datetime) -> Deployment:
    deployment = Deployment.from_row(DeploymentRow(**entry))  # type: ignore[arg-type]
    deployment._as_of = as_of
    return deployment
