"""Where Kuscia's Domain CRD is installed, a namespace is a local domain only when a Domain
of that name, not a partner's, designates it too; a partner Domain makes it a partner."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devcluster.cluster import ControlPlane
from tests.reconciler.conftest import Cluster, RunController, example, wait_for

TASK_UID = "kuscia.secretflow/task-uid"


@pytest.fixture
def domain_crd(control_plane: ControlPlane) -> Iterator[None]:
    """Kuscia's Domain CRD, installed for one test and removed (waited for) after it."""
    with control_plane.kuscia_domain_crd():
        yield


def _domain(name: str, role: str = "") -> dict[str, Any]:
    spec = {"role": role} if role else {}
    return {
        "apiVersion": "kuscia.secretflow/v1alpha1",
        "kind": "Domain",
        "metadata": {"name": name},
        "spec": spec,
    }


def _pods(cluster: Cluster, namespace: str, task: str, home: str) -> list[str]:
    uid = (cluster.get("kusciatask", task, home) or {}).get("metadata", {}).get("uid")
    if not uid:
        return []
    return [p["metadata"]["name"] for p in cluster.list("pods", namespace, f"{TASK_UID}={uid}")]


def _status(cluster: Cluster, home: str, task: str) -> dict[str, Any]:
    return (cluster.get("kusciatask", task, home) or {}).get("status") or {}


async def test_kuscia_domains_designate_local_and_partner_namespaces(
    domain_crd: None, cluster: Cluster, run_controller: RunController
) -> None:
    home, alice, bob, carol = cluster.namespaces(4)  # all four labelled domains
    cluster.kubectl_apply(_domain(alice), _domain(bob, "partner"))
    await run_controller()
    cluster.kubectl_apply(
        cluster.task("secretflow-task-psi.yaml", home, [alice, bob], name="alice-and-bob"),
        cluster.task("secretflow-task-psi.yaml", home, [carol, alice], name="carol-and-alice"),
    )
    cluster.kubectl_apply(example("secretflow-image.yaml"))
    await wait_for(lambda: _pods(cluster, alice, "alice-and-bob", home))
    await wait_for(lambda: cluster.objects_created(home, "alice-and-bob"))
    assert not _pods(cluster, bob, "alice-and-bob", home)  # a partner: runs elsewhere

    status = await wait_for(
        lambda: (s := _status(cluster, home, "carol-and-alice")).get("reason") and s
    )
    assert status["phase"] == "Failed"
    assert status["reason"] == "DomainNotDesignated"
    assert f"namespace {carol!r}" in status["message"]
    assert not _pods(cluster, alice, "carol-and-alice", home)

    cluster.kubectl_apply(_domain(carol))  # the Domain designates it: a new task runs there
    cluster.kubectl_apply(
        cluster.task("secretflow-task-psi.yaml", home, [carol, alice], name="carol-now")
    )
    await wait_for(lambda: _pods(cluster, carol, "carol-now", home))
