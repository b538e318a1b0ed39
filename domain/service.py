"""Online prediction services: which versions run, on what, and who gets which traffic.

Every change of the deployment spec is a revision (traffic, upgrade, rollback, update, a
version removed); a rollback restores an earlier revision's spec as a new revision.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyDeleted, InvalidState, ValidationError
from domain.names import Namespace, claim_id

_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
MAX_INSTANCES = 64
MAX_DEPLOYMENTS = 10

Deployment = dict[str, Any]


class ServiceStatus(StrEnum):
    DEPLOYING = "DEPLOYING"
    RUNNING = "RUNNING"
    FAILED = "FAILED"
    STOPPED = "STOPPED"


def clean_service_name(name: str) -> str:
    """Service names appear in URLs and host names: DNS labels (lowercase letters, digits
    and '-', 1-63 characters, no leading or trailing '-')."""
    if not isinstance(name, str):
        raise ValidationError("name", "must be a string")
    cleaned = name.strip()
    if not _NAME.fullmatch(cleaned):
        raise ValidationError(
            "name",
            f"{cleaned[:70]!r} is not a valid service name: use 1-63 lowercase letters, digits"
            " and '-', starting and ending with a letter or digit",
        )
    return cleaned


def service_name_id(name: str) -> UUID:
    """The id of the claim of the service name ``name``."""
    return claim_id(Namespace.SERVICES, clean_service_name(name))


def deployment(
    version_id: UUID,
    model_id: UUID,
    number: int,
    *,
    instances: int = 1,
    cpu: float = 1.0,
    memory_mb: int = 1024,
    gpus: int = 0,
    runtime: str | None = None,
    file_revision: int | None = None,
    weight: int = 0,
) -> Deployment:
    """A checked deployment entry (one version of a model with its resources)."""
    if isinstance(instances, bool) or not 1 <= instances <= MAX_INSTANCES:
        raise ValidationError("instances", f"must be between 1 and {MAX_INSTANCES}")
    if not (isinstance(cpu, int | float) and math.isfinite(cpu) and 0.1 <= cpu <= 64):
        raise ValidationError("cpu", "must be between 0.1 and 64 cores")
    if not 64 <= memory_mb <= 512 * 1024:
        raise ValidationError("memoryMb", "must be between 64 and 524288")
    if not 0 <= gpus <= 16:
        raise ValidationError("gpus", "must be between 0 and 16")
    return {
        "version_id": str(version_id),
        "model_id": str(model_id),
        "number": number,
        "instances": instances,
        "cpu": float(cpu),
        "memory_mb": memory_mb,
        "gpus": gpus,
        "runtime": runtime,
        "file_revision": file_revision,
        "weight": weight,
    }


def check_weights(weights: list[object], field: str = "traffic") -> list[int]:
    """Whole percentages summing to 100."""
    cleaned = []
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, int):
            if isinstance(weight, float) and math.isfinite(weight) and weight.is_integer():
                weight = int(weight)
            else:
                raise ValidationError(field, f"percentages must be whole numbers, not {weight!r}")
        if not 0 <= weight <= 100:
            raise ValidationError(field, f"percentages must be between 0 and 100, not {weight}")
        cleaned.append(weight)
    if sum(cleaned) != 100:
        raise ValidationError(field, f"percentages must sum to 100, not {sum(cleaned)}")
    return cleaned


class Service(Aggregate):
    @event("Published")
    def __init__(self, name: str, host_id: str, key_hash: str, deployments: list[Deployment]):
        self.name = name
        self.host_id = host_id
        self.key_hash = key_hash
        self.deployments = deployments
        self.revisions: list[dict[str, Any]] = [
            {"revision": 1, "kind": "publish", "deployments": deployments}
        ]
        self.status = ServiceStatus.DEPLOYING.value
        self.status_reason = ""
        self.deleted = False

    @classmethod
    def publish(
        cls, name: str, host_id: str, key_hash: str, deployments: list[Deployment]
    ) -> Service:
        if not deployments:
            raise ValidationError("versions", "publish at least one version")
        if len(deployments) > MAX_DEPLOYMENTS:
            raise ValidationError("versions", f"at most {MAX_DEPLOYMENTS} versions per service")
        _check_unique(deployments)
        if all(d["weight"] == 0 for d in deployments):
            deployments = [{**d, "weight": 100 if i == 0 else 0} for i, d in enumerate(deployments)]
        check_weights([d["weight"] for d in deployments], "versions")
        return cls(
            name=clean_service_name(name),
            host_id=host_id,
            key_hash=key_hash,
            deployments=deployments,
        )

    @property
    def revision(self) -> int:
        return int(self.revisions[-1]["revision"])

    def check_live(self) -> None:
        if self.deleted:
            raise AlreadyDeleted("service", self.name)

    def uses(self, version_id: UUID | str) -> bool:
        return any(d["version_id"] == str(version_id) for d in self.deployments)

    # -- spec changes -------------------------------------------------------------------

    def set_traffic(self, weights: dict[str, object]) -> None:
        self.check_live()
        known = {d["version_id"] for d in self.deployments}
        unknown = set(weights) - known
        if unknown:
            raise ValidationError(
                "traffic", f"these versions are not deployed in {self.name}: {sorted(unknown)}"
            )
        # Versions left out keep 0 (new versions always start at 0).
        ordered = [weights.get(d["version_id"], 0) for d in self.deployments]
        cleaned = check_weights(ordered)
        changed = [{**d, "weight": w} for d, w in zip(self.deployments, cleaned, strict=True)]
        self._change(changed, "traffic")

    def add_version(self, entry: Deployment) -> None:
        """A partial upgrade: the new version runs beside the others with 0% traffic."""
        self.check_live()
        if self.uses(entry["version_id"]):
            raise ValidationError("toVersion", f"V{entry['number']} is already deployed")
        if len(self.deployments) >= MAX_DEPLOYMENTS:
            raise ValidationError("toVersion", f"at most {MAX_DEPLOYMENTS} versions per service")
        self._change([*self.deployments, {**entry, "weight": 0}], "upgrade")

    def replace_all(self, entry: Deployment) -> None:
        """A full upgrade: the new version takes every instance and all traffic."""
        self.check_live()
        instances = sum(d["instances"] for d in self.deployments)
        full = {**entry, "instances": min(instances, MAX_INSTANCES), "weight": 100}
        self._change([full], "upgrade")

    def rollback(self, revision: int | None = None) -> int:
        """Restore an earlier revision's spec (the previous one by default) as a new one."""
        self.check_live()
        target = self.revision - 1 if revision is None else revision
        if target < 1 or target >= self.revision:
            raise ValidationError(
                "revision", f"roll back to one of revisions 1-{self.revision - 1}, not {target}"
            )
        spec = next(r for r in self.revisions if r["revision"] == target)
        self._change(list(spec["deployments"]), "rollback", restored=target)
        return target

    def redeploy(self, file_revisions: dict[str, int]) -> None:
        """An update: pick up each version's newly activated files."""
        self.check_live()
        changed = [
            {**d, "file_revision": file_revisions.get(d["version_id"], d["file_revision"])}
            for d in self.deployments
        ]
        self._change(changed, "update")

    def remove_version(self, version_id: str) -> None:
        """Stop a version's deployment (its model version is being deleted)."""
        self.check_live()
        left = [d for d in self.deployments if d["version_id"] != version_id]
        if len(left) == len(self.deployments):
            return
        if left:
            left = _rebalance(left)
        self._change(left, "version_removed")
        if not left:
            self.stop("its last version was deleted")

    def _change(self, deployments: list[Deployment], kind: str, restored: int = 0) -> None:
        self._spec_changed(
            revision=self.revision + 1, kind=kind, deployments=deployments, restored=restored
        )

    @event("SpecChanged")
    def _spec_changed(
        self, revision: int, kind: str, deployments: list[Deployment], restored: int
    ) -> None:
        self.deployments = deployments
        self.revisions = [
            *self.revisions,
            {"revision": revision, "kind": kind, "deployments": deployments, "restored": restored},
        ]
        if self.status != ServiceStatus.STOPPED and deployments:
            self.status = ServiceStatus.DEPLOYING.value
            self.status_reason = ""

    # -- status ------------------------------------------------------------------------

    def report_status(
        self, status: ServiceStatus, reason: str = "", *, revision: int | None = None
    ) -> bool:
        """Record what the data plane found (for ``revision``, when given); returns False
        when nothing changed. A report about a revision since superseded changes nothing:
        the data plane deploys the new one and reports again."""
        self.check_live()
        if revision is not None and revision != self.revision:
            return False
        if self.status == ServiceStatus.STOPPED and status != ServiceStatus.STOPPED:
            return False
        if self.status == status and self.status_reason == reason:
            return False
        self._status_changed(status=status.value, reason=reason[:2000])
        return True

    @event("StatusChanged")
    def _status_changed(self, status: str, reason: str) -> None:
        self.status = status
        self.status_reason = reason

    def version_failed(self, version_id: str, revision: int, reason: str) -> None:
        """A version of this revision could not load; the others keep serving."""
        self.check_live()
        self._version_failed(version_id=version_id, revision=revision, reason=reason[:4000])

    @event("VersionFailed")
    def _version_failed(self, version_id: str, revision: int, reason: str) -> None:
        self.status_reason = reason

    def stop(self, reason: str = "") -> None:
        self.check_live()
        if self.status == ServiceStatus.STOPPED:
            raise InvalidState("service", self.name, "stopped", "stop it again")
        self._status_changed(status=ServiceStatus.STOPPED.value, reason=reason)

    def start(self) -> None:
        self.check_live()
        if self.status != ServiceStatus.STOPPED:
            raise InvalidState("service", self.name, self.status.lower(), "start it")
        if not self.deployments:
            raise InvalidState("service", self.name, "without versions", "start it")
        self._status_changed(status=ServiceStatus.DEPLOYING.value, reason="")

    def rotate_key(self, key_hash: str) -> None:
        self.check_live()
        self._key_rotated(key_hash=key_hash)

    @event("KeyRotated")
    def _key_rotated(self, key_hash: str) -> None:
        self.key_hash = key_hash

    def delete(self) -> None:
        self.check_live()
        self._deleted()

    @event("Deleted")
    def _deleted(self) -> None:
        self.deleted = True


def _check_unique(deployments: list[Deployment]) -> None:
    ids = [d["version_id"] for d in deployments]
    if len(set(ids)) != len(ids):
        raise ValidationError("versions", "a version is listed twice")


def _rebalance(deployments: list[Deployment]) -> list[Deployment]:
    """Weights summing to 100 again after a version left: proportionally, remainders to
    the largest; all to the first when nothing is left."""
    total = sum(d["weight"] for d in deployments)
    if total == 0:
        return [{**d, "weight": 100 if i == 0 else 0} for i, d in enumerate(deployments)]
    shares = [d["weight"] * 100 / total for d in deployments]
    weights = [int(s) for s in shares]
    order = sorted(range(len(shares)), key=lambda i: shares[i] - weights[i], reverse=True)
    for i in order[: 100 - sum(weights)]:
        weights[i] += 1
    return [{**d, "weight": w} for d, w in zip(deployments, weights, strict=True)]
