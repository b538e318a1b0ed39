"""Building input objects from GraphQL values with a plan made once per input type.

Strawberry converts an input value field by field on every request, resolving each
field's type and GraphQL name again each time (about a fifth of a small mutation's
GraphQL time). ``from_input`` is strawberry's hook for a type that builds its own value
(``StrawberryObjectDefinition.from_input``); ``plan_inputs`` sets it on every input type
of a schema to a builder that does what strawberry's ``convert_argument`` does, with the
per-field work (name, resolved type, whether the value needs converting) done once.

Nested input objects (and lists of them) are built by their own planned builders; any
other field whose value needs more than copying (``Maybe``, GlobalID, lazy types, lists
of lists) still goes through strawberry's own conversion (``InputContext.convert``).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from typing import Any, cast

import strawberry
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.schema.config import StrawberryConfig
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.lazy_type import LazyType
from strawberry.types.unset import UNSET


class _Kind(enum.Enum):
    AS_IS = "as-is"  # scalars and enums: graphql-core's value is the Python value
    LIST_AS_IS = "list-as-is"  # a list of those: copied (a default list is shared)
    INPUT = "input"  # an input object with a planned builder
    INPUT_LIST = "input-list"  # a list of those (items not null)
    CONVERT = "convert"  # anything else: strawberry's conversion


_Build = Callable[[type, Mapping[str, Any], InputContext], Any]


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    graphql_name: str
    python_name: str
    type_: StrawberryType | type
    kind: _Kind
    cls: type | None = None  # INPUT and INPUT_LIST: the class built, and its builder
    build: _Build | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    config: StrawberryConfig
    scalar_registry: Mapping[object, Any]
    required: tuple[str, ...]  # fields without a default: None unless given
    fields: tuple[_Field, ...]


def plan_inputs(schema: strawberry.Schema) -> None:
    """Set the planned builder on every input type of ``schema`` that has no builder of
    its own and no ``Maybe`` field (strawberry validates those only without a builder)."""
    for concrete in schema.schema_converter.type_map.values():
        definition = concrete.definition
        if (
            isinstance(definition, StrawberryObjectDefinition)
            and definition.is_input
            and not definition.is_one_of
            and definition.from_input is None
            and not any(isinstance(f.type, StrawberryMaybe) for f in definition.fields)
        ):
            definition.from_input = _builder(definition)


_PLANNED: set[_Build] = set()  # the builders made here, one per input type


def _builder(definition: StrawberryObjectDefinition) -> _Build:
    plans: list[_Plan] = []  # one per schema config; in practice one

    def build(cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        plan = _find(plans, context)
        if plan is None:
            plan = _plan(definition, context)
            plans.append(plan)
        kwargs: dict[str, Any] = dict.fromkeys(plan.required)
        for field in plan.fields:
            name = field.graphql_name
            if name not in value:
                continue
            given = value[name]
            if field.kind is _Kind.AS_IS:
                kwargs[field.python_name] = given
            elif field.kind is _Kind.LIST_AS_IS:
                kwargs[field.python_name] = (
                    given if given is None or given is UNSET else list(given)
                )
            elif field.kind is _Kind.INPUT and given is not None and given is not UNSET:
                assert field.cls is not None and field.build is not None
                kwargs[field.python_name] = field.build(field.cls, given, _within(context, name))
            elif field.kind is _Kind.INPUT_LIST and given is not None and given is not UNSET:
                assert field.cls is not None and field.build is not None
                item_cls, build_item = field.cls, field.build
                kwargs[field.python_name] = [
                    build_item(item_cls, item, _within(context, name, index))
                    for index, item in enumerate(given)
                ]
            elif field.kind is _Kind.INPUT or field.kind is _Kind.INPUT_LIST:
                kwargs[field.python_name] = given
            else:
                kwargs[field.python_name] = context.convert(given, field.type_, name)
        return cls(**kwargs)

    _PLANNED.add(build)
    return build


def _within(context: InputContext, *keys: str | int) -> InputContext:
    """The context of a nested input, as ``InputContext.convert`` would pass it."""
    return InputContext(
        info=context.info,
        config=context.config,
        scalar_registry=context.scalar_registry,
        path=(*context.path, *keys),
    )


def _find(plans: list[_Plan], context: InputContext) -> _Plan | None:
    for plan in plans:
        if plan.config is context.config and plan.scalar_registry is context.scalar_registry:
            return plan
    return None


def _plan(definition: StrawberryObjectDefinition, context: InputContext) -> _Plan:
    registry = context.scalar_registry
    fields = []
    for field in definition.fields:
        type_ = field.resolve_type(type_definition=definition)
        inner = type_.of_type if isinstance(type_, StrawberryOptional) else type_
        item = inner.of_type if isinstance(inner, StrawberryList) else None
        cls: type | None = None
        build: _Build | None = None
        if _is_plain(inner, registry):
            kind = _Kind.AS_IS
        elif item is not None and _is_plain(
            item.of_type if isinstance(item, StrawberryOptional) else item, registry
        ):
            kind = _Kind.LIST_AS_IS
        elif (build := _planned_builder(inner)) is not None:
            kind, cls = _Kind.INPUT, cast(type, inner)
        elif (build := _planned_builder(item)) is not None:
            kind, cls = _Kind.INPUT_LIST, cast(type, item)
        else:
            kind = _Kind.CONVERT
        assert field.python_name is not None
        fields.append(
            _Field(
                graphql_name=context.config.name_converter.from_field(field),
                python_name=field.python_name,
                type_=type_,
                kind=kind,
                cls=cls,
                build=build,
            )
        )
    required = tuple(
        f.python_name
        for f in definition.fields
        if f.default_value is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    return _Plan(context.config, registry, required, tuple(fields))


def _planned_builder(type_: object) -> _Build | None:
    """The builder made here for an input class (not a generic one, not a container)."""
    definition = getattr(type_, "__strawberry_definition__", None)
    if (
        isinstance(type_, type)
        and isinstance(definition, StrawberryObjectDefinition)
        and definition.from_input is not None
        and definition.from_input in _PLANNED
    ):
        return definition.from_input
    return None


def _is_plain(type_: object, registry: Mapping[object, Any]) -> bool:
    """A scalar or enum: strawberry passes graphql-core's value on unchanged."""
    if isinstance(type_, LazyType):
        return _is_plain(type_.resolve_type(), registry)
    if type_ is GlobalID or isinstance(type_, StrawberryMaybe):
        return False
    return (
        isinstance(type_, StrawberryEnumDefinition)
        or has_enum_definition(type_)
        or is_scalar(type_, registry)
    )
