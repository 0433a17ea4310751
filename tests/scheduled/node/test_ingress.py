"""The ingress rules (SPEC §5) enforced for real: the NetworkPolicies the controller
writes, applied by kube-router's firewall on the real node, decide who gets in."""

from __future__ import annotations

from typing import Any

from tests.reconciler.conftest import RunController, wait_for
from tests.scheduled.node.conftest import NodeCluster, app_image, unique

SERVE = (
    "mkdir -p /www && echo ingress-ok > /www/index.html && "
    "for p in {ports}; do httpd -p $p -h /www; done; exec sleep 3600"
)
REACH = (
    "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {address} {port} 2>&1"
    " | grep -q ingress-ok && echo OPEN || echo CLOSED"
)


def _serving(
    *ports: str, role: str = "", network_policy: dict[str, Any] | None = None
) -> dict[str, Any]:
    scopes = {"cluster": "Cluster", "domain": "Domain", "local": "Local", "global": "Cluster"}
    numbers = " ".join(f"$KUSCIA_PORT_{p.upper()}_NUMBER" for p in ports)
    template: dict[str, Any] = {
        "name": "serve",
        "role": role,
        "spec": {
            "containers": [
                {
                    "name": "serve",
                    "command": ["sh", "-c", SERVE.format(ports=numbers)],
                    "ports": [{"name": p, "protocol": "TCP", "scope": scopes[p]} for p in ports],
                    "workingDir": "/",
                }
            ]
        },
    }
    if network_policy is not None:
        template["networkPolicy"] = network_policy
    return template


def _task(name: str, namespace: str, image: str, parties: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "kuscia.secretflow/v1alpha1",
        "kind": "KusciaTask",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "initiator": parties[0][0],
            "parties": [
                {"domainID": domain, "appImageRef": image, **({"role": role} if role else {})}
                for domain, role in parties
            ],
        },
    }


class Reach:
    """Connections from one pod to another pod's allocated ports."""

    def __init__(self, node_cluster: NodeCluster, namespace: str, pod: str) -> None:
        self.node_cluster = node_cluster
        target = node_cluster.pod(namespace, pod)
        self.address = target["status"]["podIP"]
        self.ports = {
            p["name"]: p["containerPort"] for p in target["spec"]["containers"][0]["ports"]
        }

    def from_pod(self, namespace: str, pod: str, port: str, address: str | None = None) -> str:
        script = REACH.format(address=address or self.address, port=self.ports[port])
        return self.node_cluster.exec(namespace, pod, script).strip()


async def _running(node_cluster: NodeCluster, *pods: tuple[str, str]) -> None:
    for namespace, pod in pods:
        await wait_for(lambda n=namespace, p=pod: node_cluster.running(n, p), within=180)


async def test_cluster_domain_and_local_ports_admit_whom_spec_says(
    node_cluster: NodeCluster, run_scheduled_controller: RunController
) -> None:
    await run_scheduled_controller()
    cluster = node_cluster.cluster
    home, alice, bob, stranger = node_cluster.domains(4)
    image = unique("ingress")
    cluster.kubectl_apply(app_image(image, _serving("cluster", "domain", "local")))
    cluster.kubectl_apply(_task("t1", home, image, [(alice, ""), (bob, "")]))
    cluster.kubectl_apply(_task("t2", home, image, [(bob, "")]))
    node_cluster.plain_pod(alice, "neighbour", "exec sleep 3600")
    node_cluster.plain_pod(stranger, "outsider", "exec sleep 3600")
    await _running(
        node_cluster,
        (alice, "t1-0"),
        (bob, "t1-0"),
        (bob, "t2-0"),
        (alice, "neighbour"),
        (stranger, "outsider"),
    )
    target = Reach(node_cluster, alice, "t1-0")
    for port in ("cluster", "domain", "local"):  # all three listen
        assert target.from_pod(alice, "t1-0", port, address="127.0.0.1") == "OPEN"
    # The policy is in force once a pod of a namespace that is no party's is refused.
    await wait_for(lambda: target.from_pod(stranger, "outsider", "cluster") == "CLOSED", within=60)

    # Cluster: the peer party's pod of this task gets in ...
    await wait_for(lambda: target.from_pod(bob, "t1-0", "cluster") == "OPEN", within=60)
    # ... a pod of another task in the peer's namespace, or a pod of no task, does not.
    assert target.from_pod(bob, "t2-0", "cluster") == "CLOSED"
    assert target.from_pod(alice, "neighbour", "cluster") == "CLOSED"
    # Domain: any pod of the same namespace, no pod of another.
    await wait_for(lambda: target.from_pod(alice, "neighbour", "domain") == "OPEN", within=60)
    assert target.from_pod(bob, "t1-0", "domain") == "CLOSED"
    assert target.from_pod(stranger, "outsider", "domain") == "CLOSED"
    # Local: nobody outside the pod.
    assert target.from_pod(alice, "neighbour", "local") == "CLOSED"
    assert target.from_pod(bob, "t1-0", "local") == "CLOSED"
    for task in ("t1", "t2"):
        cluster.kubectl("delete", "kusciatask", task, "-n", home, "--wait=false")


async def test_a_port_open_to_role_client_refuses_the_other_roles(
    node_cluster: NodeCluster, run_scheduled_controller: RunController
) -> None:
    await run_scheduled_controller()
    cluster = node_cluster.cluster
    home, server, client, observer = node_cluster.domains(4)
    image = unique("roles")
    only_clients = {"ingresses": [{"from": {"roles": ["client"]}, "ports": [{"port": "global"}]}]}
    cluster.kubectl_apply(
        app_image(
            image,
            _serving("global", role="server", network_policy=only_clients),
            _serving("global", role="client,observer"),
        )
    )
    parties = [(server, "server"), (client, "client"), (observer, "observer")]
    cluster.kubectl_apply(_task("roles", home, image, parties))
    await _running(
        node_cluster,
        (server, "roles-server-0"),
        (client, "roles-client-0"),
        (observer, "roles-observer-0"),
    )
    target = Reach(node_cluster, server, "roles-server-0")
    assert target.from_pod(server, "roles-server-0", "global", address="127.0.0.1") == "OPEN"
    await wait_for(
        lambda: target.from_pod(observer, "roles-observer-0", "global") == "CLOSED", within=60
    )
    await wait_for(lambda: target.from_pod(client, "roles-client-0", "global") == "OPEN", within=60)
    # Without a networkPolicy (the client's template) a Cluster port admits every party.
    peer = Reach(node_cluster, client, "roles-client-0")
    await wait_for(
        lambda: peer.from_pod(observer, "roles-observer-0", "global") == "OPEN", within=60
    )
    cluster.kubectl("delete", "kusciatask", "roles", "-n", home, "--wait=false")
