"""Unique names: a name is claimed by an aggregate of its own whose id is derived from the
namespace and the name, so two concurrent claims of one name conflict at version 1 (the
library's ``Index`` of its content-management example). A released name may be claimed
again; the claim remembers who holds it.

Before NameClaim the same aggregate was written twice, as ``domain.model:ModelName`` and
``domain.service:ServiceName``. Their recorded events and snapshots still load: the old
topics resolve to NameClaim (``register_topic``), their state is upcast to NameClaim's
(``class_version`` 2), and the ids are derived as they derived them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import register_topic

from domain.errors import NameTaken


class Namespace(StrEnum):
    """Where a name is unique: the value is ``<kind>s`` or ``<kind>s/<list>``."""

    ORIGINAL_MODELS = "models/ORIGINAL"
    OPTIMIZED_MODELS = "models/OPTIMIZED"
    SERVICES = "services"

    def taken(self, name: str) -> NameTaken:
        kinds, _, model_list = self.value.partition("/")
        return NameTaken(name, model_list, kind=kinds.removesuffix("s"))


# Claim ids as ModelName and ServiceName derived them: the key in a uuid namespace per kind,
# model keys prefixed with their list.
_MODEL_NAMES = uuid5(NAMESPACE_URL, "modelrepo:model-names")
_SERVICE_NAMES = uuid5(NAMESPACE_URL, "modelrepo:service-names")


def claim_id(namespace: Namespace, key: str) -> UUID:
    """The id of the claim of ``key`` (a name as uniqueness compares it) in ``namespace``."""
    if namespace is Namespace.SERVICES:
        return uuid5(_SERVICE_NAMES, key)
    return uuid5(_MODEL_NAMES, f"{namespace.value.partition('/')[2]}/{key}")


def _upcast_v1_v2(state: dict[str, Any]) -> None:
    """State recorded by ModelName or ServiceName (an event's or a snapshot's) in NameClaim's
    terms: the holder becomes ``owner_id``; a first claim gets its namespace (and a service
    its key, which was its cleaned name)."""
    if "model_id" in state:
        state["owner_id"] = state.pop("model_id")
        if "model_list" in state:
            state["namespace"] = f"models/{state.pop('model_list')}"
    elif "service_id" in state:
        state["owner_id"] = state.pop("service_id")
        if "name" in state:
            state["namespace"] = Namespace.SERVICES.value
            state["key"] = state["name"]


class NameClaim(Aggregate):
    """A name claimed in a namespace, by its owner (a model or a service) until released."""

    class_version = 2
    upcast_v1_v2 = staticmethod(_upcast_v1_v2)  # snapshots taken before NameClaim

    @staticmethod
    def create_id(namespace: str, key: str, **_: Any) -> UUID:
        return claim_id(Namespace(namespace), key)

    class Claimed(Aggregate.Created):
        namespace: str
        key: str
        name: str
        owner_id: UUID
        class_version = 2
        upcast_v1_v2 = staticmethod(_upcast_v1_v2)

    @event(Claimed)
    def __init__(self, namespace: str, key: str, name: str, owner_id: UUID) -> None:
        self.namespace = namespace
        self.key = key
        self.name = name  # as the holder spelled it
        self.owner_id: UUID | None = owner_id

    @classmethod
    def claim_new(cls, namespace: Namespace, key: str, name: str, owner_id: UUID) -> NameClaim:
        return cls(namespace=namespace.value, key=key, name=name, owner_id=owner_id)

    def claim(self, name: str, owner_id: UUID) -> None:
        """Take a released name; a held one is taken (NameTaken)."""
        if self.owner_id is not None:
            raise Namespace(self.namespace).taken(self.name)
        self._reclaimed(owner_id=owner_id, name=name)

    class Reclaimed(Aggregate.Event):
        owner_id: UUID
        name: str | None = None  # None only in ServiceName's: a service name has one spelling
        class_version = 2
        upcast_v1_v2 = staticmethod(_upcast_v1_v2)

    @event(Reclaimed)
    def _reclaimed(self, owner_id: UUID, name: str | None = None) -> None:
        if name is not None:
            self.name = name
        self.owner_id = owner_id

    def release(self) -> None:
        if self.owner_id is not None:
            self._released()

    @event("Released")
    def _released(self) -> None:
        self.owner_id = None


register_topic("domain.model:ModelName", NameClaim)
register_topic("domain.service:ServiceName", NameClaim)
