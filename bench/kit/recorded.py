"""The requests our controller sends for one fresh task, captured by running its own
reconcile against a recorder instead of the API server.

The ceiling replays these, so it sends exactly what the controller would (same
paths, query, content type, field manager, force, bodies), and follows the
controller's product code when that changes. Each task is recorded with a
placeholder uid unique to it; the real uid, known only once the task is created,
is swapped into the serialized bodies just before they are sent.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio.client import ApiClient

from informers.clock import FakeClock
from informers.store import object_key
from reconciler import cache_transforms
from reconciler.caches import Caches
from reconciler.events import EventRecorder
from reconciler.kube import KUSCIA_TASK, Kube
from reconciler.settings import Settings
from reconciler.task_reconciler import TaskReconciler

CHILD_KINDS = frozenset({"Pod", "Service", "ConfigMap", "NetworkPolicy"})


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    content_type: str
    body: bytes
    kind: str  # of the object written ("Pod", "KusciaTask", ...)
    subresource: str  # "" or "status"

    @property
    def child(self) -> bool:
        """One of the task's produced objects (applied concurrently with its siblings)."""
        return self.kind in CHILD_KINDS and not self.subresource

    def with_uid(self, placeholder: bytes, uid: bytes) -> Request:
        return Request(
            self.method,
            self.path,
            self.query,
            self.content_type,
            self.body.replace(placeholder, uid),
            self.kind,
            self.subresource,
        )


@dataclass(frozen=True)
class TaskRequests:
    """One task's requests in the controller's order, grouped into steps: the requests
    of a step are sent at once (up to the controller's per-task apply concurrency),
    and a step starts when the one before it has been answered."""

    name: str
    placeholder: str
    steps: tuple[tuple[Request, ...], ...]

    @property
    def count(self) -> int:
        return sum(len(step) for step in self.steps)

    def for_uid(self, uid: str) -> tuple[tuple[Request, ...], ...]:
        old, new = self.placeholder.encode(), uid.encode()
        return tuple(tuple(r.with_uid(old, new) for r in step) for step in self.steps)


def placeholder_uid(index: int) -> str:
    """A uid no API server would hand out, unique per task of one run."""
    return str(uuid.UUID(int=(0xBE7C_BE7C << 96) | index))


def group_steps(requests: Sequence[Request]) -> tuple[tuple[Request, ...], ...]:
    """Consecutive child applies form one concurrent step; anything else is a step alone."""
    steps: list[list[Request]] = []
    for request in requests:
        if request.child and steps and steps[-1][0].child:
            steps[-1].append(request)
        else:
            steps.append([request])
    return tuple(tuple(step) for step in steps)


class RecordingKube(Kube):
    """A Kube that answers every write as the API server would, and remembers it. An
    apply is answered with the whole object as stored, its fields merged in (a status
    apply answers the task with its spec), since a reconcile goes on from answers."""

    def __init__(self, api: ApiClient, now: str) -> None:
        super().__init__(api)
        self.now = now
        self.requests: list[Request] = []
        self.objects: dict[str, dict[str, Any]] = {}  # by path, as stored
        self._serial = 0

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        parts = path.rstrip("/").split("/")
        subresource = "status" if parts[-1] == "status" else ""
        kind = str((body or {}).get("kind", ""))
        self.requests.append(
            Request(
                method,
                path,
                tuple(query),
                content_type,
                json.dumps(body).encode(),
                kind,
                subresource,
            )
        )
        where = path.rstrip("/").removesuffix("/status")
        answer = copy.deepcopy(self.objects.get(where, {})) if method == "PATCH" else {}
        for field, value in copy.deepcopy(dict(body or {})).items():
            if field == "metadata" and isinstance(value, dict):
                answer.setdefault("metadata", {}).update(value)
            else:
                answer[field] = value
        self._serial += 1
        meta = answer.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.UUID(int=self._serial)))
        meta.setdefault("creationTimestamp", self.now)
        meta["resourceVersion"] = str(self._serial)
        if method == "PATCH":
            self.objects[where] = copy.deepcopy(answer)
        return answer


