from __future__ import annotations

import math

import pytest

from domain.errors import ValidationError
from domain.formats import ModelFormat, resolve_runtime
from domain.rules import clean_metrics, clean_name, clean_tags, hidden_character, name_key


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "empty"),
        ("   \t ", "empty"),
        ("x" * 65, "at most 64"),
        ("bad\x00name", "control"),
        ("bad\u202ename", "U\\+202E \\(RIGHT-TO-LEFT OVERRIDE\\)"),
        ("bad\u200bname", "U\\+200B \\(ZERO WIDTH SPACE\\)"),
        ("bad\ud800name", "U\\+D800"),
    ],
)
def test_bad_names_are_refused(name: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        clean_name(name)


@pytest.mark.parametrize(
    "text", ["\x01", "\x9f", "\u061c", "\u200e", "\u2066", "\u2069", "\u2060", "\ufeff", "\u2029"]
)
def test_controls_and_invisible_characters_are_found(text: str) -> None:
    assert hidden_character(f"a{text}b") == hidden_character(text) is not None


def test_visible_text_has_no_hidden_character() -> None:
    for text in ("resnet-50 v2", "Modèle Ω", "模型", "emoji 🙂", "a\u00a0b", ""):
        assert hidden_character(text) is None, text


def test_names_are_trimmed_and_64_characters_fit() -> None:
    assert clean_name("  resnet  ") == "resnet"
    assert clean_name(" " + "x" * 64 + " ") == "x" * 64


def test_names_differing_in_case_or_spaces_share_a_key() -> None:
    assert name_key(" ResNet ") == name_key("resnet") == name_key("RESNET")
    assert name_key("res net") != name_key("resnet")


def test_tags_accept_fifty_and_refuse_fifty_one() -> None:
    assert len(clean_tags({f"k{i}": "v" for i in range(50)})) == 50
    with pytest.raises(ValidationError, match="at most 50"):
        clean_tags({f"k{i}": "v" for i in range(51)})


@pytest.mark.parametrize(
    ("pairs", "problem"),
    [
        ([("", "v")], "1-127"),
        ([("   ", "v")], "1-127"),
        ([("k" * 128, "v")], "1-127"),
        ([("k", "v" * 256)], "at most 255"),
        ([("k", 5)], "must be a string"),
        ([("k", None)], "must be a string"),
        ([(5, "v")], "keys must be strings"),
        ([("k", "a"), ("k", "b")], "given twice"),
    ],
)
def test_bad_tags_are_refused(pairs: list[tuple[object, object]], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        clean_tags(pairs)


def test_tag_limits_are_inclusive() -> None:
    tags = clean_tags([("k" * 127, "v" * 255), ("empty", "")])
    assert tags == {"k" * 127: "v" * 255, "empty": ""}


@pytest.mark.parametrize("value", [math.nan, math.inf, "0.9", True])
def test_bad_metrics_are_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        clean_metrics({"acc": value})


def test_runtime_defaults_and_choices() -> None:
    assert resolve_runtime(ModelFormat.ONNX, None) == "onnxruntime"
    assert resolve_runtime(ModelFormat.PYTORCH, None) == "custom"
    assert resolve_runtime(ModelFormat.ONNX, "custom") == "custom"
    assert resolve_runtime(ModelFormat.ONNX, "image: reg/x:1") == "image:reg/x:1"
    with pytest.raises(ValidationError, match="cannot run ONNX"):
        resolve_runtime(ModelFormat.ONNX, "tensorflow")
    with pytest.raises(ValidationError, match="needs a reference"):
        resolve_runtime(ModelFormat.ONNX, "image:")
