"""The simulated nodes' manifests: the declared capacity, and addresses of their own in
the range reserved for testing."""

from __future__ import annotations

import ipaddress

from devcluster.scheduled import KWOK_NODE_ANNOTATION, POD_CIDR, NodePool


def test_each_node_declares_the_pools_capacity_and_is_kwoks() -> None:
    pool = NodePool(count=3, cpu="2", memory="4Gi", pods=20)
    manifests = pool.manifests()
    assert [m["metadata"]["name"] for m in manifests] == pool.names()
    for manifest in manifests:
        assert manifest["metadata"]["annotations"] == {KWOK_NODE_ANNOTATION: "fake"}
        expected = {"cpu": "2", "memory": "4Gi", "pods": "20"}
        assert manifest["status"]["capacity"] == expected
        assert manifest["status"]["allocatable"] == expected


def test_node_addresses_are_distinct_and_apart_from_the_pods() -> None:
    pool = NodePool(count=600)
    addresses = [
        a["address"]
        for m in pool.manifests()
        for a in m["status"]["addresses"]
        if a["type"] == "InternalIP"
    ]
    assert len(set(addresses)) == pool.count
    testing = ipaddress.ip_network("198.18.0.0/15")
    pods = ipaddress.ip_network(POD_CIDR)
    for address in map(ipaddress.ip_address, addresses):
        assert address in testing
        assert address not in pods
