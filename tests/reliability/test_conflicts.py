"""Another field manager edits what the controller made: a field we own (a Pod
label, a Service's spec) is restored and owned by us again; a field we do not
own (a label or annotation someone added) is left alone, and an edit to such a
field alone costs no write at all."""

from __future__ import annotations

import json
from typing import Any

import anyio.to_thread
import pytest
from prometheus_client import REGISTRY

from builders.labels import CONTROLLER_LABEL, CONTROLLER_VALUE, TASK_ID_LABEL
from devcluster.cluster import ControlPlane
from reconciler.drift import data_digest
from reconciler.kube import CONFIG_MAP, POD, SERVICE
from reconciler.settings import FIELD_MANAGER
from tests.reconciler.conftest import wait_for
from tests.reliability.conftest import StartInProcess
from tests.reliability.scenario import Scenario

pytestmark = pytest.mark.slow


def _total(name: str) -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == name
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


def _owners(obj: dict[str, Any], field: str) -> set[str]:
    """The managers whose managedFields entry names `field` (e.g. 'f:team')."""
    return {entry["manager"] for entry in obj["metadata"]["managedFields"] if field in str(entry)}


async def test_an_owned_field_edited_by_another_manager_is_restored_and_an_unowned_one_kept(
    scenario: Scenario, in_process: StartInProcess, control_plane: ControlPlane
) -> None:
    await in_process(workers=2)
    await scenario.create_tasks(["owned"])
    await scenario.converge(within=60, interval=0.3)
    alice = scenario.domains[0]

    async def get(kind: Any, name: str) -> dict[str, Any]:
        return await scenario.kube.request("GET", kind.path(alice, name))

    async def intrude_on_pod_labels(labels: dict[str, str]) -> None:
        """Another field manager takes these Pod labels by force."""
        metadata = {"name": "owned-0", "namespace": alice, "labels": labels}
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata}
        await scenario.kube.apply(pod, field_manager="intruder", force=True)

    # A Pod label we own, taken over by force by another manager that adds one of its own.
    await intrude_on_pod_labels({TASK_ID_LABEL: "hijacked", "team": "blue"})

    async def pod_restored() -> dict[str, Any] | None:
        pod = await get(POD, "owned-0")
        return pod if pod["metadata"]["labels"][TASK_ID_LABEL] == "owned" else None

    pod = await wait_for(pod_restored, within=20, interval=0.2)
    assert pod["metadata"]["labels"]["team"] == "blue"
    assert _owners(pod, f"f:{TASK_ID_LABEL}") == {FIELD_MANAGER}
    assert _owners(pod, "f:team") == {"intruder"}

    # A Service field we own, changed by a plain update (kubectl edit/patch).
    await anyio.to_thread.run_sync(
        lambda: control_plane.run_kubectl(
            "patch",
            "service",
            "owned-0-spu",
            "-n",
            alice,
            "--type=merge",
            "-p",
            '{"spec":{"publishNotReadyAddresses":false},'
            '"metadata":{"annotations":{"note":"mine"}}}',
        )
    )

    async def service_restored() -> dict[str, Any] | None:
        service = await get(SERVICE, "owned-0-spu")
        return service if service["spec"].get("publishNotReadyAddresses") is True else None

    service = await wait_for(service_restored, within=20, interval=0.2)
    assert service["metadata"]["annotations"]["note"] == "mine"
    assert _owners(service, "f:publishNotReadyAddresses") == {FIELD_MANAGER}

    # The label that puts the Pod in the controller's cache: it drops out of the cache,
    # and is still recognised as this task's by its task-uid label and taken back.
    await intrude_on_pod_labels({CONTROLLER_LABEL: "someone-else"})

    async def selector_label_restored() -> bool:
        pod = await get(POD, "owned-0")
        return bool(pod["metadata"]["labels"][CONTROLLER_LABEL] == CONTROLLER_VALUE)

    await wait_for(selector_label_restored, within=20, interval=0.2)
    task = (await scenario.tasks())[0]
    assert task["status"]["phase"] == "Pending", task["status"].get("message")
    # (the intruder's second apply dropped its own "team" label, as apply does)
    assert await scenario.differences() == []

    # An edit to fields we do not own only: the task is looked at again, nothing is written.
    writes, reconciles = (
        _total("kuscia_reconciler_api_writes"),
        _total("controller_runtime_reconcile"),
    )
    await anyio.to_thread.run_sync(
        lambda: control_plane.run_kubectl("label", "pod", "owned-0", "-n", alice, "extra=1")
    )
    await wait_for(
        lambda: _total("controller_runtime_reconcile") > reconciles, within=20, interval=0.1
    )
    await anyio.sleep(1)
    assert _total("kuscia_reconciler_api_writes") == writes
    pod = await get(POD, "owned-0")
    assert pod["metadata"]["labels"]["extra"] == "1"


async def test_a_config_map_data_edit_is_restored_though_the_cache_keeps_only_digests(
    scenario: Scenario, in_process: StartInProcess, control_plane: ControlPlane
) -> None:
    controller = await in_process(workers=2)
    await scenario.create_tasks(["rendered"])
    await scenario.converge(within=60, interval=0.3)
    alice = scenario.domains[0]
    path = CONFIG_MAP.path(alice, "rendered-0-config")
    rendered = (await scenario.kube.request("GET", path))["data"]
    (key,) = rendered
    cached = controller.caches.children["ConfigMap"].store.get_by_key(f"{alice}/rendered-0-config")
    assert cached is not None
    assert cached["data"] == {key: data_digest(rendered[key])}

    await anyio.to_thread.run_sync(
        lambda: control_plane.run_kubectl(
            "patch",
            "configmap",
            "rendered-0-config",
            "-n",
            alice,
            "--type=merge",
            "-p",
            json.dumps({"data": {key: "edited by hand"}}),
        )
    )

    async def restored() -> bool:
        return bool((await scenario.kube.request("GET", path))["data"] == rendered)

    await wait_for(restored, within=20, interval=0.2)
    assert await scenario.differences() == []
