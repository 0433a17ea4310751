"""Port numbers (SPEC §3): fixed ports kept, the rest allocated per pod, deterministically,
recorded in Kuscia's `allocatedPorts` shape and kept once recorded."""

from __future__ import annotations

import pytest

from builders import BuildError, plan, ports
from builders.models import ContainerPort
from tests.builders.examples import ALICE_AND_BOB, make_app_image, make_task, party


def _ports(*spec: tuple[str, int | None]) -> list[ContainerPort]:
    return [ContainerPort(name=name, port=number) for name, number in spec]


def test_a_fixed_port_keeps_its_number() -> None:
    numbers = ports.allocate_pod("p-0", _ports(("http", 8080)), {}, where="w")
    assert numbers == {"http": 8080}


def test_ports_without_a_number_are_allocated_from_the_base_in_template_order() -> None:
    numbers = ports.allocate_pod("p-0", _ports(("a", None), ("b", None)), {}, where="w")
    assert numbers == {"a": ports.ALLOCATION_BASE, "b": ports.ALLOCATION_BASE + 1}


def test_allocation_skips_numbers_the_pod_already_uses() -> None:
    base = ports.ALLOCATION_BASE
    numbers = ports.allocate_pod("p-0", _ports(("a", None), ("fixed", base)), {}, where="w")
    assert numbers == {"a": base + 1, "fixed": base}


def test_numbers_recorded_in_the_status_are_kept() -> None:
    recorded = {"p-0/a": 31000, "p-0/b": 20000}
    numbers = ports.allocate_pod(
        "p-0", _ports(("a", None), ("b", None), ("c", None)), recorded, where="w"
    )
    assert numbers == {"a": 31000, "b": 20000, "c": 20001}


def test_a_recorded_number_wins_over_an_edited_fixed_number() -> None:
    numbers = ports.allocate_pod("p-0", _ports(("a", 9000)), {"p-0/a": 8000}, where="w")
    assert numbers == {"a": 8000}


def test_a_recorded_number_clashing_with_a_fixed_one_is_duplicate_port_number() -> None:
    with pytest.raises(BuildError) as raised:
        ports.allocate_pod("p-0", _ports(("a", None), ("b", 9000)), {"p-0/a": 9000}, where="w")
    assert raised.value.reason == "DuplicatePortNumber"


def test_allocated_ports_use_kuscias_status_shape() -> None:
    entry = ports.allocated_ports("alice", "host", {"t-host-0": {"a": 1, "b": 2}})
    assert entry.model_dump(by_alias=True) == {
        "domainID": "alice",
        "role": "host",
        "namedPort": {"t-host-0/a": 1, "t-host-0/b": 2},
    }


def test_every_pod_of_every_party_is_recorded_and_replicas_get_the_same_numbers() -> None:
    image = make_app_image(
        [{"name": "main", "ports": [{"name": "fixed", "port": 8080}, {"name": "free"}]}]
    )
    task = make_task([party("alice", "a", template={"replicas": 2}), party("bob", "b")])
    result = plan(task, {"img": image}, ALICE_AND_BOB)
    assert [a.model_dump(by_alias=True) for a in result.allocated_ports] == [
        {
            "domainID": "alice",
            "role": "a",
            "namedPort": {
                "t1-a-0/fixed": 8080,
                "t1-a-0/free": 20000,
                "t1-a-1/fixed": 8080,
                "t1-a-1/free": 20000,
            },
        },
        {"domainID": "bob", "role": "b", "namedPort": {"t1-b-0/fixed": 8080, "t1-b-0/free": 20000}},
    ]


def test_rebuilding_from_the_recorded_status_keeps_every_number() -> None:
    image = make_app_image([{"name": "main", "ports": [{"name": "x"}, {"name": "y"}]}])
    status = {
        "allocatedPorts": [
            {"domainID": "alice", "role": "a", "namedPort": {"t1-a-0/x": 25001, "t1-a-0/y": 25000}}
        ]
    }
    task = make_task([party("alice", "a")], status=status)
    result = plan(task, {"img": image}, ALICE_AND_BOB)
    assert result.allocated_ports[0].named_port == {"t1-a-0/x": 25001, "t1-a-0/y": 25000}
    pod = next(o for o in result.objects if o["kind"] == "Pod")
    assert pod["spec"]["containers"][0]["ports"] == [
        {"name": "x", "containerPort": 25001, "protocol": "TCP"},
        {"name": "y", "containerPort": 25000, "protocol": "TCP"},
    ]
