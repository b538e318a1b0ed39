from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.packages import Problem, check_package
from domain.formats import ModelFormat, resolve_runtime
from tests.unit.package_builders import (
    BILLION_LAUGHS,
    PMML,
    XXE_PMML,
    field_bytes,
    graph_def,
    node_def,
    saved_model_pb,
    tiny_graph_def,
    write_onnx,
    write_saved_model,
)


def check(root: Path, model_format: ModelFormat, runtime: str | None = None) -> list[Problem]:
    return check_package(root, model_format, resolve_runtime(model_format, runtime))


def messages(problems: list[Problem]) -> list[str]:
    return [str(problem) for problem in problems]


# --- PMML -------------------------------------------------------------------------------


def test_a_valid_pmml_document_passes(tmp_path: Path) -> None:
    (tmp_path / "model.pmml").write_text(PMML)
    assert check(tmp_path, ModelFormat.PMML) == []
    (tmp_path / "model.pmml").write_text(PMML.replace(' xmlns="http://www.dmg.org/PMML-4_4"', ""))
    assert check(tmp_path, ModelFormat.PMML) == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (XXE_PMML, "not accepted: PMML documents may not contain a DTD"),
        (BILLION_LAUGHS, "not accepted: PMML documents may not contain a DTD"),
        ("<Model/>", "not a PMML document: the root element is <Model>, not <PMML>"),
        ("<PMML><DataDictionary/>", "not a well-formed XML document: "),
        ("<PMML><DataDictionary/></PMML>", "the PMML document has no model element"),
        ("<PMML><TreeModel/></PMML>", "the PMML document has no <DataDictionary>"),
    ],
)
def test_hostile_or_invalid_pmml_is_a_problem(tmp_path: Path, document: str, message: str) -> None:
    (tmp_path / "model.pmml").write_text(document)
    (problem,) = check(tmp_path, ModelFormat.PMML)  # refused at <!DOCTYPE, nothing expanded
    assert problem.path == "model.pmml"
    assert problem.message.startswith(message)


def test_a_pickle_renamed_pmml_is_not_xml(tmp_path: Path) -> None:
    (tmp_path / "model.xml").write_bytes(b"\x80\x04K\x01.")
    assert messages(check(tmp_path, ModelFormat.PMML))[0].startswith(
        "model.xml: not a well-formed XML document (it is a Python pickle)"
    )


# --- SavedModel -------------------------------------------------------------------------


def test_a_saved_model_passes_at_the_root_or_in_one_folder(tmp_path: Path) -> None:
    write_saved_model(tmp_path / "export" / "1", shards=2)
    assert check(tmp_path, ModelFormat.SAVED_MODEL) == []


def test_a_saved_model_without_variables_passes(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(saved_model_pb())
    assert check(tmp_path, ModelFormat.SAVED_MODEL) == []


def test_saved_model_problems_are_all_listed(tmp_path: Path) -> None:
    write_saved_model(tmp_path, shards=3)
    (tmp_path / "variables" / "variables.index").unlink()
    (tmp_path / "variables" / "variables.data-00001-of-00003").unlink()
    assert messages(check(tmp_path, ModelFormat.SAVED_MODEL)) == [
        "variables/variables.index: is missing",
        "variables/: variables data shards [1] of 3 are missing",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (tiny_graph_def(), "not a SavedModel: field 1 (saved_model_schema_version) should be"),
        (saved_model_pb(signatures=False), "not a SavedModel: it defines no signatures"),
        (b"\x08\x01", "not a SavedModel: it has no meta graphs"),
        (b"\x08\x01\x12\x7f\x01", "not a SavedModel: field 2 runs past the end"),
    ],
)
def test_a_bad_saved_model_pb_is_a_problem(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "saved_model.pb").write_bytes(content)
    (problem,) = check(tmp_path, ModelFormat.SAVED_MODEL)
    assert problem.path == "saved_model.pb"
    assert problem.message.startswith(message)


def test_a_package_without_or_with_several_saved_models_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "model.pb").write_bytes(tiny_graph_def())
    assert messages(check(tmp_path, ModelFormat.SAVED_MODEL)) == [
        "no saved_model.pb in the package (is it a SavedModel folder?)"
    ]
    write_saved_model(tmp_path / "1")
    write_saved_model(tmp_path / "2")
    assert messages(check(tmp_path, ModelFormat.SAVED_MODEL)) == [
        "several SavedModels in one package: 1, 2"
    ]


# --- frozen graph -----------------------------------------------------------------------


def test_a_frozen_graph_passes(tmp_path: Path) -> None:
    (tmp_path / "frozen.pb").write_bytes(tiny_graph_def())
    (tmp_path / "labels.txt").write_text("a\nb\n")
    assert check(tmp_path, ModelFormat.FROZEN_GRAPH) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the model file is empty"),
        (os.urandom(2048) + b"\xff", "not a TensorFlow GraphDef"),
        (b"\x0f\x00", "not a TensorFlow GraphDef: field 1 has the invalid wire type 7"),
        (saved_model_pb(), "not a TensorFlow GraphDef: field 1 (node) should be length-delimited"),
        (graph_def(node_def("x", "")), "not a TensorFlow GraphDef: node #0: node 'x' has no op"),
        (graph_def(field_bytes(2, b"Const")), "not a TensorFlow GraphDef: node #0: a node has"),
        (graph_def(field_bytes(1, b"\xff\xfe") + field_bytes(2, b"Const")), "not valid UTF-8"),
        (field_bytes(4, b""), "not a TensorFlow GraphDef: the graph has no nodes"),
        (b"\x80\x04K\x01.", "not a TensorFlow GraphDef (it is a Python pickle)"),
    ],
)
def test_bytes_that_are_not_a_graph_def_are_problems(
    tmp_path: Path, content: bytes, message: str
) -> None:
    (tmp_path / "frozen.pb").write_bytes(content)
    (problem,) = check(tmp_path, ModelFormat.FROZEN_GRAPH)
    assert problem.path == "frozen.pb"
    assert message in problem.message


def test_an_onnx_model_is_not_a_frozen_graph(tmp_path: Path) -> None:
    write_onnx(tmp_path / "model.pb")
    assert messages(check(tmp_path, ModelFormat.FROZEN_GRAPH)) == [
        "model.pb: not a TensorFlow GraphDef: field 1 (node) should be length-delimited but is "
        "varint"
    ]


def test_a_saved_model_is_not_a_frozen_graph(tmp_path: Path) -> None:
    write_saved_model(tmp_path)
    assert messages(check(tmp_path, ModelFormat.FROZEN_GRAPH)) == [
        "saved_model.pb: is a SavedModel; import this package with the SAVED_MODEL format"
    ]
