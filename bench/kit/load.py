"""Load and observation: create tasks (all at once, or at a steady rate), watch for the
moment each one is settled, count children, and clear everything away between runs.

A task is settled when its status has condition ResourceCreated=True: every program
under test writes that status only after every child object was applied. The same
watch times all three programs, so the watch's own delay is in every figure alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from bench.kit.apiclient import Api, ApiError

TASKS_PATH = "/apis/kuscia.secretflow/v1alpha1/namespaces/{ns}/kusciatasks"
CHILD_PATHS = {
    "pods": "/api/v1/namespaces/{ns}/pods",
    "services": "/api/v1/namespaces/{ns}/services",
    "configmaps": "/api/v1/namespaces/{ns}/configmaps",
    "networkpolicies": "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
}
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
CHILD_SELECTOR = "kuscia.secretflow/controller in (kusciatask,kusciakopf)"

Created = Callable[[str, str, float], None]  # (name, uid, monotonic time it was created)


def settled(task: dict[str, Any]) -> bool:
    conditions = (task.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "ResourceCreated" and c.get("status") == "True" for c in conditions)


async def create_tasks(
    api: Api, namespace: str, bodies: Sequence[bytes], *, concurrency: int, on_created: Created
) -> None:
    """POSTs every task at once (at most `concurrency` requests in flight)."""
    path = TASKS_PATH.format(ns=namespace)
    limit = asyncio.Semaphore(concurrency)

    async def one(body: bytes) -> None:
        async with limit:
            answer = json.loads(await api.send("POST", path, body=body))
        meta = answer["metadata"]
        on_created(meta["name"], meta["uid"], time.monotonic())

    await asyncio.gather(*(one(body) for body in bodies))


async def create_at_rate(
    api: Api, namespace: str, bodies: Sequence[bytes], *, rate: float, on_created: Created
) -> float:
    """POSTs one task every 1/rate seconds (on a fixed schedule, not after each answer);
    returns how far behind schedule the last one started, in seconds."""
    path = TASKS_PATH.format(ns=namespace)
    start = time.monotonic()
    pending: list[asyncio.Task[None]] = []
    late = 0.0

    async def one(body: bytes) -> None:
        answer = json.loads(await api.send("POST", path, body=body))
        meta = answer["metadata"]
        on_created(meta["name"], meta["uid"], time.monotonic())

    for i, body in enumerate(bodies):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        late = time.monotonic() - due
        pending.append(asyncio.create_task(one(body)))
    await asyncio.gather(*pending)
    return late


async def follow(
    api: Api,
    path: str,
    see: Callable[[dict[str, Any]], None],
    *,
    query: Sequence[tuple[str, str]] = (),
    listed: asyncio.Event | None = None,
) -> None:
    """Lists `path`, then watches from there, calling `see` with every object listed,
    added or modified, until cancelled; `listed` is set after the first list. Any failure
    (410 Gone, a dropped connection) lists again, so an object may be seen twice."""
    while True:
        try:
            listing = await api.json("GET", path, query=query)
            for obj in listing["items"]:
                see(obj)
            version = listing["metadata"]["resourceVersion"]
            if listed is not None:
                listed.set()
            while True:
                async for event in api.watch(path, resource_version=version, query=query):
                    obj = event.get("object") or {}
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    if event.get("type") == "ERROR":
                        raise ApiError("WATCH", path, int(obj.get("code", 0)), b"")
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        see(obj)
        except (ApiError, aiohttp.ClientError, OSError, ValueError):
            await asyncio.sleep(1.0)


class Observer:
    """Watches the tasks of one namespace and notes when each is first seen settled."""

    def __init__(self, api: Api, namespace: str) -> None:
        self.api = api
        self.path = TASKS_PATH.format(ns=namespace)
        self.settled_at: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._listed = asyncio.Event()

    async def run(self) -> None:
        """Seeing a task again can only mark more tasks settled, never fewer."""
        await follow(self.api, self.path, self._see, listed=self._listed)

    async def started(self) -> None:
        await self._listed.wait()

    def _see(self, task: dict[str, Any]) -> None:
        name = task["metadata"]["name"]
        if name not in self.settled_at and settled(task):
            self.settled_at[name] = time.monotonic()
            self._changed.set()

    async def wait_for(self, names: Sequence[str], within: float) -> bool:
        """True once every named task is settled; False when `within` seconds pass first."""
        return await self.wait_until_noted(self.settled_at, names, within)

    async def wait_until_noted(
        self, noted: dict[str, float], names: Sequence[str], within: float
    ) -> bool:
        """True once every name is in `noted` (which `_see` fills); False when `within`
        seconds pass first."""
        deadline = time.monotonic() + within
        wanted = set(names)
        while not wanted <= noted.keys():
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
        return True


async def count(api: Api, path: str, selector: str = "") -> int:
    """How many objects a collection holds (a metadata-only list)."""
    query = [("labelSelector", selector)] if selector else []
    data = await api.send("GET", path, query=query, accept=METADATA_ONLY)
    return len(json.loads(data)["items"] or [])


async def count_children(api: Api, namespaces: Sequence[str]) -> dict[str, int]:
    counts = {}
    for kind, path in CHILD_PATHS.items():
        counts[kind] = 0
        for ns in namespaces:
            counts[kind] += await count(api, path.format(ns=ns), CHILD_SELECTOR)
    return counts


async def clear(
    api: Api, task_namespaces: Sequence[str], party_namespaces: Sequence[str], *, within: float
) -> None:
    """Deletes every task (finalizers stripped first), its Events and every child object,
    and waits until they are gone."""
    limit = asyncio.Semaphore(32)
    for ns in task_namespaces:
        path = TASKS_PATH.format(ns=ns)
        tasks = (await api.json("GET", path))["items"]

        async def release(name: str, path: str = path) -> None:
            async with limit:
                await api.json(
                    "PATCH",
                    f"{path}/{name}",
                    body={"metadata": {"finalizers": None}},
                    content_type="application/merge-patch+json",
                )

        await asyncio.gather(
            *(release(t["metadata"]["name"]) for t in tasks if t["metadata"].get("finalizers"))
        )
        await api.json("DELETE", path)
        await api.json("DELETE", f"/api/v1/namespaces/{ns}/events")
    for ns in party_namespaces:
        for kind_path in CHILD_PATHS.values():
            await api.json(
                "DELETE", kind_path.format(ns=ns), query=[("labelSelector", CHILD_SELECTOR)]
            )
    deadline = time.monotonic() + within
    while True:
        left = sum([await count(api, TASKS_PATH.format(ns=ns)) for ns in task_namespaces])
        left += sum((await count_children(api, party_namespaces)).values())
        if left == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{left} objects still there after clearing")
        await asyncio.sleep(0.5)
