"""Preprocessing steps: each kind on known values, parsing, chain editing, column checks
and the whole-input statistics pass."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.batch.errors import StepFailed, StepsError
from app.batch.statistics import StatisticsPass
from app.batch.steps import (
    Cast,
    Clip,
    Drop,
    FillMissing,
    MinMaxScale,
    OneHot,
    Rename,
    Select,
    StandardScale,
    Step,
    add_step,
    apply_steps,
    check_columns,
    dump_steps,
    edit_step,
    move_step,
    output_columns,
    parse_steps,
    remove_step,
    required_columns,
)


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "x": [1.0, np.nan, 3.0, 8.0],
            "n": ["1", "2", "3", "40"],
            "c": ["red", "green", "blue", None],
        }
    )


def run(raw: list[dict[str, Any]], data: pd.DataFrame | None = None) -> pd.DataFrame:
    return apply_steps(parse_steps(raw), frame() if data is None else data)


# -- each kind -----------------------------------------------------------------------------


def test_select_keeps_the_given_columns_in_the_given_order() -> None:
    out = run([{"kind": "select", "columns": ["c", "id"]}])
    assert list(out.columns) == ["c", "id"]
    assert out["id"].tolist() == [1, 2, 3, 4]


def test_rename_and_drop() -> None:
    out = run([{"kind": "rename", "mapping": {"x": "y"}}, {"kind": "drop", "columns": ["n", "c"]}])
    assert list(out.columns) == ["id", "y"]


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("float32", [1.0, 2.0, 3.0, 40.0]),
        ("float64", [1.0, 2.0, 3.0, 40.0]),
        ("int32", [1, 2, 3, 40]),
        ("int64", [1, 2, 3, 40]),
        ("string", ["1", "2", "3", "40"]),
    ],
)
def test_cast_text_to(dtype: str, expected: list[object]) -> None:
    out = run([{"kind": "cast", "column": "n", "dtype": dtype}])
    assert str(out["n"].dtype) == dtype
    assert out["n"].tolist() == expected


def test_cast_to_bool_from_numbers_and_words() -> None:
    data = pd.DataFrame({"a": [0, 2, -1], "b": ["yes", "False", " TRUE "]})
    out = run(
        [{"kind": "cast", "column": c, "dtype": "bool"} for c in ("a", "b")],
        data,
    )
    assert out["a"].tolist() == [False, True, True]
    assert out["b"].tolist() == [True, False, True]
    assert out["b"].dtype == bool


@pytest.mark.parametrize(
    ("data", "dtype", "message"),
    [
        ([1.0, np.nan], "int64", "missing values"),
        ([1.5, 2.0], "int32", "not whole numbers: 1.5"),
        ([1, 2**40], "int32", "outside the int32 range"),
        (["1", "one"], "float64", "not float64 numbers: 'one'"),
        (["yes", "maybe"], "bool", "not booleans: 'maybe'"),
    ],
)
def test_cast_refuses_what_it_cannot_convert(data: list[object], dtype: str, message: str) -> None:
    with pytest.raises(StepFailed, match=message) as caught:
        run([{"kind": "cast", "column": "v", "dtype": dtype}], pd.DataFrame({"v": data}))
    assert str(caught.value).startswith("step 0 (cast): column 'v'")


def test_fill_missing_with_constants() -> None:
    out = run(
        [
            {"kind": "fill_missing", "column": "x", "value": -1},
            {"kind": "fill_missing", "column": "c", "value": "unknown"},
        ]
    )
    assert out["x"].tolist() == [1.0, -1.0, 3.0, 8.0]
    assert out["c"].tolist() == ["red", "green", "blue", "unknown"]


def test_standard_scale() -> None:
    out = run([{"kind": "standard_scale", "column": "id", "mean": 2.5, "std": 0.5}])
    assert out["id"].tolist() == [-3.0, -1.0, 1.0, 3.0]


def test_min_max_scale_maps_the_range_onto_0_1() -> None:
    out = run([{"kind": "min_max_scale", "column": "id", "min": 1, "max": 5}])
    assert out["id"].tolist() == [0.0, 0.25, 0.5, 0.75]


def test_clip_with_one_or_two_bounds() -> None:
    out = run(
        [
            {"kind": "clip", "column": "id", "lower": 2, "upper": 3},
            {"kind": "clip", "column": "x", "upper": 2.5},
        ]
    )
    assert out["id"].tolist() == [2, 2, 3, 3]
    assert out["x"].tolist()[::2] == [1.0, 2.5]
    assert np.isnan(out["x"][1])


def test_one_hot_replaces_the_column_and_zeroes_unknown_and_missing_values() -> None:
    out = run([{"kind": "one_hot", "column": "c", "categories": ["red", "blue"]}])
    assert list(out.columns) == ["id", "x", "n", "c_red", "c_blue"]
    assert out["c_red"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert out["c_blue"].tolist() == [0.0, 0.0, 1.0, 0.0]  # green and None: all zeros
    assert out["c_red"].dtype == np.float32


def test_numeric_steps_refuse_text_columns() -> None:
    with pytest.raises(StepFailed, match=r"step 0 \(standard_scale\).*'c' is not numeric"):
        run([{"kind": "standard_scale", "column": "c", "mean": 0, "std": 1}])


def test_apply_does_not_change_its_input() -> None:
    data = frame()
    run(
        [{"kind": "fill_missing", "column": "x", "value": 0}, {"kind": "drop", "columns": ["c"]}],
        data,
    )
    pd.testing.assert_frame_equal(data, frame())


# -- parsing -------------------------------------------------------------------------------


def test_parse_lists_every_problem() -> None:
    raw: list[Any] = [
        {"kind": "scale", "column": "x"},
        {"kind": "standard_scale", "column": "x", "mean": 0, "std": 0},
        {"kind": "min_max_scale", "column": "x", "min": 2, "max": 2},
        {"kind": "clip", "column": "x", "lower": 3, "upper": 1},
        {"kind": "one_hot", "column": "c", "categories": []},
        {"kind": "cast", "column": "x", "dtype": "float16", "extra": 1},
        {"kind": "rename"},
        {"kind": "fill_missing", "column": "x"},
        {"kind": "fill_missing", "column": "x", "value": 1, "strategy": "mean"},
        {"kind": "select", "columns": ["a", "a"]},
        {"kind": "standard_scale", "column": "x", "mean": "1", "std": True},
        "select",
    ]
    with pytest.raises(StepsError) as caught:
        parse_steps(raw)
    problems = caught.value.problems
    expected = [
        "step 0: unknown kind 'scale'",
        "step 1 (standard_scale): std must be > 0",
        "step 2 (min_max_scale): min must be < max",
        "step 3 (clip): lower must be <= upper",
        "step 4 (one_hot): categories must be a non-empty list",
        "step 5 (cast): unknown parameter 'extra'",
        "step 5 (cast): dtype must be one of float32, float64, int32, int64, string, bool",
        "step 6 (rename): missing parameter 'mapping'",
        "step 7 (fill_missing): needs a value",
        "step 8 (fill_missing): takes no value with strategy 'mean'",
        "step 9 (select): columns repeats the column 'a'",
        "step 10 (standard_scale): mean must be a number, got '1'",
        "step 10 (standard_scale): std must be a number, got True",
        "step 11: must be an object with a 'kind'",
    ]
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem
    assert "14 problems" in str(caught.value)


def test_parse_and_dump_round_trip() -> None:
    raw: list[dict[str, Any]] = [
        {"kind": "rename", "mapping": {"a": "b"}},
        {"kind": "fill_missing", "column": "b", "strategy": "mean"},
        {"kind": "fill_missing", "column": "c", "value": "x"},
        {"kind": "one_hot", "column": "c", "categories": ["x", 1], "dtype": "int32"},
        {"kind": "clip", "column": "b", "lower": 0, "upper": None},
    ]
    steps = parse_steps(raw)
    assert parse_steps(dump_steps(steps)) == steps
    assert steps[3] == OneHot("c", ("x", 1), "int32")


def test_parse_refuses_a_non_list() -> None:
    with pytest.raises(StepsError, match="must be a list"):
        parse_steps("select")


# -- editing and columns --------------------------------------------------------------------

RENAME_THEN_SCALE: list[dict[str, Any]] = [
    {"kind": "rename", "mapping": {"x": "x2"}},
    {"kind": "standard_scale", "column": "x2", "mean": 0, "std": 2},
]


def test_removing_a_rename_leaves_the_scale_reading_a_missing_column() -> None:
    steps = parse_steps(RENAME_THEN_SCALE)
    assert check_columns(steps, ["id", "x"]) == []
    shorter = remove_step(steps, 0)
    assert shorter == [steps[1]]  # the chain is connected: the scale now reads the input
    assert check_columns(shorter, ["id", "x"]) == [
        "step 0 (standard_scale) reads column 'x2', which is not there (available: 'id', 'x')"
    ]
    assert required_columns(shorter, ["id", "x"]) == ["id", "x", "x2"]  # x2 is missing


def test_removing_a_middle_no_op_keeps_the_results() -> None:
    steps = parse_steps(
        [
            {"kind": "fill_missing", "column": "x", "value": 0},
            {"kind": "clip", "column": "id", "lower": -100, "upper": 100},  # no-op here
            {"kind": "min_max_scale", "column": "x", "min": 0, "max": 10},
        ]
    )
    pd.testing.assert_frame_equal(
        apply_steps(remove_step(steps, 1), frame()), apply_steps(steps, frame())
    )
    assert apply_steps(steps, frame())["x"].tolist() == [0.1, 0.0, 0.3, 0.8]


def test_add_move_and_edit_return_new_chains() -> None:
    steps = parse_steps(RENAME_THEN_SCALE)
    added = add_step(steps, {"kind": "clip", "column": "x2", "lower": 0}, 1)
    assert [s.kind for s in added] == ["rename", "clip", "standard_scale"]
    assert add_step(steps, Drop(("id",)))[-1] == Drop(("id",))
    moved = move_step(added, 0, 2)
    assert [s.kind for s in moved] == ["clip", "standard_scale", "rename"]
    assert move_step(moved, 2, 0) == added
    edited = edit_step(steps, 1, {"column": "x2", "mean": 1, "std": 4})
    assert edited[1] == StandardScale("x2", 1.0, 4.0)
    assert [s.kind for s in steps] == ["rename", "standard_scale"]  # unchanged


def test_editing_checks_the_new_params_and_indices() -> None:
    steps = parse_steps(RENAME_THEN_SCALE)
    with pytest.raises(StepsError, match=r"step 1 \(standard_scale\): std must be > 0"):
        edit_step(steps, 1, {"column": "x2", "mean": 0, "std": -1})
    with pytest.raises(IndexError, match="the chain has 2 steps"):
        remove_step(steps, 2)
    with pytest.raises(IndexError):
        move_step(steps, -1, 0)
    with pytest.raises(StepsError, match="unknown kind"):
        add_step(steps, {"kind": "nope"})


def test_check_columns_names_every_missing_column_and_collision() -> None:
    steps: list[Step] = [
        Select(("id", "x", "c")),
        Rename({"x": "id"}),
        OneHot("c", ("a", "b")),
        Cast("n", "float32"),
        FillMissing("c_a", value=0),
    ]
    assert check_columns(steps, ["id", "x", "c"]) == [
        "step 1 (rename) would create column 'id', which already exists",
        "step 3 (cast) reads column 'n', which is not there (available: 'id', 'id', 'c_a', 'c_b')",
    ]
    assert check_columns(steps, ["id"]) == [
        "step 0 (select) reads column 'x', which is not there (available: 'id')",
        "step 0 (select) reads column 'c', which is not there (available: 'id')",
        "step 1 (rename) would create column 'id', which already exists",
        "step 3 (cast) reads column 'n', which is not there (available: 'id', 'id', 'c_a', 'c_b')",
    ]


def test_required_columns_follow_renames_and_selects() -> None:
    steps: list[Step] = [
        Rename({"a": "b"}),
        OneHot("c", ("u",)),
        Select(("b", "c_u")),
        Clip("b", 0, 1),
    ]
    available = ["z", "c", "a", "unused"]
    assert required_columns(steps, available) == ["c", "a"]
    assert output_columns(steps, available) == ["b", "c_u"]
    assert required_columns([Drop(("unused",))], available) == available  # no select: all


def test_apply_names_a_missing_column() -> None:
    with pytest.raises(StepFailed, match=r"step 1 \(min_max_scale\): column 'y' is not there"):
        apply_steps([Drop(("c",)), MinMaxScale("y", 0, 1)], frame())


# -- statistics pass -----------------------------------------------------------------------


def test_mean_fill_uses_the_mean_over_every_chunk() -> None:
    steps = parse_steps(
        [
            {"kind": "rename", "mapping": {"x": "v"}},
            {"kind": "clip", "column": "v", "upper": 5},
            {"kind": "fill_missing", "column": "v", "strategy": "mean"},
            {"kind": "fill_missing", "column": "id", "strategy": "mean"},
        ]
    )
    with pytest.raises(StepFailed, match="the mean of column 'v' is not known"):
        apply_steps(steps, frame())
    stats = StatisticsPass(steps)
    assert stats.needed
    chunks = [frame().iloc[:2], frame().iloc[2:]]  # the first chunk alone: mean 1
    for chunk in chunks:
        stats.update(chunk)
    assert stats.means() == {2: 3.0, 3: 2.5}  # v after the clip: (1 + 3 + 5) / 3
    resolved = stats.resolve()
    assert resolved[2] == FillMissing("v", value=3.0)
    out = apply_steps(resolved, chunks[0])
    assert out["v"].tolist() == [1.0, 3.0]


def test_statistics_pass_refuses_text_and_empty_columns() -> None:
    text = StatisticsPass([FillMissing("c", strategy="mean")])
    with pytest.raises(StepFailed, match="'c' is not numeric"):
        text.update(frame())
    empty = StatisticsPass([FillMissing("x", strategy="mean")])
    empty.update(pd.DataFrame({"x": [np.nan, np.nan]}))
    with pytest.raises(StepFailed, match="'x' has no values"):
        empty.resolve()
    assert not StatisticsPass([Drop(("c",))]).needed
