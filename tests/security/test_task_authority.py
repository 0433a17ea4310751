"""Who can make the controller do what, on the real API server with RBAC and real users
(ServiceAccount tokens): a task runs a local party only where its author could create
Pods themselves (the admission policy), and only in a namespace an administrator
designated as a Kuscia domain (the controller), never in kube-system and the like."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from builders.labels import DOMAIN_LABEL, DOMAIN_VALUE, PARTNER_LABEL, PARTNER_VALUE
from devcluster.cluster import ControlPlane
from reconciler import metrics
from reconciler.kube import Kube
from tests.reconciler.conftest import Cluster, RunController, example, wait_for
from tests.security.authors import POD_RULE, TASK_RULE, create, grant, logged_in, refusal

TASK_UID = "kuscia.secretflow/task-uid"
STOLEN = "cat /var/run/secrets/kubernetes.io/serviceaccount/token"


def _status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return (cluster.get("kusciatask", name, namespace) or {}).get("status") or {}


def _only(*domains: str) -> Callable[[dict[str, Any]], None]:
    """Keeps the task's first len(domains) parties (renamed), one party each."""

    def edit(task: dict[str, Any]) -> None:
        parties = task["spec"]["parties"][: len(domains)]
        for party, domain in zip(parties, domains, strict=True):
            party["domainID"] = domain
        task["spec"]["parties"] = parties
        task["spec"]["initiator"] = domains[0]
        task["spec"]["scheduleConfig"]["minReservedMembers"] = len(domains)

    return edit


def _app_task(cluster: Cluster, home: str, name: str, *domains: str) -> dict[str, Any]:
    return cluster.task("app-task.yaml", home, ["x", "y"], name=name, edit=_only(*domains))


def _attack(home: str) -> dict[str, Any]:
    """The confused-deputy attack: one party in kube-system, running the AppImage an
    administrator registered with its command replaced by a party template."""
    task = copy.deepcopy(example("app-task.yaml"))
    task["metadata"] = {"name": "escalate", "namespace": home}
    task["spec"]["initiator"] = "kube-system"
    task["spec"]["scheduleConfig"]["minReservedMembers"] = 1
    task["spec"]["parties"] = [
        {
            "domainID": "kube-system",
            "appImageRef": "app-template",
            "role": "server",
            "template": {"spec": {"containers": [{"command": ["sh"], "args": ["-c", STOLEN]}]}},
        }
    ]
    return task


async def _enforced(author: Kube, task: dict[str, Any]) -> None:
    """Waits until the admission policy refuses `task` for `author` (a dry run): the API
    server learns of a new namespace (a param of the policy) a moment after it exists."""

    async def refused() -> bool:
        error = await refusal(author, task, dry_run=True)
        return error is not None and error.status == 403

    await wait_for(refused, within=30, interval=0.2)


def _task_reconciles() -> float:
    return sum(
        metrics.RECONCILE_TOTAL.labels("kusciatask", result)._value.get()
        for result in ("success", "error", "requeue_after")
    )


def _pods(cluster: Cluster, namespace: str, uid: str) -> list[str]:
    return sorted(
        p["metadata"]["name"] for p in cluster.list("pods", namespace, f"{TASK_UID}={uid}")
    )


@pytest.fixture
def authors(control_plane: ControlPlane, tmp_path: Path) -> Callable[..., Any]:
    def login(home: str, account: str = "author") -> Any:
        return logged_in(control_plane, home, account, tmp_path)

    return login


async def test_an_author_runs_parties_only_where_they_may_create_pods(
    cluster: Cluster, run_controller: RunController, authors: Callable[..., Any]
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3)
    cluster.kubectl_apply(example("app-template.yaml"))
    async with authors(home) as author:
        grant(cluster, "author", home, home, TASK_RULE)
        grant(cluster, "author", home, alice, POD_RULE)
        both = _app_task(cluster, home, "both", alice, bob)
        await _enforced(author, both)

        mine = await create(author, _app_task(cluster, home, "mine", alice))
        await wait_for(lambda: _pods(cluster, alice, mine["metadata"]["uid"]))

        error = await refusal(author, both)
        assert error is not None
        assert error.status == 403
        assert f"party {bob}/client of KusciaTask {home}/both names namespace {bob}" in str(error)
        assert f"system:serviceaccount:{home}:author may not create pods" in str(error)
        assert cluster.get("kusciatask", "both", home) is None

    # The same task, written by an administrator, runs in both namespaces.
    cluster.kubectl_apply(both)
    uid = cluster.get("kusciatask", "both", home)["metadata"]["uid"]  # type: ignore[index]
    await wait_for(lambda: _pods(cluster, alice, uid) and _pods(cluster, bob, uid))


