"""Finished and deleted tasks: what is removed, and when a deleted task may go.

A finished task's Pods are deleted (failed ones stay, for debugging) and, on success,
its ConfigMaps. The finalizer makes a deleted task remove every object it made, in
every namespace, first; before letting the task go it asks the API server, not only
the caches, since each kind's events arrive on a stream of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anyio

from builders.labels import TASK_UID_LABEL
from builders.models import KusciaTask
from informers.store import object_key
from reconciler import task_status
from reconciler.caches import Caches
from reconciler.kube import KINDS, ApiError, Kube
from reconciler.outcome import Result
from reconciler.settings import Settings

FINALIZER = "kuscia.secretflow/kusciatask-cleanup"
FINALIZE_RECHECK = 1.0  # seconds before a deleted task's server-side leftovers are listed again


class Finalizer:
    """Removes what a task made: its finished pods, or everything once it is deleted."""

    def __init__(self, kube: Kube, caches: Caches, settings: Settings) -> None:
        self.kube = kube
        self.caches = caches
        self.settings = settings

    async def clean_finished(
        self, task: KusciaTask, deleted: set[tuple[str, str]] | None = None
    ) -> None:
        """Finished: Pods go (failed ones stay for debugging); on success ConfigMaps too.
        `deleted`: see `delete`."""
        if self.settings.keep_finished:
            return
        children = self.caches.children_of(task.metadata.uid)
        doomed = [
            ("Pod", pod)
            for pod in children["Pod"]
            if (pod.get("status") or {}).get("phase") != task_status.FAILED
            and not pod["metadata"].get("deletionTimestamp")
        ]
        if task.status.phase == task_status.SUCCEEDED:
            doomed += [("ConfigMap", cm) for cm in children["ConfigMap"]]
        await self.delete(doomed, deleted)

    async def finalize(self, task: KusciaTask) -> Result:
        """Deleted: remove every object the task made, in every namespace, then let it go."""
        uid = task.metadata.uid
        children = self.caches.children_of(uid)
        doomed = [(kind, obj) for kind, objs in children.items() for obj in objs]
        seen_by_cache = bool(doomed)
        if not doomed:
            # Each kind is watched on its own stream, so the deletion can arrive before
            # the events of objects applied a moment ago: ask the server, not the
            # caches, before letting the task go.
            doomed = await self._children_on_server(task)
        await self.delete([(k, o) for k, o in doomed if not o["metadata"].get("deletionTimestamp")])
        if doomed:
            # The children's delete events bring the task back here; those the caches
            # never saw are looked for again in a moment.
            return Result() if seen_by_cache else Result(requeue_after=FINALIZE_RECHECK)
        if FINALIZER in task.metadata.finalizers:
            await self.set_finalizer(task, present=False)
        return Result()

    async def _children_on_server(self, task: KusciaTask) -> list[tuple[str, dict[str, Any]]]:
        """The task's objects in its parties' namespaces (where the builders put them),
        listed on the server by the task's uid label."""
        selector = [("labelSelector", f"{TASK_UID_LABEL}={task.metadata.uid}")]
        found: list[tuple[str, dict[str, Any]]] = []

        async def list_one(kind: str, namespace: str) -> None:
            listed = await self.kube.request("GET", KINDS[kind].path(namespace), query=selector)
            found.extend((kind, obj) for obj in listed.get("items") or [])

        async with anyio.create_task_group() as group:
            for namespace in sorted({party.domain_id for party in task.spec.parties}):
                for kind in self.caches.children:  # PodGroups too, where served
                    group.start_soon(list_one, kind, namespace)
        return found

    async def delete(
        self,
        objects: Sequence[tuple[str, Mapping[str, Any]]],
        deleted: set[tuple[str, str]] | None = None,
    ) -> None:
        """Deletes each (kind, object); with `deleted`, the (kind, key) of those deleted
        already (in an earlier pass of the reconcile, before the caches saw it) are
        skipped, and those deleted now are added."""
        async with anyio.create_task_group() as group:
            for kind, obj in objects:
                meta = obj["metadata"]
                if deleted is not None:
                    key = (kind, object_key(obj))
                    if key in deleted:
                        continue
                    deleted.add(key)
                group.start_soon(self.kube.delete, KINDS[kind], meta["namespace"], meta["name"])

    async def set_finalizer(self, task: KusciaTask, *, present: bool) -> dict[str, Any] | None:
        """Adds or removes our finalizer; the task as answered (None: it is gone)."""
        body = {
            "apiVersion": task.api_version,
            "kind": task.kind,
            "metadata": {
                "name": task.metadata.name,
                "namespace": task.metadata.namespace,
                # The uid makes the apply a precondition: a task deleted since the
                # cache saw it answers 409 instead of being created again.
                "uid": task.metadata.uid,
                "finalizers": [FINALIZER] if present else [],
            },
        }
        try:
            return await self.kube.apply(body, field_manager=self.settings.field_manager)
        except ApiError as error:
            if not (error.not_found or error.conflict):
                raise
        return None
