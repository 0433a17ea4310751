"""Helpers for the informer integration tests: a recording handler, polling, running an
informer for the length of a block, and an ApiClient that goes through a TcpProxy."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from kubernetes_asyncio import client, config

from devcluster.cluster import ControlPlane
from informers.backoff import BackoffPolicy
from informers.informer import Informer
from informers.reflector import ReflectorOptions
from informers.store import Store, object_key

# Fast enough for tests that take seconds, not minutes.
FAST = ReflectorOptions(
    min_watch_timeout=60,
    inactivity_timeout=30,
    connect_timeout=5,
    backoff=BackoffPolicy(initial=0.05, cap=0.4),
)


@dataclass
class Recorder:
    """An EventHandler that writes down what it was told, in order."""

    events: list[tuple[Any, ...]] = field(default_factory=list)

    def on_add(self, obj: dict[str, Any], is_initial_list: bool) -> None:
        self.events.append(("add", object_key(obj), _rv(obj), is_initial_list))

    def on_update(self, old: dict[str, Any], new: dict[str, Any], is_resync: bool) -> None:
        self.events.append(("update", object_key(new), _rv(new), is_resync))

    def on_delete(self, obj: dict[str, Any]) -> None:
        self.events.append(("delete", object_key(obj), _rv(obj)))

    def of(self, key: str) -> list[tuple[Any, ...]]:
        return [e for e in self.events if e[1] == key]

    def kinds(self, key: str, *, real_only: bool = True) -> list[str]:
        """The event kinds of one key, leaving out resync updates if real_only."""
        return [e[0] for e in self.of(key) if not (real_only and e[0] == "update" and e[3])]


def _rv(obj: dict[str, Any]) -> str:
    return str(obj["metadata"].get("resourceVersion", ""))


async def eventually(
    condition: Callable[[], bool], *, within: float = 15.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await anyio.sleep(0.02)


@asynccontextmanager
async def running(informer: Informer, *, synced: bool = True) -> AsyncIterator[Informer]:
    """Runs the informer for the block (waiting for its first sync), then cancels it."""
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(informer.run, name=f"informer {informer.name}")
        if synced:
            with anyio.fail_after(15):
                await informer.wait_for_sync()
        yield informer
        tasks.cancel_scope.cancel()


def assert_indexes_consistent(store: Store) -> None:
    """Every index equals one rebuilt from scratch from the stored objects."""
    fresh = Store(store.indexers)
    fresh.replace(store.list(), store.resource_version)
    for index in store.indexers:
        values = set(store.list_index_func_values(index))
        assert values == set(fresh.list_index_func_values(index)), index
        for value in values:
            assert store.index_keys(index, value) == fresh.index_keys(index, value), (index, value)


@asynccontextmanager
async def api_client_via(control_plane: ControlPlane, port: int) -> AsyncIterator[client.ApiClient]:
    """The admin's ApiClient, but connecting to 127.0.0.1:port (a proxy) instead."""
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(control_plane.kubeconfig), client_configuration=configuration
    )
    configuration.host = f"https://127.0.0.1:{port}"
    async with client.ApiClient(configuration) as api:
        yield api


def configmap(name: str, data: str = "x", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"value": data},
    }
