"""Every version of every object the controller makes in a scenario's party
namespaces, as list and watch deliver them, so a scenario can prove afterwards
that no object was deleted, made twice (a second uid) or ever written with other
content than the builders' final word.

It rides on the project's informers (a relist after a 410 or a restart hands
every object over again, which the record simply absorbs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
from kubernetes_asyncio.client import ApiClient

from builders.labels import CONTROLLER_LABEL, CONTROLLER_VALUE
from informers.handlers import HandlerFuncs
from informers.informer import Informer
from informers.resource import Resource
from tests.reliability.expected import Key, carries, describe, fingerprint, key_of, project

RESOURCES = {
    "Pod": Resource("", "v1", "pods", namespaced=True),
    "Service": Resource("", "v1", "services", namespaced=True),
    "ConfigMap": Resource("", "v1", "configmaps", namespaced=True),
    "NetworkPolicy": Resource("networking.k8s.io", "v1", "networkpolicies", namespaced=True),
}


@dataclass
class History:
    versions: dict[Key, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    deleted: list[Key] = field(default_factory=list)

    def record(self, obj: dict[str, Any]) -> None:
        obj.setdefault("kind", _kind_of(obj))
        versions = self.versions[key_of(obj)]
        version = obj["metadata"].get("resourceVersion")
        if not versions or versions[-1]["metadata"].get("resourceVersion") != version:
            versions.append(obj)

    def forget(self, obj: dict[str, Any]) -> None:
        obj.setdefault("kind", _kind_of(obj))
        self.deleted.append(key_of(obj))

    def problems(self, wanted: Mapping[Key, Mapping[str, Any]]) -> list[str]:
        """Deletions, second uids, and versions whose content differs from `wanted`'s."""
        found = [f"deleted during the scenario: {describe(k)}" for k in sorted(set(self.deleted))]
        for key, versions in sorted(self.versions.items()):
            uids = {v["metadata"].get("uid") for v in versions}
            if len(uids) > 1:
                found.append(f"{describe(key)} was made {len(uids)} times (uids {sorted(uids)})")
            desired = wanted.get(key)
            if desired is None:
                continue
            for version in versions:
                if not carries(version, desired):
                    found.append(
                        f"{describe(key)} at resourceVersion "
                        f"{version['metadata'].get('resourceVersion')} had other content "
                        f"({fingerprint(project(version, desired))}, "
                        f"not {fingerprint(desired)})"
                    )
                    break
        return found

    @property
    def writes_seen(self) -> int:
        return sum(len(v) for v in self.versions.values())


def _kind_of(obj: Mapping[str, Any]) -> str:
    return str(obj.get("kind") or "")


class Recorder:
    """Informers over the party namespaces, recording into one History while running."""

    def __init__(self, api: ApiClient, namespaces: tuple[str, ...]) -> None:
        self.history = History()
        self.informers: list[Informer] = []
        for namespace in namespaces:
            for kind, resource in RESOURCES.items():
                informer = Informer(
                    api,
                    resource,
                    namespace=namespace,
                    label_selector=f"{CONTROLLER_LABEL}={CONTROLLER_VALUE}",
                    transform=_with_kind(kind),
                    name=f"history {resource.plural}@{namespace}",
                )
                informer.add_event_handler(
                    HandlerFuncs(
                        add=lambda obj, _: self.history.record(obj),
                        update=lambda _, new, __: self.history.record(new),
                        delete=self.history.forget,
                    )
                )
                self.informers.append(informer)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        async with anyio.create_task_group() as group:
            for informer in self.informers:
                group.start_soon(informer.run)
            for informer in self.informers:
                await informer.wait_for_sync()
            task_status.started()


def _with_kind(kind: str) -> Any:
    def transform(obj: dict[str, Any]) -> dict[str, Any]:
        obj["kind"] = kind
        return obj

    return transform
