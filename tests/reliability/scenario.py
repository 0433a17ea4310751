"""One fault scenario's world: a task namespace, two party namespaces and an
AppImage of its own; tasks made from the PSI example (two parties, twelve
objects each); reads of what the cluster now holds; and a purge at the end.

Writes retry through API server restarts (an apply is idempotent), and the
purge deletes objects directly: this control plane has no controller-manager,
so a deleted namespace would otherwise keep its objects for the whole session.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import aiohttp
import anyio
import yaml

from builders.labels import CONTROLLER_LABEL, CONTROLLER_VALUE, DOMAIN_LABEL, DOMAIN_VALUE
from reconciler import task_status
from reconciler.kube import (
    APP_IMAGE,
    CONFIG_MAP,
    EVENT,
    KUSCIA_TASK,
    NAMESPACE,
    NETWORK_POLICY,
    POD,
    SERVICE,
    ApiError,
    Kind,
    Kube,
)
from tests.conftest import EXAMPLES
from tests.reliability.expected import (
    Key,
    desired_objects,
    differences,
    key_of,
    respecified,
)

CHILD_KINDS = (NETWORK_POLICY, CONFIG_MAP, SERVICE, POD)
MANAGER = "reliability-test"
SELECTOR = f"{CONTROLLER_LABEL}={CONTROLLER_VALUE}"
RETRIED = (ApiError, aiohttp.ClientError, OSError, TimeoutError)
TRANSIENT = frozenset({0, 429, 500, 502, 503, 504})


def _example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return loaded


class Scenario:
    def __init__(self, kube: Kube) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.kube = kube
        self.home = f"r-{suffix}"
        self.domains = (f"r-{suffix}-alice", f"r-{suffix}-bob")
        self.app_image = f"rel-{suffix}"
        self._task = _example("secretflow-task-psi.yaml")

    async def set_up(self) -> None:
        await self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.home}})
        for name in self.domains:  # designated Kuscia domains, as an administrator would
            await self.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": name, "labels": {DOMAIN_LABEL: DOMAIN_VALUE}},
                }
            )
        image = _example("secretflow-image.yaml")
        image["metadata"]["name"] = self.app_image
        await self.apply(image)

    # --- writing ---------------------------------------------------------------------

    def task(self, name: str) -> dict[str, Any]:
        task = copy.deepcopy(self._task)
        task["metadata"] = {"name": name, "namespace": self.home}
        originals = list(dict.fromkeys(p["domainID"] for p in task["spec"]["parties"]))
        mapping = dict(zip(originals, self.domains, strict=True))
        for party in task["spec"]["parties"]:
            party["domainID"] = mapping[party["domainID"]]
            party["appImageRef"] = self.app_image
        task["spec"]["initiator"] = mapping[task["spec"]["initiator"]]
        # Nothing binds the pods here: a reservation that outlasts the scenario keeps
        # them from being removed and made again in the middle of it.
        task["spec"]["scheduleConfig"] = {"resourceReservedSeconds": 3600}
        return task

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply, retried while the API server is away."""
        return await _retrying(lambda: self.kube.apply(obj, field_manager=MANAGER))

    async def create_tasks(self, names: Iterable[str], *, concurrency: int = 8) -> None:
        limiter = anyio.CapacityLimiter(concurrency)

        async def create(name: str) -> None:
            async with limiter:
                await self.apply(self.task(name))

        async with anyio.create_task_group() as group:
            for name in names:
                group.start_soon(create, name)

    async def set_pod_phase(self, namespace: str, name: str, phase: str) -> None:
        await self.kube.request(
            "PATCH",
            POD.path(namespace, name) + "/status",
            body={"status": {"phase": phase}},
            content_type="application/merge-patch+json",
        )

    # --- reading ---------------------------------------------------------------------

    async def list_objects(
        self, kind: Kind, namespace: str | None = None, selector: str = ""
    ) -> list[dict[str, Any]]:
        query = [("labelSelector", selector)] if selector else []
        page = await _retrying(lambda: self.kube.request("GET", kind.path(namespace), query=query))
        items: list[dict[str, Any]] = page.get("items", [])
        for item in items:  # list items carry no apiVersion/kind of their own
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return items

    async def tasks(self) -> list[dict[str, Any]]:
        return await self.list_objects(KUSCIA_TASK, self.home)

    async def children(self) -> dict[Key, dict[str, Any]]:
        """Every object in the party namespaces that carries the controller's label."""
        found: dict[Key, dict[str, Any]] = {}
        for namespace in self.domains:
            for kind in CHILD_KINDS:
                for obj in await self.list_objects(kind, namespace, SELECTOR):
                    found[key_of(obj)] = obj
        return found

    async def wanted(self, tasks: list[dict[str, Any]] | None = None) -> dict[Key, dict[str, Any]]:
        """What the builders say the tasks should have, from the tasks as they are now."""
        tasks = await self.tasks() if tasks is None else tasks
        images = [
            i for i in await self.list_objects(APP_IMAGE) if i["metadata"]["name"] == self.app_image
        ]
        return desired_objects(tasks, images, await self.list_objects(NAMESPACE))

    async def differences(self) -> list[str]:
        """How the live objects differ from the plan, and any whose spec was changed."""
        tasks = await self.tasks()
        wanted = await self.wanted(tasks)
        live = await self.children()
        return differences(wanted, live, [t["metadata"]["uid"] for t in tasks]) + respecified(live)

    async def converge(self, *, within: float, interval: float = 1.0) -> None:
        """Waits until the live objects match the plan; fails listing what still differs."""
        deadline = anyio.current_time() + within
        while True:
            problems = await self.differences()
            if not problems:
                return
            if anyio.current_time() > deadline:
                shown = "\n".join(problems[:40])
                raise AssertionError(f"{len(problems)} differences from the plan:\n{shown}")
            await anyio.sleep(interval)

    async def created(self) -> int:
        """How many tasks report ResourceCreated=True."""
        return sum(1 for task in await self.tasks() if resources_created(task))

    # --- cleaning up -------------------------------------------------------------------

    async def purge(self) -> None:
        """Deletes everything the scenario made, without a controller's help."""
        async with anyio.create_task_group() as group:
            for namespace in self.domains:
                for kind in (*CHILD_KINDS, EVENT):
                    group.start_soon(self._delete_collection, kind, namespace)
        tasks = await self.tasks()
        limiter = anyio.CapacityLimiter(16)

        async def release(task: dict[str, Any]) -> None:
            async with limiter:
                try:
                    await self.kube.request(
                        "PATCH",
                        KUSCIA_TASK.path(self.home, task["metadata"]["name"]),
                        body={"metadata": {"finalizers": None}},
                        content_type="application/merge-patch+json",
                    )
                except ApiError as error:
                    if not error.not_found:
                        raise

        async with anyio.create_task_group() as group:
            for task in tasks:
                if task["metadata"].get("finalizers"):
                    group.start_soon(release, task)
        await self._delete_collection(KUSCIA_TASK, self.home)
        await self._delete_collection(EVENT, self.home)
        await self.kube.delete(APP_IMAGE, None, self.app_image)
        for namespace in (self.home, *self.domains):
            await self.kube.delete(NAMESPACE, None, namespace)

    async def _delete_collection(self, kind: Kind, namespace: str) -> None:
        await self.kube.request("DELETE", kind.path(namespace))


async def _retrying(
    call: Callable[[], Awaitable[dict[str, Any]]], *, within: float = 120.0
) -> dict[str, Any]:
    """`call()`, again and again while the API server is away or still starting."""
    with anyio.fail_after(within):
        while True:
            try:
                return await call()
            except RETRIED as error:
                if isinstance(error, ApiError) and error.status not in TRANSIENT:
                    raise
            await anyio.sleep(0.2)


def resources_created(task: Mapping[str, Any]) -> bool:
    return task_status.resources_created(task.get("status") or {})
