"""The bad-input corpus against the real API server: what the schema can express is refused at
admission naming the field; everything else is created at once, next to a good task, under an
in-process controller that must give each its reason, finish the good task, never crash, and
then sit still: no retry storm, no writes, little CPU."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import yaml
from prometheus_client import Counter

from reconciler import metrics
from reconciler.kube import API_WRITES
from tests.reconciler.conftest import Cluster, RunController, wait_for
from tests.security.corpus import (
    REACHING_THE_CONTROLLER,
    REFUSED_AT_ADMISSION,
    Case,
    Names,
    base_image,
    base_task,
)

QUIET_SECONDS = 6.0


def _total(counter: Counter) -> float:
    return sum(
        sample.value
        for family in counter.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    )


async def _settled(within: float = 30.0) -> None:
    """Until a second passes without a reconcile (the last deletions' events are in)."""
    deadline = time.monotonic() + within
    count = _total(metrics.RECONCILE_TOTAL)
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        if (now := _total(metrics.RECONCILE_TOTAL)) == count:
            return
        count = now
    raise AssertionError(f"the controller still reconciles after {within}s")


def _status(cluster: Cluster, kind: str, name: str, namespace: str | None = None) -> Any:
    obj = cluster.get(kind, name, namespace) or {}
    return obj.get("status") or {}


async def test_what_the_schema_can_express_is_refused_at_admission_naming_the_field(
    cluster: Cluster,
) -> None:
    home, alice, bob = cluster.namespaces(3)
    names = Names(home, alice, bob, suffix=f"-{home}")
    for case in REFUSED_AT_ADMISSION:
        images, task = case.build(names)
        refused = images[0] if case.admission == "AppImage" else task
        result = cluster.plane.run_kubectl(
            "create", "--dry-run=server", "-f", "-", stdin=json.dumps(refused), check=False
        )
        assert result.returncode != 0, case.id
        assert case.reason in result.stderr, (case.id, result.stderr[:500])
        assert case.field in result.stderr, (case.id, result.stderr[:500])


@pytest.mark.slow
async def test_the_whole_corpus_at_once_gets_its_reasons_without_a_retry_storm(
    cluster: Cluster, run_controller: RunController
) -> None:
    home, alice, bob = cluster.namespaces(3)
    # Tasks of this namespace only: earlier tests' leftovers (say, tasks reaching
    # their lifecycle deadline) must not count as this corpus's writes.
    controller = await run_controller(namespace=home)
    await _settled(within=120)
    names = Names(home, alice, bob, suffix=f"-{home}")
    writes_before = _total(API_WRITES)
    reconciles_before = _total(metrics.RECONCILE_TOTAL)
    errors_before = _total(metrics.RECONCILE_ERRORS)

    tasks: dict[str, Case] = {}
    images: dict[str, Case] = {}
    documents: list[dict[str, Any]] = [base_image(f"good{names.suffix}")]
    for case in REACHING_THE_CONTROLLER:
        built_images, task = case.build(names)
        documents.extend(built_images)
        images.update({image["metadata"]["name"]: case for image in built_images})
        tasks[task["metadata"]["name"]] = case
        documents.append(task)
    documents.append(base_task("good", names, f"good{names.suffix}"))
    stream = "---\n".join(yaml.safe_dump(d) for d in documents)
    cluster.kubectl("apply", "--server-side", "--field-manager=test", "-f", "-", stdin=stream)

    for name, case in tasks.items():
        status = await wait_for(
            lambda name=name: (s := _status(cluster, "kusciatask", name, home)).get("reason") and s,
            within=90,
        )
        assert status["reason"] == case.reason, (case.id, status.get("message"))
        assert case.says in status["message"], (case.id, status["message"])
        assert status["phase"] == ("Pending" if case.waits else "Failed"), case.id
    for name, case in images.items():
        valid = (
            await wait_for(
                lambda name=name: _status(cluster, "appimage", name).get("conditions"), within=30
            )
        )[0]
        expected = ("False", case.image_reason) if case.image_reason else ("True", "Valid")
        assert (valid["status"], valid["reason"]) == expected, (case.id, valid.get("message"))
        if case.image_reason:
            assert case.field in valid["message"], case.id

    # The good task made its pods alongside and finishes; no bad task made anything.
    for namespace in (alice, bob):
        await wait_for(lambda namespace=namespace: cluster.get("pod", "good-0", namespace))
        made = cluster.list("pods,configmaps,services", namespace, "kuscia.secretflow/task-id")
        assert {o["metadata"]["labels"]["kuscia.secretflow/task-id"] for o in made} == {"good"}
        cluster.set_pod_phase(namespace, "good-0", "Succeeded")
    await wait_for(lambda: _status(cluster, "kusciatask", "good", home).get("phase") == "Succeeded")
    await wait_for(
        lambda: (
            not any(
                cluster.list("pods,configmaps", ns, "kuscia.secretflow/task-id")
                for ns in (alice, bob)
            )
        )
    )

    events = json.loads(cluster.kubectl("get", "events", "-n", home, "-o", "json"))["items"]
    seen = {(e["involvedObject"]["name"], e["reason"]) for e in events}
    assert not [n for n, case in tasks.items() if (n, case.reason) not in seen]

    # Everything settled: the bad tasks sit there without being retried.
    objects = len(tasks) + len(images) + 2
    assert _total(API_WRITES) - writes_before < 4 * objects
    assert _total(metrics.RECONCILE_TOTAL) - reconciles_before < 4 * objects
    assert _total(metrics.RECONCILE_ERRORS) == errors_before
    await _settled()
    writes, reconciles = _total(API_WRITES), _total(metrics.RECONCILE_TOTAL)
    cpu = time.process_time()
    await asyncio.sleep(QUIET_SECONDS)
    assert _total(API_WRITES) == writes
    assert _total(metrics.RECONCILE_TOTAL) == reconciles
    assert time.process_time() - cpu < 0.1 * QUIET_SECONDS
    assert controller._healthy() == (True, "")
