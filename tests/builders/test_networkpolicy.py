"""Ingress rules (SPEC §5): one NetworkPolicy per party, opening only what the ports'
scopes and the deploy template's networkPolicy allow, matched by allocated numbers."""

from __future__ import annotations

from typing import Any

from builders import Cluster, plan
from tests.builders.examples import TASK_UID, make_app_image, make_task, objects_of, party

CLUSTER = Cluster(namespaces=frozenset({"alice", "bob", "carol"}))


def _peer(domain: str) -> dict[str, Any]:
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": domain}},
        "podSelector": {"matchLabels": {"kuscia.secretflow/task-uid": TASK_UID}},
    }


def _ports(*numbers: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": number} for number in numbers]


def _policies(
    ports: list[dict[str, Any]],
    parties: list[dict[str, Any]],
    network_policy: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    templates = [
        {
            "role": "",
            "networkPolicy": network_policy,
            "spec": {"containers": [{"name": "m", "ports": ports}]},
        }
    ]
    image = make_app_image(deploy_templates=templates)
    result = plan(make_task(parties), {"img": image}, CLUSTER)
    return {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}": o
        for o in objects_of("NetworkPolicy", result.objects)
    }


def test_policy_selects_the_partys_pods_of_this_task_for_ingress_only() -> None:
    policy = _policies([], [party("alice", "host")])["alice/t1-host"]
    assert policy["spec"]["podSelector"] == {
        "matchLabels": {
            "kuscia.secretflow/task-uid": TASK_UID,
            "kuscia.secretflow/pod-role": "host",
        }
    }
    assert policy["spec"]["policyTypes"] == ["Ingress"]


def test_a_party_with_only_local_ports_admits_nothing() -> None:
    policy = _policies([{"name": "l", "scope": "Local"}], [party("alice")])["alice/t1"]
    assert policy["spec"]["ingress"] == []


def test_domain_ports_admit_any_pod_of_the_same_namespace() -> None:
    policy = _policies([{"name": "d", "scope": "Domain"}], [party("alice"), party("bob")])[
        "alice/t1"
    ]
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {}}], "ports": _ports(20000)}]


def test_without_a_network_policy_cluster_ports_admit_every_partys_task_pods() -> None:
    policies = _policies(
        [{"name": "c", "scope": "Cluster"}], [party("alice"), party("bob"), party("carol")]
    )
    assert policies["bob/t1"]["spec"]["ingress"] == [
        {"from": [_peer("alice"), _peer("bob"), _peer("carol")], "ports": _ports(20000)}
    ]


def test_with_a_network_policy_a_listed_port_admits_the_listed_roles_and_the_party_itself() -> None:
    policy = {"ingresses": [{"from": {"roles": ["guest"]}, "ports": [{"port": "c"}]}]}
    policies = _policies(
        [{"name": "c", "scope": "Cluster"}],
        [party("alice", "host"), party("bob", "guest"), party("carol", "other")],
        policy,
    )
    assert policies["alice/t1-host"]["spec"]["ingress"] == [
        {"from": [_peer("alice"), _peer("bob")], "ports": _ports(20000)}
    ]


def test_with_a_network_policy_an_unlisted_cluster_port_admits_no_other_party() -> None:
    policy = {"ingresses": [{"from": {"roles": ["guest"]}, "ports": [{"port": "c"}]}]}
    policies = _policies(
        [{"name": "c", "scope": "Cluster"}, {"name": "hidden", "scope": "Cluster"}],
        [party("alice", "host"), party("bob", "guest")],
        policy,
    )
    assert policies["alice/t1-host"]["spec"]["ingress"] == [
        {"from": [_peer("alice"), _peer("bob")], "ports": _ports(20000)},
        {"from": [_peer("alice")], "ports": _ports(20001)},
    ]


def test_ports_are_matched_by_their_allocated_numbers() -> None:
    policies = _policies(
        [
            {"name": "fixed", "port": 8443, "scope": "Cluster"},
            {"name": "free", "scope": "Cluster"},
            {"name": "d", "scope": "Domain"},
        ],
        [party("alice")],
    )
    assert policies["alice/t1"]["spec"]["ingress"] == [
        {"from": [_peer("alice")], "ports": _ports(8443, 20000)},
        {"from": [{"podSelector": {}}], "ports": _ports(20001)},
    ]


def test_service_access_domain_follows_the_same_rules() -> None:
    image = make_app_image(
        deploy_templates=[
            {
                "role": "host",
                "networkPolicy": {
                    "ingresses": [{"from": {"roles": ["guest"]}, "ports": [{"port": "c"}]}]
                },
                "spec": {
                    "containers": [
                        {
                            "name": "m",
                            "ports": [
                                {"name": "c", "scope": "Cluster"},
                                {"name": "d", "scope": "Domain"},
                            ],
                        }
                    ]
                },
            },
            {
                "role": "guest",
                "spec": {
                    "containers": [{"name": "m", "ports": [{"name": "c", "scope": "Cluster"}]}]
                },
            },
        ]
    )
    task = make_task([party("alice", "host"), party("bob", "guest"), party("carol", "guest")])
    services = objects_of("Service", plan(task, {"img": image}, CLUSTER).objects)
    access = {
        s["metadata"]["name"]: s["metadata"]["annotations"]["kuscia.secretflow/access-domain"]
        for s in services
    }
    assert access == {
        "t1-host-0-c": "bob,carol",
        "t1-host-0-d": "alice",
        "t1-guest-0-c": "alice,bob,carol",
    }
