"""TensorFlow formats: a SavedModel folder and a frozen graph (a serialized GraphDef).

Both are checked at the protobuf wire level (see :mod:`._protowire`), so TensorFlow need not
be installed: the bytes must be a well-formed message whose fields have the types of
``GraphDef`` / ``NodeDef`` / ``SavedModel``.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from app.packages.formats._protowire import LEN, VARINT, WireError, expect, iter_fields, text
from app.packages.formats._sniff import hint, mapped
from app.packages.inventory import Package
from app.packages.problems import Problem

# field number -> (wire type, name) for the fields we know of each message.
_GRAPH_DEF = {1: (LEN, "node"), 2: (LEN, "library"), 3: (VARINT, "version"), 4: (LEN, "versions")}
_NODE_DEF = {
    1: (LEN, "name"),
    2: (LEN, "op"),
    3: (LEN, "input"),
    4: (LEN, "device"),
    5: (LEN, "attr"),
}
_SAVED_MODEL = {1: (VARINT, "saved_model_schema_version"), 2: (LEN, "meta_graphs")}
_META_GRAPH = {1: (LEN, "meta_info_def"), 2: (LEN, "graph_def"), 5: (LEN, "signature_def")}
_SHARD = re.compile(r"^variables\.data-(\d+)-of-(\d+)$")


def check_graph_def(data: memoryview, start: int, end: int, *, need_nodes: bool = True) -> int:
    """The number of nodes of the GraphDef in ``data[start:end]``; raises WireError."""
    nodes = 0
    for field in iter_fields(data, start, end):
        if field.number in _GRAPH_DEF:
            expect(field, *_GRAPH_DEF[field.number])
        if field.number == 1:
            try:
                _check_node(data, field.start, field.end)
            except WireError as exc:
                raise WireError(f"node #{nodes}: {exc}") from None
            nodes += 1
    if need_nodes and not nodes:
        raise WireError("the graph has no nodes")
    return nodes


def _check_node(data: memoryview, start: int, end: int) -> None:
    name = op = ""
    for field in iter_fields(data, start, end):
        if field.number not in _NODE_DEF:
            continue
        expect(field, *_NODE_DEF[field.number])
        if field.number == 1:
            name = text(data, field, "the node name")
        elif field.number == 2:
            op = text(data, field, "the op name")
        elif field.number in (3, 4):
            text(data, field, "an input or device name")
        else:  # a map<string, AttrValue> entry
            for entry in iter_fields(data, field.start, field.end):
                if entry.number == 1:
                    expect(entry, LEN, "attr key")
                    text(data, entry, "an attribute name")
    if not name:
        raise WireError("a node has no name")
    if not op:
        raise WireError(f"node {name!r} has no op")


def check_frozen_graph(package: Package) -> list[Problem]:
    saved_models = package.called("saved_model.pb")
    if saved_models:
        return [
            Problem(name, "is a SavedModel; import this package with the SAVED_MODEL format")
            for name in saved_models
        ]
    candidates = package.candidates(".pb", ".graphdef")
    if not candidates:
        return [Problem("", "no frozen graph (a .pb file) in the package")]
    problems: list[Problem] = []
    for name in candidates:
        if not package.files[name]:
            problems.append(Problem(name, "the model file is empty"))
            continue
        try:
            with mapped(package.path(name)) as data:
                check_graph_def(data, 0, len(data))
        except WireError as exc:
            problems.append(
                Problem(name, f"not a TensorFlow GraphDef{hint(package.head(name))}: {exc}")
            )
    return problems


def check_saved_model(package: Package) -> list[Problem]:
    found = package.called("saved_model.pb") + package.called("saved_model.pbtxt")
    if not found:
        return [Problem("", "no saved_model.pb in the package (is it a SavedModel folder?)")]
    folders = sorted({str(PurePosixPath(name).parent) for name in found})
    if len(folders) > 1:
        return [Problem("", f"several SavedModels in one package: {', '.join(folders)}")]
    if len(found) > 1:
        return [Problem(found[0], "saved_model.pb and saved_model.pbtxt are both present")]
    (name,) = found
    prefix = "" if folders[0] == "." else folders[0] + "/"
    return _check_saved_model_file(package, name) + _check_variables(package, prefix)


def _check_saved_model_file(package: Package, name: str) -> list[Problem]:
    if not package.files[name]:
        return [Problem(name, "the file is empty")]
    if name.endswith(".pbtxt"):
        try:
            content = package.path(name).read_text("utf-8")
        except UnicodeDecodeError:
            return [Problem(name, "is not a text file")]
        ok = "meta_graphs" in content
        return [] if ok else [Problem(name, "is not a SavedModel in text form (no meta_graphs)")]
    try:
        with mapped(package.path(name)) as data:
            _check_saved_model_message(data)
    except WireError as exc:
        return [Problem(name, f"not a SavedModel{hint(package.head(name))}: {exc}")]
    return []


def _check_saved_model_message(data: memoryview) -> None:
    meta_graphs = signatures = 0
    for field in iter_fields(data):
        if field.number in _SAVED_MODEL:
            expect(field, *_SAVED_MODEL[field.number])
        if field.number != 2:
            continue
        meta_graphs += 1
        for part in iter_fields(data, field.start, field.end):
            if part.number in _META_GRAPH:
                expect(part, *_META_GRAPH[part.number])
            if part.number == 2:
                check_graph_def(data, part.start, part.end, need_nodes=False)
            signatures += part.number == 5
    if not meta_graphs:
        raise WireError("it has no meta graphs")
    if not signatures:
        raise WireError("it defines no signatures; serving needs one (e.g. serving_default)")


def _check_variables(package: Package, prefix: str) -> list[Problem]:
    folder = prefix + "variables/"
    names = [name.removeprefix(folder) for name in package.files if name.startswith(folder)]
    if not names:
        # A model without variables: TensorFlow writes an empty folder, which zip files
        # and object stores do not keep.
        return []
    problems: list[Problem] = []
    if "variables.index" not in names:
        problems.append(Problem(folder + "variables.index", "is missing"))
    shards = [match for match in map(_SHARD.match, names) if match]
    if not shards:
        problems.append(Problem(folder, "has no variables.data-?????-of-????? files"))
    for total in {int(match.group(2)) for match in shards}:
        present = {int(match.group(1)) for match in shards if int(match.group(2)) == total}
        missing = sorted(set(range(total)) - present)
        if missing:
            problems.append(
                Problem(folder, f"variables data shards {missing} of {total} are missing")
            )
    return problems
