"""Makes many settled tasks quickly, for the memory and cold-start scenarios: each task
is created with the controller's finalizer, its 12 objects are created with the very
bodies the controller would apply (the last of each, once the reservation released
the pods), and its status is applied as the controller would.

Creating (POST) costs the API server about half what a server-side apply does, and
the objects come out the same once an informer has dropped managedFields; so a
controller started over them finds every task settled and has nothing to write.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from bench.kit import load
from bench.kit.apiclient import Api
from bench.kit.recorded import Request
from bench.kit.world import World
from reconciler.finalizer import FINALIZER

TASKS_IN_FLIGHT = 24


async def make_settled(world: World, api: Api, namespace: str, names: Sequence[str]) -> None:
    # Every reconcile until the task is settled: the second releases the pods'
    # reservation gate, so the pods are made as they are once released.
    plan = await world.record(list(names), namespace, rounds=3)
    path = load.TASKS_PATH.format(ns=namespace)
    limit = asyncio.Semaphore(TASKS_IN_FLIGHT)

    async def one(name: str) -> None:
        body = json.loads(world.task_body(name, namespace))
        body["metadata"]["finalizers"] = [FINALIZER]
        async with limit:
            answer = await api.json("POST", path, body=body)
            steps = plan[name].for_uid(answer["metadata"]["uid"])
            requests = [r for step in steps for r in step]
            final = {r.path: r for r in requests if r.child}  # the last body of each object
            made = await asyncio.gather(*(_create(api, r) for r in final.values()))
            for request in requests:
                if request.subresource == "status":
                    await api.send(
                        request.method,
                        request.path,
                        query=request.query,
                        body=_with_create_times(request.body, made),
                        content_type=request.content_type,
                    )

    await asyncio.gather(*(one(name) for name in names))


async def _create(api: Api, request: Request) -> dict[str, Any]:
    """The apply as a create: POST to the collection, same body and field manager."""
    collection = request.path.rsplit("/", 1)[0]
    manager = [(k, v) for k, v in request.query if k == "fieldManager"]
    return await api.json("POST", collection, query=manager, body=json.loads(request.body))


def _with_create_times(body: bytes, made: Sequence[dict[str, Any]]) -> bytes:
    """The recorded status names its Pods' and Services' creation times as the recording
    saw them; the controller compares them with the real ones, so put those in."""
    created = {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["metadata"]["creationTimestamp"]
        for o in made
    }
    status = json.loads(body)
    for field in ("podStatuses", "serviceStatuses"):
        for key, entry in (status["status"].get(field) or {}).items():
            if key in created:
                entry["createTime"] = created[key]
    return json.dumps(status).encode()
