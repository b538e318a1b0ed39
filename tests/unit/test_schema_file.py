from __future__ import annotations

from pathlib import Path

from app.graphql.schema import schema

SCHEMA_FILE = Path(__file__).parents[2] / "schema.graphql"


def test_schema_graphql_matches_the_code() -> None:
    exported = schema.as_str() + "\n"
    assert SCHEMA_FILE.read_text() == exported, (
        "schema.graphql is out of date: run `make schema` and commit it"
    )