async def test_only_new_or_changed_parties_are_checked_so_the_controllers_writes_pass(
    cluster: Cluster, run_controller: RunController, authors: Callable[..., Any]
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3)
    cluster.kubectl_apply(example("app-template.yaml"))
    task = _app_task(cluster, home, "shared", alice, bob)
    cluster.kubectl_apply(task)  # by the administrator; the controller finalizes and reports
    await wait_for(lambda: cluster.objects_created(home, "shared"))
    assert (
        "kuscia.secretflow/kusciatask-cleanup"
        in (cluster.get("kusciatask", "shared", home) or {})["metadata"]["finalizers"]
    )
    async with authors(home) as author:
        grant(cluster, "author", home, home, TASK_RULE)
        grant(cluster, "author", home, alice, POD_RULE)
        path = f"/apis/kuscia.secretflow/v1alpha1/namespaces/{home}/kusciatasks/shared"
        await _enforced(author, _app_task(cluster, home, "probe", bob))
        labelled = await author.request(
            "PATCH",
            path,
            body={"metadata": {"labels": {"team": "psi"}}},
            content_type="application/merge-patch+json",
        )
        assert labelled["metadata"]["labels"]["team"] == "psi"
        parties = copy.deepcopy(task["spec"]["parties"])
        parties[1]["role"] = "client2"
        with pytest.raises(Exception, match=f"names namespace {bob}"):
            await author.request(
                "PATCH",
                path,
                body={"spec": {"parties": parties}},
                content_type="application/merge-patch+json",
            )
    # The controller still removes its finalizer when the task is deleted.
    cluster.kubectl("delete", "kusciatask", "shared", "-n", home, "--wait=false")
    await wait_for(lambda: cluster.get("kusciatask", "shared", home) is None)


async def test_partner_parties_need_no_rights_of_the_author(
    cluster: Cluster, run_controller: RunController, authors: Callable[..., Any]
) -> None:
    await run_controller()
    home, alice = cluster.namespaces(2)
    (partner,) = cluster.namespaces(1, labels={PARTNER_LABEL: PARTNER_VALUE})
    cluster.kubectl_apply(example("app-template.yaml"))
    async with authors(home) as author:
        grant(cluster, "author", home, home, TASK_RULE)
        grant(cluster, "author", home, alice, POD_RULE)
        await _enforced(author, _app_task(cluster, home, "probe", home))
        made = await create(author, _app_task(cluster, home, "with-partner", alice, partner))
    uid = made["metadata"]["uid"]
    await wait_for(lambda: cluster.objects_created(home, "with-partner"))
    assert _pods(cluster, alice, uid)
    assert not _pods(cluster, partner, uid)


async def test_the_attack_is_refused_at_admission_and_makes_nothing_whoever_writes_it(
    cluster: Cluster, run_controller: RunController, authors: Callable[..., Any]
) -> None:
    """A user allowed only to create KusciaTasks in their namespace names kube-system as
    a party, with a registered AppImage and a command that prints the token."""
    await run_controller()
    (home,) = cluster.namespaces(1, designated=False)
    cluster.kubectl_apply(example("app-template.yaml"))
    attack = _attack(home)
    async with authors(home) as author:
        grant(cluster, "author", home, home, TASK_RULE)
        await _enforced(author, attack)
        error = await refusal(author, attack)
    assert error is not None
    assert error.status == 403
    assert "party kube-system/server" in str(error)
    assert "names namespace kube-system" in str(error)

    # An administrator's task naming kube-system is admitted, and the controller makes
    # nothing there either.
    cluster.kubectl_apply(attack)
    status = await wait_for(lambda: (s := _status(cluster, home, "escalate")).get("reason") and s)
    assert status["phase"] == "Failed"
    assert status["reason"] == "DomainNotDesignated"
    assert "party kube-system/server" in status["message"]
    assert "namespace 'kube-system'" in status["message"]
    uid = cluster.get("kusciatask", "escalate", home)["metadata"]["uid"]  # type: ignore[index]
    for kind in ("pods", "services", "configmaps", "networkpolicies"):
        assert not cluster.list(kind, "kube-system", f"{TASK_UID}={uid}"), kind
    assert cluster.get("pod", "escalate-server-0", "kube-system") is None


