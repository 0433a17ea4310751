"""What the controller builds, run for real: the seed's config layout, probes on
named ports, an image the node does not have, a container that fails."""

from __future__ import annotations

import json
from typing import Any

from devcluster.images.node_images import DEMO_IMAGE_NAME, DEMO_IMAGE_TAG
from tests.reconciler.conftest import RunController, example, wait_for
from tests.scheduled.node.conftest import ON_REAL_NODE, NodeCluster, app_image, result_line, unique


def _finished(node_cluster: NodeCluster, namespace: str, task: str) -> bool:
    return node_cluster.phase(namespace, task) in ("Succeeded", "Failed")


async def test_the_seed_layout_mounts_the_config_where_a_program_reads_and_parses_it(
    node_cluster: NodeCluster, run_scheduled_controller: RunController
) -> None:
    """secretflow-image as the seed has it (mountPath ./kuscia/task-config.conf relative
    to workingDir /work), only the image is the demo's and its command parses the file."""
    await run_scheduled_controller(keep_finished=True)
    cluster = node_cluster.cluster
    home, alice, bob = node_cluster.domains(3)
    image = example("secretflow-image.yaml")
    image["metadata"]["name"] = name = unique("seed-layout")
    image["spec"]["image"] |= {"name": DEMO_IMAGE_NAME, "tag": DEMO_IMAGE_TAG}
    template = image["spec"]["deployTemplates"][0]
    template["spec"]["affinity"] = ON_REAL_NODE
    container = template["spec"]["containers"][0]
    assert container["workingDir"] == "/work"
    assert container["configVolumeMounts"][0]["mountPath"] == "./kuscia/task-config.conf"
    container["command"] = ["sh", "-c", "psi-demo inspect ./kuscia/task-config.conf"]
    cluster.kubectl_apply(image)
    cluster.kubectl_apply(
        cluster.task("secretflow-task-psi.yaml", home, [alice, bob], app_image=name)
    )

    await wait_for(lambda: _finished(node_cluster, home, "secretflow-task-psi"), within=180)
    status = node_cluster.status(home, "secretflow-task-psi")
    assert status["phase"] == "Succeeded", json.dumps(status, indent=2)
    allocated = {entry["domainID"]: entry["namedPort"] for entry in status["allocatedPorts"]}
    for index, party in enumerate((alice, bob)):
        seen = result_line(node_cluster.logs(party, "secretflow-task-psi-0"), "CONFIG")
        assert seen["working_dir"] == "/work"
        assert seen["task_id"] == "secretflow-task-psi"
        assert seen["self"] == party
        define = seen["cluster_define"]
        assert define["selfPartyIdx"] == index
        assert [p["name"] for p in define["parties"]] == [alice, bob]
        ports = {k.split("/")[1]: v for k, v in allocated[party].items()}
        assert seen["ports"] == ports
        endpoints = {s["portName"]: s["endpoints"] for s in define["parties"][index]["services"]}
        assert endpoints["spu"] == [f"secretflow-task-psi-0-spu.{party}.svc:{ports['spu']}"]


async def test_a_readiness_probe_on_a_named_port_passes(
    node_cluster: NodeCluster, run_scheduled_controller: RunController
) -> None:
    await run_scheduled_controller()
    cluster = node_cluster.cluster
    home, party = node_cluster.domains(2)
    name = unique("probed")
    server = (
        "mkdir -p /www && echo ready > /www/index.html"
        " && exec httpd -f -p $KUSCIA_PORT_HTTP_NUMBER -h /www"
    )
    cluster.kubectl_apply(
        app_image(
            name,
            {
                "name": "web",
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "command": ["sh", "-c", server],
                            "ports": [{"name": "http", "protocol": "HTTP", "scope": "Domain"}],
                            "readinessProbe": {
                                "httpGet": {"path": "/index.html", "port": "http"},
                                "periodSeconds": 1,
                            },
                            "workingDir": "/",
                        }
                    ]
                },
            },
        )
    )
    cluster.kubectl_apply(_task(home, name, [party]))

    await wait_for(lambda: node_cluster.ready(party, "probe-task-0"), within=120)
    pod = node_cluster.pod(party, "probe-task-0")
    assert pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] == "http"
    await wait_for(lambda: node_cluster.phase(home, "probe-task") == "Running", within=60)
    cluster.kubectl("delete", "kusciatask", "probe-task", "-n", home, "--wait=false")


async def test_an_image_the_node_does_not_have_shows_the_runtimes_image_error(
    node_cluster: NodeCluster, run_scheduled_controller: RunController
) -> None:
    await run_scheduled_controller()
    cluster = node_cluster.cluster
    home, party = node_cluster.domains(2)
    name = unique("absent")
    image = app_image(
        name,
        {
            "name": "absent",
            "spec": {
                "containers": [
                    {"name": "pulled", "command": ["true"], "workingDir": "/"},
                    {
                        "name": "never",
                        "command": ["true"],
                        "workingDir": "/",
                        "imagePullPolicy": "Never",
                    },
                ]
            },
        },
    )
    image["spec"]["image"] = {"name": "local.invalid/kuscia-reconciler/absent", "tag": "0.0.0"}
    cluster.kubectl_apply(image)
    cluster.kubectl_apply(_task(home, name, [party]))

    def waiting() -> dict[str, str]:
        statuses = (
            node_cluster.pod(party, "probe-task-0").get("status", {}).get("containerStatuses", [])
        )
        return {
            s["name"]: ((s.get("state") or {}).get("waiting") or {}).get("reason", "")
            for s in statuses
        }

    def image_errors() -> bool:
        reasons = waiting()
        return reasons.get("pulled") in ("ErrImagePull", "ImagePullBackOff") and (
            reasons.get("never") == "ErrImageNeverPull"
        )

    await wait_for(image_errors, within=120)
    assert node_cluster.phase(home, "probe-task") != "Succeeded"
    cluster.kubectl("delete", "kusciatask", "probe-task", "-n", home, "--wait=false")


async def test_a_container_that_exits_3_fails_the_task_with_its_message(
    node_cluster: NodeCluster, run_scheduled_controller: RunController
) -> None:
    await run_scheduled_controller()
    cluster = node_cluster.cluster
    home, party = node_cluster.domains(2)
    name = unique("exits")
    script = "echo 'input table alice-table is empty' > /dev/termination-log; exit 3"
    cluster.kubectl_apply(
        app_image(
            name,
            {
                "name": "job",
                "spec": {
                    "containers": [
                        {"name": "job", "command": ["sh", "-c", script], "workingDir": "/"}
                    ]
                },
            },
        )
    )
    cluster.kubectl_apply(_task(home, name, [party]))

    await wait_for(lambda: _finished(node_cluster, home, "probe-task"), within=120)
    status = node_cluster.status(home, "probe-task")
    assert status["phase"] == "Failed", json.dumps(status, indent=2)
    terminated = node_cluster.pod(party, "probe-task-0")["status"]["containerStatuses"][0]["state"][
        "terminated"
    ]
    assert terminated["exitCode"] == 3
    assert terminated["message"].strip() == "input table alice-table is empty"
    pod_status = status["podStatuses"][f"{party}/probe-task-0"]
    assert "3" in json.dumps(pod_status), pod_status


def _task(namespace: str, app_image_name: str, domains: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kuscia.secretflow/v1alpha1",
        "kind": "KusciaTask",
        "metadata": {"name": "probe-task", "namespace": namespace},
        "spec": {
            "initiator": domains[0],
            "parties": [{"domainID": d, "appImageRef": app_image_name} for d in domains],
        },
    }
