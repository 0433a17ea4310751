"""Fixtures for end-to-end tests: the controller running in the test's event
loop against the real control plane, fresh party namespaces, and helpers to
apply examples and move Pods through phases (there is no kubelet)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client

from builders.labels import DOMAIN_LABEL, DOMAIN_VALUE
from devcluster.cluster import ControlPlane
from reconciler.controller import Controller
from reconciler.kube import Kube
from reconciler.settings import ServerSettings, Settings
from reconciler.task_status import resources_created
from tests.conftest import EXAMPLES


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return loaded


class Cluster:
    """Test-side helpers around the admin kubectl and a raw client."""

    def __init__(self, plane: ControlPlane, kube: Kube) -> None:
        self.plane = plane
        self.kube = kube
        self.created: list[str] = []

    def namespaces(
        self, count: int, *, labels: dict[str, str] | None = None, designated: bool = True
    ) -> list[str]:
        names = [f"d-{uuid.uuid4().hex[:8]}" for _ in range(count)]
        for name in names:
            self.create_namespace(name, labels=labels, designated=designated)
        return names

    def create_namespace(
        self, name: str, *, labels: dict[str, str] | None = None, designated: bool = True
    ) -> None:
        """A namespace, designated a Kuscia domain unless told otherwise (as an
        administrator would designate a party's namespace)."""
        all_labels = {DOMAIN_LABEL: DOMAIN_VALUE} if designated else {}
        all_labels.update(labels or {})
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        if all_labels:
            body["metadata"]["labels"] = all_labels
        self.kubectl_apply(body)
        self.created.append(name)

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        return self.plane.run_kubectl(*args, stdin=stdin, check=check).stdout

    def kubectl_apply(self, *objects: dict[str, Any]) -> None:
        docs = "---\n".join(yaml.safe_dump(o) for o in objects)
        self.kubectl("apply", "--server-side", "--field-manager=test", "-f", "-", stdin=docs)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind, name, "-o", "json", "--ignore-not-found"]
        if namespace:
            args += ["-n", namespace]
        out = self.kubectl(*args)
        return json.loads(out) if out.strip() else None

    def objects_created(self, namespace: str, task: str) -> bool:
        """Whether the task's status says every object it needs was applied. The
        controller applies them concurrently: one of them existing says nothing of
        the others."""
        status = (self.get("kusciatask", task, namespace) or {}).get("status") or {}
        return resources_created(status)

    def list(self, kind: str, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        args = ["get", kind, "-n", namespace, "-o", "json"]
        if selector:
            args += ["-l", selector]
        items: list[dict[str, Any]] = json.loads(self.kubectl(*args))["items"]
        return items

    def set_pod_phase(self, namespace: str, name: str, phase: str, **extra: Any) -> None:
        status = {"phase": phase, **extra}
        self.kubectl(
            "patch",
            "pod",
            name,
            "-n",
            namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": status}),
        )

    def task(
        self,
        source: str,
        namespace: str,
        domains: list[str],
        *,
        name: str | None = None,
        app_image: str | None = None,
        edit: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """An example task moved to `namespace`, its parties' domains replaced by `domains`."""
        task = copy.deepcopy(example(source))
        task["metadata"]["namespace"] = namespace
        if name:
            task["metadata"]["name"] = name
        initiator = task["spec"]["initiator"]
        originals = [p["domainID"] for p in task["spec"]["parties"]]
        mapping = dict(zip(dict.fromkeys(originals), domains, strict=False))
        for party in task["spec"]["parties"]:
            party["domainID"] = mapping[party["domainID"]]
            if app_image:
                party["appImageRef"] = app_image
        task["spec"]["initiator"] = mapping.get(initiator, initiator)
        # Tasks outlive their test in the shared control plane; a long lifecycle keeps
        # them from failing (and writing) in the middle of a later test's measurement.
        # With no scheduler nothing binds their pods either: a reservation as long
        # keeps them from being removed and made again in the middle of one.
        schedule = task["spec"].setdefault("scheduleConfig", {})
        schedule["lifecycleSeconds"] = 3600
        schedule["resourceReservedSeconds"] = 3600
        if edit:
            edit(task)
        return task


@pytest.fixture
def cluster(control_plane: ControlPlane, api_client: client.ApiClient) -> Iterator[Cluster]:
    helper = Cluster(control_plane, Kube(api_client))
    yield helper
    for name in helper.created:
        control_plane.run_kubectl("delete", "namespace", name, "--wait=false", check=False)


RunController = Callable[..., Awaitable[Controller]]


@contextlib.asynccontextmanager
async def running_controllers(
    api: client.ApiClient, *, within: float = 30, **defaults: Any
) -> AsyncIterator[RunController]:
    """Starts controllers on `api` in this event loop (`defaults` under each start's
    overrides); every one is stopped when the block ends."""
    running: list[asyncio.Task[None]] = []

    async def start(**overrides: Any) -> Controller:
        settings = {
            "workers": 4,
            "server": ServerSettings(metrics_address="127.0.0.1:0", health_address="127.0.0.1:0"),
            **defaults,
            **overrides,
        }
        controller = Controller(api, Settings(**settings))
        task = asyncio.create_task(controller.run(), name="controller")
        running.append(task)
        await wait_for(lambda: controller.leading.is_set() or task.done(), within=within)
        if task.done():
            task.result()
        return controller

    try:
        yield start
    finally:
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def run_controller(api_client: client.ApiClient) -> AsyncIterator[RunController]:
    """Starts controllers in this event loop; each is stopped when the test ends."""
    async with running_controllers(api_client) as start:
        yield start


async def wait_for(
    condition: Callable[[], Any], *, within: float = 20.0, interval: float = 0.05
) -> Any:
    """Polls `condition` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)
