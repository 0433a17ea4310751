"""A log of every watch event of a task's pods, in every namespace, in the API server's
order: resourceVersions are etcd's revisions, one order across namespaces, so tests can
say which write came first without reading a clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from kubernetes_asyncio import client, watch

from builders.labels import RESERVATION_GATE


class PodLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def pods_in(self, namespaces: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
        return [(k, p) for k, p in self.events if p["metadata"]["namespace"] in namespaces]

    def uids(self, namespace: str) -> list[str]:
        """The pods made in `namespace`, in order (one per attempt of a one-pod party)."""
        seen: list[str] = []
        for kind, pod in self.events:
            uid = pod["metadata"]["uid"]
            if pod["metadata"]["namespace"] == namespace and kind == "ADDED" and uid not in seen:
                seen.append(uid)
        return seen


def gated(pod: dict[str, Any]) -> bool:
    gates = (pod.get("spec") or {}).get("schedulingGates") or []
    return any(g.get("name") == RESERVATION_GATE for g in gates)


def revision(pod: dict[str, Any]) -> int:
    return int(pod["metadata"]["resourceVersion"])


@contextlib.asynccontextmanager
async def pod_log(api: client.ApiClient, selector: str) -> AsyncIterator[PodLog]:
    core = client.CoreV1Api(api)
    listed = await core.list_pod_for_all_namespaces(label_selector=selector)
    log = PodLog()

    async def follow() -> None:
        stream = watch.Watch()
        async for event in stream.stream(
            core.list_pod_for_all_namespaces,
            label_selector=selector,
            resource_version=listed.metadata.resource_version,
            timeout_seconds=600,
        ):
            log.events.append((event["type"], api.sanitize_for_serialization(event["object"])))

    follower = asyncio.create_task(follow())
    try:
        yield log
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