@pytest.mark.parametrize("reserved", ["default", "controller"])
async def test_reserved_namespaces_never_run_a_party_whatever_their_labels(
    reserved: str, cluster: Cluster, run_controller: RunController
) -> None:
    (home, own) = cluster.namespaces(2)  # `own` is labelled a domain, yet the controller's
    await run_controller(controller_namespace=own)
    target = own if reserved == "controller" else reserved
    cluster.kubectl("label", "namespace", target, f"{DOMAIN_LABEL}={DOMAIN_VALUE}", "--overwrite")
    try:
        cluster.kubectl_apply(example("app-template.yaml"))
        cluster.kubectl_apply(_app_task(cluster, home, "reserved", target))
        status = await wait_for(
            lambda: (s := _status(cluster, home, "reserved")).get("reason") and s
        )
        assert status["phase"] == "Failed"
        assert status["reason"] == "DomainNotDesignated"
        assert f"namespace {target!r}" in status["message"]
        assert cluster.get("pod", "reserved-server-0", target) is None
    finally:
        if target == "default":
            cluster.kubectl("label", "namespace", "default", f"{DOMAIN_LABEL}-")


async def test_an_undesignated_namespace_gets_nothing_even_from_an_author_allowed_pods_there(
    cluster: Cluster, run_controller: RunController, authors: Callable[..., Any]
) -> None:
    """The controller runs nothing outside the domains an administrator designated, and a
    task naming such a namespace fails, so designating it later runs nothing the
    admission policy never checked."""
    (home,) = cluster.namespaces(1)
    await run_controller(namespace=home)  # each reconcile counted is of this test's task
    (carol,) = cluster.namespaces(1, designated=False)
    cluster.kubectl_apply(example("app-template.yaml"))
    async with authors(home) as author:
        grant(cluster, "author", home, home, TASK_RULE)
        grant(cluster, "author", home, carol, POD_RULE)
        made = await create(author, _app_task(cluster, home, "in-carol", carol))
    status = await wait_for(lambda: (s := _status(cluster, home, "in-carol")).get("reason") and s)
    assert status["phase"] == "Failed"
    assert status["reason"] == "DomainNotDesignated"
    assert f"party {carol}/server" in status["message"]
    assert f"namespace {carol!r}" in status["message"]
    assert not _pods(cluster, carol, made["metadata"]["uid"])
    cluster.kubectl("label", "namespace", carol, f"{DOMAIN_LABEL}={DOMAIN_VALUE}")
    reconciled = _task_reconciles()
    cluster.kubectl("annotate", "kusciatask", "in-carol", "-n", home, "looked=again")
    await wait_for(lambda: _task_reconciles() > reconciled)
    assert _status(cluster, home, "in-carol")["phase"] == "Failed"
    assert not _pods(cluster, carol, made["metadata"]["uid"])


async def test_a_namespace_designated_later_is_checked_for_new_tasks(
    cluster: Cluster, run_controller: RunController, authors: Callable[..., Any]
) -> None:
    """The policy reads the designated domains as they are when a task is written."""
    await run_controller()
    (home,) = cluster.namespaces(1)
    (dave,) = cluster.namespaces(1, designated=False)
    cluster.kubectl_apply(example("app-template.yaml"))
    async with authors(home) as author:
        grant(cluster, "author", home, home, TASK_RULE)
        cluster.kubectl("label", "namespace", dave, f"{DOMAIN_LABEL}={DOMAIN_VALUE}")
        task = _app_task(cluster, home, "in-dave", dave)
        await _enforced(author, task)
        error = await refusal(author, task)
    assert error is not None
    assert f"names namespace {dave}" in str(error)


async def test_a_domain_created_after_the_task_runs_none_of_its_parties(
    cluster: Cluster, run_controller: RunController, authors: Callable[..., Any]
) -> None:
    """A task naming a namespace that does not exist yet passes admission (no domain of
    that name to check against); when an administrator later creates it as a domain,
    the task fails instead of running there unchecked."""
    await run_controller()
    home, alice = cluster.namespaces(2)
    late = f"late-{home}"
    cluster.kubectl_apply(example("app-template.yaml"))
    async with authors(home) as author:
        grant(cluster, "author", home, home, TASK_RULE)
        grant(cluster, "author", home, alice, POD_RULE)
        await _enforced(author, _app_task(cluster, home, "probe", home))
        made = await create(author, _app_task(cluster, home, "planted", alice, late))
    status = await wait_for(lambda: (s := _status(cluster, home, "planted")).get("reason") and s)
    assert status["reason"] == "NamespaceNotFound"
    created = datetime.fromisoformat(made["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    # Timestamps have whole seconds: make the namespace in a later second than the task.
    await wait_for(lambda: datetime.now(UTC) >= created + timedelta(seconds=1.2), within=5)
    cluster.create_namespace(late)
    status = await wait_for(
        lambda: (s := _status(cluster, home, "planted")).get("phase") == "Failed" and s
    )
    assert status["reason"] == "DomainNotDesignated"
    assert f"namespace {late!r}" in status["message"]
    assert "created after the task" in status["message"]
    assert not _pods(cluster, late, made["metadata"]["uid"])
    assert not _pods(cluster, alice, made["metadata"]["uid"])
