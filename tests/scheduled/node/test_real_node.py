"""The real node itself: pods reach nothing off the machine, DNS answers only the
cluster's names, and a node whose processes died is cleaned up and comes back.
(The crash test runs last in this package: it restarts the node under the others.)"""

from __future__ import annotations

import os
import signal

from devcluster.node import host
from devcluster.node.layout import NODE_IP, NODE_NAME, NODE_RANGE
from devcluster.node.node import RealNode, access
from devcluster.scheduled import ScheduledCluster
from tests.reconciler.conftest import wait_for
from tests.scheduled.node.conftest import NodeCluster, unique

# routes; resolver; a name outside the cluster; the machine's own gateway
LOOK_AROUND = (
    "ip route; echo ---; cat /etc/resolv.conf; echo ---; "
    "nslookup example.com 2>&1; echo rc=$?; echo ---; "
    "nc -w 2 192.0.2.1 80 </dev/null 2>&1; echo rc=$?"
)


async def test_pods_reach_only_the_test_range_and_dns_answers_only_cluster_names(
    node_cluster: NodeCluster,
) -> None:
    (namespace,) = node_cluster.domains(1)
    node_cluster.plain_pod(namespace, "look", LOOK_AROUND)
    await wait_for(
        lambda: node_cluster.pod(namespace, "look").get("status", {}).get("phase") == "Succeeded",
        within=120,
    )
    routes, resolver, lookup, connect = node_cluster.logs(namespace, "look").split("---\n")
    destinations = {line.split()[0] for line in routes.splitlines() if line.strip()}
    assert NODE_RANGE in destinations
    assert "default" not in destinations
    assert f"nameserver {NODE_IP}" in resolver
    assert lookup.strip().endswith("rc=1"), lookup
    assert "unreachable" in connect.lower(), connect
    assert not connect.strip().endswith("rc=0"), connect


async def test_a_node_whose_processes_died_is_cleaned_up_and_comes_back(
    node_cluster: NodeCluster, real_node: RealNode, scheduled_cluster: ScheduledCluster
) -> None:
    (namespace,) = node_cluster.domains(1)
    node_cluster.plain_pod(namespace, "before", "exec sleep 3600")
    await wait_for(lambda: node_cluster.running(namespace, "before"), within=120)
    containers = set(host.cgroup_processes())
    assert containers, "the pod's processes run in the node's cgroups"

    for proc in real_node.procs.values():  # a crash: containers and shims live on
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    left = host.leftovers(real_node.paths)
    assert any(item.startswith("mount") for item in left), left

    real_node.start(access(scheduled_cluster))
    assert not containers & set(host.cgroup_processes()), "the old containers were killed"
    after = unique("after")
    node_cluster.plain_pod(namespace, after, "echo back")
    await wait_for(
        lambda: node_cluster.pod(namespace, after).get("status", {}).get("phase") == "Succeeded",
        within=120,
    )
    assert node_cluster.logs(namespace, after).strip() == "back"
    node = node_cluster.cluster.get("node", NODE_NAME)
    assert node is not None
