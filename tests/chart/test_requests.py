"""How a request the controller sends reads as an RBAC check, and whether a
rendered rule allows it: the ground the RBAC tests stand on."""

from __future__ import annotations

import pytest

from tests.chart.chart import ApiRequest, Grant


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/pods", [("watch", "true")], ("watch", "", "pods", None, None)),
        ("GET", "/api/v1/namespaces", [], ("list", "", "namespaces", None, None)),
        ("GET", "/api/v1/namespaces/a", [], ("get", "", "namespaces", None, "a")),
        (
            "PATCH",
            "/apis/kuscia.secretflow/v1alpha1/namespaces/ns/kusciatasks/t/status",
            [("fieldManager", "x")],
            ("patch", "kuscia.secretflow", "kusciatasks/status", "ns", "t"),
        ),
        (
            "PATCH",
            "/apis/kuscia.secretflow/v1alpha1/appimages/img/status",
            [],
            ("patch", "kuscia.secretflow", "appimages/status", None, "img"),
        ),
        (
            "PUT",
            "/apis/coordination.k8s.io/v1/namespaces/ops/leases/l",
            [],
            ("update", "coordination.k8s.io", "leases", "ops", "l"),
        ),
        (
            "POST",
            "/apis/coordination.k8s.io/v1/namespaces/ops/leases",
            [],
            ("create", "coordination.k8s.io", "leases", "ops", None),
        ),
        (
            "DELETE",
            "/apis/networking.k8s.io/v1/namespaces/a/networkpolicies/np",
            [],
            ("delete", "networking.k8s.io", "networkpolicies", "a", "np"),
        ),
        ("DELETE", "/api/v1/namespaces/a/pods", [], ("deletecollection", "", "pods", "a", None)),
    ],
)
def test_request_reads_as_verb_resource_namespace_and_name(
    method: str, path: str, query: list[tuple[str, str]], expected: tuple[object, ...]
) -> None:
    request = ApiRequest.parse(method, path, query, 200)
    assert (
        request.verb,
        request.group,
        request.resource,
        request.namespace,
        request.name,
    ) == expected


def test_grant_allows_only_its_namespace_resource_verb_and_name() -> None:
    lease = ApiRequest("update", "coordination.k8s.io", "leases", "ops", "l", 200)
    assert Grant("ops", "coordination.k8s.io", "leases", "update", "l").allows(lease)
    assert Grant(None, "coordination.k8s.io", "leases", "update", None).allows(lease)
    assert not Grant("dev", "coordination.k8s.io", "leases", "update", "l").allows(lease)
    assert not Grant("ops", "coordination.k8s.io", "leases", "update", "m").allows(lease)
    assert not Grant("ops", "coordination.k8s.io", "leases", "get", "l").allows(lease)
    assert not Grant("ops", "", "leases", "update", "l").allows(lease)


def test_apply_that_makes_an_object_is_checked_as_create_too() -> None:
    path = "/api/v1/namespaces/a/pods/p"
    made = ApiRequest.checks("PATCH", path, [], 201)
    assert [r.verb for r in made] == ["patch", "create"]
    assert [r.verb for r in ApiRequest.checks("PATCH", path, [], 200)] == ["patch"]
