"""PMML: an XML document whose root element is ``PMML`` (in any namespace) with a data
dictionary and at least one model element.

The parser is defusedxml's with DTDs, entity declarations and external references all
forbidden, so an external-entity (XXE) or billion-laughs document fails at its ``<!DOCTYPE``
before any expansion. The document is streamed, so a large file is never held in memory.
"""

from __future__ import annotations

from typing import BinaryIO
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
from defusedxml.ElementTree import iterparse

from app.packages.formats._sniff import hint
from app.packages.inventory import Package
from app.packages.problems import Problem

_MODEL_ELEMENTS = frozenset(
    {
        "AnomalyDetectionModel",
        "AssociationModel",
        "BayesianNetworkModel",
        "BaselineModel",
        "ClusteringModel",
        "GaussianProcessModel",
        "GeneralRegressionModel",
        "MiningModel",
        "NaiveBayesModel",
        "NearestNeighborModel",
        "NeuralNetwork",
        "RegressionModel",
        "RuleSetModel",
        "Scorecard",
        "SequenceModel",
        "SupportVectorMachineModel",
        "TextModel",
        "TimeSeriesModel",
        "TreeModel",
    }
)


def check_pmml(package: Package) -> list[Problem]:
    candidates = package.candidates(".pmml", ".xml")
    if not candidates:
        return [Problem("", "no PMML document (a .pmml or .xml file) in the package")]
    problems: list[Problem] = []
    for name in candidates:
        if not package.files[name]:
            problems.append(Problem(name, "the model file is empty"))
            continue
        message = _pmml_problem(package, name)
        if message:
            problems.append(Problem(name, message))
    return problems


def _pmml_problem(package: Package, name: str) -> str | None:
    try:
        with open(package.path(name), "rb") as file:
            return _walk(file)
    except DTDForbidden:
        return "not accepted: PMML documents may not contain a DTD (<!DOCTYPE …>)"
    except EntitiesForbidden:
        return "not accepted: PMML documents may not declare entities"
    except DefusedXmlException as exc:  # external references and the like
        return f"not accepted: {exc}"
    except ParseError as exc:
        return f"not a well-formed XML document{hint(package.head(name))}: {exc}"


def _walk(file: BinaryIO) -> str | None:
    children: set[str] = set()
    depth = 0
    events = iterparse(
        file, events=("start", "end"), forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    for event, element in events:
        if event == "end":
            depth -= 1
            element.clear()  # keep memory flat on large documents
            continue
        depth += 1
        tag = _local(element.tag)
        if depth == 1 and tag != "PMML":
            return f"not a PMML document: the root element is <{tag}>, not <PMML>"
        if depth == 2:
            children.add(tag)
    if "DataDictionary" not in children:
        return "the PMML document has no <DataDictionary>"
    if not children & _MODEL_ELEMENTS:
        return "the PMML document has no model element (e.g. <TreeModel>, <RegressionModel>)"
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