async def record(
    tasks: Sequence[Mapping[str, Any]],
    *,
    app_images: Sequence[dict[str, Any]],
    namespaces: Sequence[dict[str, Any]],
    settings: Settings | None = None,
    now: datetime | None = None,
    rounds: int = 1,
) -> list[list[Request]]:
    """For each task (as the API server stores it, without status), the requests one
    reconcile of it sends, in order (all its passes: the objects made behind the
    reservation's gate, the status, then the pods' gates released); with `rounds` > 1,
    also those of the reconciles that follow once the caches hold what the one before
    wrote, until one sends nothing."""
    settings = settings or Settings()
    wall = now or datetime.now(UTC)
    clock = FakeClock(wall_start=wall)
    api = ApiClient()
    try:
        kube = RecordingKube(api, wall.strftime("%Y-%m-%dT%H:%M:%SZ"))
        caches = Caches(api, namespace=None, clock=clock)
        caches.app_images.store.replace([copy.deepcopy(i) for i in app_images], "1")
        caches.namespaces.store.replace([copy.deepcopy(n) for n in namespaces], "1")
        events = EventRecorder(
            kube, clock, component="kuscia-reconciler", field_manager=settings.field_manager
        )
        reconciler = TaskReconciler(kube, caches, events, settings, clock)
        recorded: list[list[Request]] = []
        for task in tasks:
            caches.tasks.store.update(copy.deepcopy(dict(task)))
            meta = task["metadata"]
            kube.objects[KUSCIA_TASK.path(meta["namespace"], meta["name"])] = copy.deepcopy(
                dict(task)
            )
            sent: list[Request] = []
            for _ in range(rounds):
                kube.requests = []
                await reconciler.reconcile(object_key(task))
                sent += kube.requests
                if not kube.requests:
                    break
                _cache_what_was_written(caches, kube.requests, kube.now)
            caches.tasks.store.delete(task)
            for store in (informer.store for informer in caches.children.values()):
                for key in store.list_keys():
                    store.delete_key(key)
            recorded.append(sent)
        return recorded
    finally:
        await api.close()


def _cache_what_was_written(caches: Caches, requests: Sequence[Request], now: str) -> None:
    """The caches as the watches would leave them after these writes: each child as
    the informer keeps it, the task with its new status and metadata."""
    for serial, request in enumerate(requests):
        body = json.loads(request.body)
        meta = body.get("metadata") or {}
        if request.child:
            meta.update(uid=f"{meta['name']}-{serial}", creationTimestamp=now)
            meta["resourceVersion"] = str(serial)
            store = caches.children[request.kind].store
            store.update(cache_transforms.for_kind(request.kind)(body))
            continue
        if request.kind != "KusciaTask":
            continue
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        stored = caches.tasks.store.get_by_key(key)
        if stored is None:
            continue
        if request.subresource == "status":
            stored = {**stored, "status": body["status"]}
        else:
            stored = {**stored, "metadata": {**stored["metadata"], **meta}}
        rv = int(stored["metadata"].get("resourceVersion") or 0) + 1
        stored["metadata"] = {**stored["metadata"], "resourceVersion": str(rv)}
        caches.tasks.store.update(stored)


def stored_task(
    template: Mapping[str, Any], name: str, uid: str, *, created: str
) -> dict[str, Any]:
    """The task as the API server would store it: the template (a dry-run answer) with
    this task's name, uid and times, and no status."""
    task = copy.deepcopy(dict(template))
    task.pop("status", None)
    meta = task["metadata"]
    meta.update(name=name, uid=uid, creationTimestamp=created, resourceVersion="1", generation=1)
    meta.pop("managedFields", None)
    return task
