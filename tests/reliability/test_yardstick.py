"""The yardstick the fault scenarios end with catches every kind of wrong object:
missing, extra, orphaned, duplicated, relabelled, changed content, made twice,
deleted, or once written with other content; server defaults do not count."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from tests.conftest import EXAMPLES
from tests.reliability.expected import Key, desired_objects, differences, key_of, respecified
from tests.reliability.history import History

UID = "0b9e7c6a-1111-4222-8333-444455556666"


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return loaded


def _wanted() -> dict[Key, dict[str, Any]]:
    task = _load("secretflow-task-psi.yaml")
    task["metadata"]["uid"] = UID
    image = _load("secretflow-image.yaml")
    image["metadata"].update(uid="img", generation=1, resourceVersion="1")
    namespaces = [{"metadata": {"name": n}} for n in ("alice", "bob", "cross-domain")]
    return desired_objects([task], [image], namespaces)


def _live(wanted: dict[Key, dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """What the API server would hold: the wanted objects plus defaults, uids and status."""
    live = copy.deepcopy(wanted)
    for key, obj in live.items():
        obj["metadata"].update(uid=f"uid-{key[2]}-{key[1]}", resourceVersion="7")
        if key[0] == "Pod":
            obj["spec"]["containers"][0]["terminationMessagePath"] = "/dev/termination-log"
            obj["spec"]["dnsPolicy"] = "ClusterFirst"
            obj["status"] = {"phase": "Pending"}
        if key[0] == "Service":
            obj["spec"]["clusterIPs"] = ["None"]
            for port in obj["spec"]["ports"]:
                port.setdefault("protocol", "TCP")
    return live


def _pod(objects: dict[Key, dict[str, Any]]) -> Key:
    return next(k for k in objects if k[0] == "Pod")


def test_the_psi_task_plans_twelve_objects_and_defaulted_live_ones_match() -> None:
    wanted = _wanted()
    assert len(wanted) == 12
    assert differences(wanted, _live(wanted), [UID]) == []


def test_a_missing_an_extra_and_an_orphaned_object_are_named() -> None:
    wanted = _wanted()
    live = _live(wanted)
    gone = _pod(live)
    del live[gone]
    stray = copy.deepcopy(live[next(k for k in live if k[0] == "Service")])
    stray["metadata"]["name"] = "stray"
    live[key_of(stray)] = stray
    problems = differences(wanted, live, [UID])
    assert f"missing: Pod {gone[1]}/{gone[2]}" in problems
    assert any(
        p.startswith(f"not in the plan: Service {stray['metadata']['namespace']}/stray")
        for p in problems
    )
    assert not any(p.startswith("orphan") for p in problems)
    assert any(p.startswith("orphan") for p in differences(wanted, _live(wanted), ["other"]))


def test_a_changed_label_or_field_and_a_duplicate_pod_identity_are_named() -> None:
    wanted = _wanted()
    live = _live(wanted)
    pod = _pod(live)
    live[pod]["metadata"]["labels"]["kuscia.secretflow/task-id"] = "other"
    service = next(k for k in live if k[0] == "Service")
    live[service]["spec"]["ports"][0]["port"] += 1
    twin = copy.deepcopy(live[pod])
    twin["metadata"]["name"] = "twin"
    live[key_of(twin)] = twin
    problems = differences(wanted, live, [UID])
    assert any(p.startswith(f"labels of Pod {pod[1]}/{pod[2]}") for p in problems)
    assert any(p.startswith(f"content of Service {service[1]}/{service[2]}") for p in problems)
    assert any(p.startswith("duplicate pod identity") for p in problems)


def test_history_names_a_second_uid_a_deletion_and_an_old_version_with_other_content() -> None:
    wanted = _wanted()
    live = _live(wanted)
    history = History()
    for obj in live.values():
        history.record(copy.deepcopy(obj))
    assert history.problems(wanted) == []
    pod = _pod(live)
    remade = copy.deepcopy(live[pod])
    remade["metadata"].update(uid="second", resourceVersion="9")
    history.record(remade)
    config_map = next(k for k in live if k[0] == "ConfigMap")
    older = copy.deepcopy(live[config_map])
    older["metadata"]["resourceVersion"] = "3"
    older["data"] = {"task-config.conf": "stale"}
    history.versions[config_map].insert(0, older)
    history.forget(copy.deepcopy(live[next(k for k in live if k[0] == "NetworkPolicy")]))
    problems = history.problems(wanted)
    assert any("was made 2 times" in p for p in problems)
    assert any(
        p.startswith(f"ConfigMap {config_map[1]}/{config_map[2]} at resourceVersion 3")
        for p in problems
    )
    assert any(p.startswith("deleted during the scenario: NetworkPolicy") for p in problems)


def test_an_object_whose_spec_was_changed_after_it_was_made_is_named() -> None:
    live = _live(_wanted())
    assert respecified(live) == []
    service = next(k for k in live if k[0] == "Service")
    live[service]["metadata"]["generation"] = 2
    assert respecified(live) == [f"Service {service[1]}/{service[2]} is at generation 2"]


def test_a_pod_released_from_its_reservation_gate_is_not_respecified_but_one_more_change_is() -> (
    None
):
    live = _live(_wanted())
    pod = next(k for k in live if k[0] == "Pod")
    live[pod]["metadata"]["generation"] = 2  # the gate came off
    assert respecified(live) == []
    live[pod]["spec"]["schedulingGates"] = [{"name": "kuscia.secretflow/resource-reservation"}]
    assert respecified(live) == [f"Pod {pod[1]}/{pod[2]} is at generation 2"]
    del live[pod]["spec"]["schedulingGates"]
    live[pod]["metadata"]["generation"] = 3
    assert respecified(live) == [f"Pod {pod[1]}/{pod[2]} is at generation 3"]
