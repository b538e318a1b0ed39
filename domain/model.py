"""The Model aggregate (a named family of versions) and its name claim."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyDeleted, NameTaken
from domain.rules import clean_description, clean_name, clean_tags, name_key

_NAMES = uuid5(NAMESPACE_URL, "modelrepo:model-names")


class ModelList(StrEnum):
    ORIGINAL = "ORIGINAL"
    OPTIMIZED = "OPTIMIZED"


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


class ModelName(Aggregate):
    """Claims a model name within one list. Its id is derived from the list and the
    normalized name, so two concurrent claims of one name conflict at version 1."""

    @staticmethod
    def create_id(model_list: str, key: str, **_: Any) -> UUID:
        return name_id(ModelList(model_list), key)

    @event("Claimed")
    def __init__(self, model_list: str, key: str, name: str, model_id: UUID) -> None:
        self.model_list = model_list
        self.key = key
        self.name = name
        self.model_id: UUID | None = model_id

    @classmethod
    def claim_new(cls, model_list: ModelList, name: str, model_id: UUID) -> ModelName:
        return cls(model_list=model_list.value, key=name_key(name), name=name, model_id=model_id)

    def claim(self, name: str, model_id: UUID) -> None:
        if self.model_id is not None:
            raise NameTaken(self.name, self.model_list)
        self._reclaimed(name=name, model_id=model_id)

    @event("Reclaimed")
    def _reclaimed(self, name: str, model_id: UUID) -> None:
        self.name = name
        self.model_id = model_id

    def release(self) -> None:
        if self.model_id is not None:
            self._released()

    @event("Released")
    def _released(self) -> None:
        self.model_id = None


def name_id(model_list: ModelList, name: str) -> UUID:
    return uuid5(_NAMES, f"{model_list.value}/{name_key(name)}")
