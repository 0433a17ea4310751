"""The PSI demo on the real node: the controller's task runs two real parties that
find each other through TASK_CLUSTER_DEFINE and the headless Services, and both
compute the same, correct intersection."""

from __future__ import annotations

import json

from tests.reconciler.conftest import RunController, wait_for
from tests.scheduled.node.conftest import NodeCluster, psi_demo, result_line


async def test_the_demo_task_succeeds_and_both_parties_find_the_intersection(
    node_cluster: NodeCluster, run_scheduled_controller: RunController
) -> None:
    await run_scheduled_controller(keep_finished=True)  # the pods' logs are the result
    home, alice, bob = node_cluster.domains(3)
    cluster = node_cluster.cluster
    cluster.kubectl_apply(psi_demo("appimage.yaml"))
    task = psi_demo("task.yaml")
    task["metadata"]["namespace"] = home
    task["spec"]["initiator"] = alice
    task["spec"]["parties"] = [
        {"domainID": alice, "appImageRef": "psi-demo"},
        {"domainID": bob, "appImageRef": "psi-demo"},
    ]
    sets = json.loads(task["spec"]["taskInputConfig"])["psi_inputs"]
    task["spec"]["taskInputConfig"] = json.dumps(
        {"psi_inputs": {alice: sets["psi-alice"], bob: sets["psi-bob"]}}
    )
    cluster.kubectl_apply(task)

    await wait_for(
        lambda: node_cluster.phase(home, "psi-demo") in ("Succeeded", "Failed"), within=240
    )
    status = node_cluster.status(home, "psi-demo")
    assert status["phase"] == "Succeeded", json.dumps(status, indent=2)
    expected = sorted(set(sets["psi-alice"]) & set(sets["psi-bob"]))
    for party, peer in ((alice, bob), (bob, alice)):
        result = result_line(node_cluster.logs(party, "psi-demo-0"), "PSI_RESULT")
        assert result == {"party": party, "peer": peer, "intersection": expected}
