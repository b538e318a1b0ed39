"""The Model aggregate: a named family of versions."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyDeleted
from domain.names import Namespace, claim_id
from domain.rules import clean_description, clean_name, clean_tags, name_key


class ModelList(StrEnum):
    ORIGINAL = "ORIGINAL"
    OPTIMIZED = "OPTIMIZED"

    @property
    def names(self) -> Namespace:
        """Where a model's name is unique: its list."""
        return Namespace(f"models/{self.value}")


class Model(Aggregate):
    @event("Registered")
    def __init__(self, name: str, model_list: str, description: str, tags: dict[str, str]) -> None:
        self.name = name
        self.model_list = model_list
        self.description = description
        self.tags = tags
        self.deleted = False
        self.last_version_number = 0

    @classmethod
    def register(
        cls,
        name: str,
        model_list: ModelList,
        description: str | None,
        tags: Mapping[str, Any] | list[tuple[object, object]],
    ) -> Model:
        return cls(
            name=clean_name(name),
            model_list=ModelList(model_list).value,
            description=clean_description(description),
            tags=clean_tags(tags),
        )

    def check_not_deleted(self) -> None:
        if self.deleted:
            raise AlreadyDeleted("model", self.name)

    def allocate_version_number(self) -> int:
        """The next version number: highest ever + 1, never reused after deletion."""
        self.check_not_deleted()
        self._version_allocated(number=self.last_version_number + 1)
        return self.last_version_number

    @event("VersionAllocated")
    def _version_allocated(self, number: int) -> None:
        self.last_version_number = number

    def update_description(self, description: str | None) -> None:
        self.check_not_deleted()
        cleaned = clean_description(description)
        if cleaned != self.description:
            self._description_updated(description=cleaned)

    @event("DescriptionUpdated")
    def _description_updated(self, description: str) -> None:
        self.description = description

    def edit_tags(self, tags: Mapping[str, Any] | list[tuple[object, object]]) -> None:
        self.check_not_deleted()
        cleaned = clean_tags(tags)
        if cleaned != self.tags:
            self._tags_edited(tags=cleaned)

    @event("TagsEdited")
    def _tags_edited(self, tags: dict[str, str]) -> None:
        self.tags = tags

    def delete(self) -> None:
        self.check_not_deleted()
        self._deleted()

    @event("Deleted")
    def _deleted(self) -> None:
        self.deleted = True


def name_id(model_list: ModelList, name: str) -> UUID:
    """The id of the claim of ``name`` in ``model_list``."""
    return claim_id(model_list.names, name_key(name))
