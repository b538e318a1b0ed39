"""The planned input builders (app.graphql._inputs) build what strawberry builds."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.types.arguments import convert_argument
from strawberry.types.base import StrawberryObjectDefinition

from app.graphql._inputs import plan_inputs
from app.graphql.models.inputs import FilesInput, ImportMode, ImportModelInput, VersionInput
from app.graphql.models.types import MetricInput, ModelFormat, TagInput
from app.graphql.schema import build_schema
from domain.model import ModelList as DomainList


def _convert(schema: strawberry.Schema, value: object, type_: type, *, planned: bool) -> Any:
    definitions = [
        concrete.definition
        for concrete in schema.schema_converter.type_map.values()
        if isinstance(concrete.definition, StrawberryObjectDefinition)
    ]
    saved = {id(d): d.from_input for d in definitions}
    try:
        if not planned:
            for d in definitions:
                d.from_input = None
        return convert_argument(
            value, type_, schema.schema_converter.scalar_registry, schema.config
        )
    finally:
        for d in definitions:
            d.from_input = saved[id(d)]


def test_every_input_type_gets_a_planned_builder() -> None:
    schema = build_schema()
    inputs = [
        concrete.definition
        for concrete in schema.schema_converter.type_map.values()
        if isinstance(concrete.definition, StrawberryObjectDefinition)
        and concrete.definition.is_input
    ]
    assert inputs
    assert all(d.from_input is not None for d in inputs)


def test_a_nested_input_is_built_as_strawberry_builds_it() -> None:
    schema = build_schema()
    value = {
        "name": "m",
        "version": {
            "format": ModelFormat.ONNX,
            "framework": None,
            "metrics": [{"name": "acc", "value": 0.9}, {"name": "f1", "value": 0.5}],
            "files": {"uri": "s3://b/p", "mode": ImportMode.MOVE},
        },
        "list": DomainList.OPTIMIZED,
        "tags": [{"key": "team", "value": "a"}],
    }
    planned = _convert(schema, value, ImportModelInput, planned=True)
    default = _convert(schema, value, ImportModelInput, planned=False)
    assert planned == default
    assert planned.version.metrics == [
        MetricInput(name="acc", value=0.9),
        MetricInput(name="f1", value=0.5),
    ]
    assert planned.version.files == FilesInput(uri="s3://b/p", mode=ImportMode.MOVE)
    assert planned.version.runtime is None  # omitted and without a published default
    assert planned.tags == [TagInput(key="team", value="a")]
    assert planned.model_list is DomainList.OPTIMIZED


def test_omitted_fields_keep_their_defaults_and_lists_are_copied() -> None:
    schema = build_schema()
    metrics: list[dict[str, object]] = []
    value = {"format": ModelFormat.ONNX, "metrics": metrics}
    planned = _convert(schema, value, VersionInput, planned=True)
    assert planned == _convert(schema, value, VersionInput, planned=False)
    assert planned.files is None and planned.metrics == []
    assert planned.metrics is not metrics


@strawberry.input
class Sample:
    some_name: str
    some_list: list[int] | None = None


@strawberry.type
class EchoQuery:
    @strawberry.field
    def echo(self, sample: Sample) -> str:
        return f"{sample.some_name} {sample.some_list}"


def test_a_schema_with_another_config_gets_its_own_plan() -> None:
    camel = strawberry.Schema(query=EchoQuery)
    plan_inputs(camel)
    snake = strawberry.Schema(query=EchoQuery, config=StrawberryConfig(auto_camel_case=False))
    plan_inputs(snake)
    done = camel.execute_sync('{ echo(sample: {someName: "a", someList: [1, 2]}) }')
    assert done.errors is None and done.data == {"echo": "a [1, 2]"}
    done = snake.execute_sync('{ echo(sample: {some_name: "b"}) }')
    assert done.errors is None and done.data == {"echo": "b None"}
