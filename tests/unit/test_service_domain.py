"""Service rules: weights, revisions, rollback, removal of versions, status."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.errors import AlreadyDeleted, InvalidState, ValidationError
from domain.service import (
    Service,
    ServiceStatus,
    check_weights,
    clean_service_name,
    deployment,
)


def _entry(number: int, weight: int = 0) -> dict[str, object]:
    return deployment(uuid4(), uuid4(), number, weight=weight)


def _service(*weights: int) -> Service:
    return Service.publish("svc", "host", "hash", [_entry(i + 1, w) for i, w in enumerate(weights)])


@pytest.mark.parametrize("name", ["../x", "%2e%2e%2f", "A", "-a", "a-", "", "a" * 64, "a_b"])
def test_bad_names(name: str) -> None:
    with pytest.raises(ValidationError, match="service name"):
        clean_service_name(name)


def test_good_names() -> None:
    assert clean_service_name(" iris-v2 ") == "iris-v2"
    assert clean_service_name("a" * 63) == "a" * 63


@pytest.mark.parametrize(
    ("weights", "needle"),
    [
        ([0], "sum to 100"),
        ([101], "between 0 and 100"),
        ([-1, 101], "between 0 and 100"),
        ([50.5, 49.5], "whole numbers"),
        ([float("nan")], "whole numbers"),
        ([True], "whole"),
    ],
)
def test_bad_weights(weights: list[object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        check_weights(weights)


def test_publish_gives_the_first_version_everything_by_default() -> None:
    service = _service(0, 0)
    assert [d["weight"] for d in service.deployments] == [100, 0]
    assert service.status == ServiceStatus.DEPLOYING and service.revision == 1


def test_each_change_is_a_revision_and_rollback_restores() -> None:
    service = _service(100)
    first = service.deployments[0]["version_id"]
    new = _entry(2)
    service.add_version(new)
    assert [d["weight"] for d in service.deployments] == [100, 0]  # new versions get 0
    service.set_traffic({first: 70, new["version_id"]: 30})
    assert service.revision == 3
    assert service.rollback() == 2
    assert [d["weight"] for d in service.deployments] == [100, 0]
    assert service.revision == 4
    service.rollback(1)
    assert len(service.deployments) == 1
    with pytest.raises(ValidationError, match="roll back to one of revisions 1-4"):
        service.rollback(5)


def test_full_upgrade_takes_all_instances_and_traffic() -> None:
    service = Service.publish(
        "svc", "h", "k", [deployment(uuid4(), uuid4(), 1, instances=3, weight=100)]
    )
    service.replace_all(deployment(uuid4(), uuid4(), 2, instances=1))
    assert [(d["number"], d["instances"], d["weight"]) for d in service.deployments] == [
        (2, 3, 100)
    ]


def test_removing_a_version_rebalances_or_stops() -> None:
    service = _service(60, 30, 10)
    ids = [d["version_id"] for d in service.deployments]
    service.remove_version(ids[0])
    assert [d["weight"] for d in service.deployments] == [75, 25]
    service.remove_version(ids[1])
    service.remove_version(ids[2])
    assert service.deployments == [] and service.status == ServiceStatus.STOPPED


def test_a_status_report_about_a_superseded_revision_changes_nothing() -> None:
    """The data plane finished deploying revision 1 after revision 2 was asked for: the
    service stays DEPLOYING until revision 2 is reported."""
    service = _service(100, 0)
    assert service.report_status(ServiceStatus.RUNNING, revision=1) is True
    service.set_traffic({d["version_id"]: 50 for d in service.deployments})
    assert service.revision == 2 and service.status == ServiceStatus.DEPLOYING
    assert service.report_status(ServiceStatus.RUNNING, revision=1) is False
    assert service.status == ServiceStatus.DEPLOYING
    assert service.report_status(ServiceStatus.RUNNING, revision=2) is True
    assert service.status == ServiceStatus.RUNNING


def test_status_and_deletion_rules() -> None:
    service = _service(100)
    assert service.report_status(ServiceStatus.RUNNING) is True
    assert service.report_status(ServiceStatus.RUNNING) is False
    service.stop()
    with pytest.raises(InvalidState):
        service.stop()
    assert service.report_status(ServiceStatus.RUNNING) is False  # stays stopped
    service.start()
    service.delete()
    with pytest.raises(AlreadyDeleted):
        service.set_traffic({})
