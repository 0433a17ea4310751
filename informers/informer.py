"""A cache of one resource kept current by list and watch, telling handlers what changed.

Each list or watch event is applied to the store and then handed to the handlers in the
same synchronous step, so a handler always finds the store already updated, and a relist
(after a 410) is turned into the adds, updates and deletes it implies (Q-2, SI-1).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import structlog

from informers.clock import Clock, RealClock
from informers.connection import Api
from informers.handlers import EventHandler, HandlerFuncs
from informers.reflector import Reflector, ReflectorOptions, ReflectorStats, Transform
from informers.resource import Resource
from informers.store import (
    NAMESPACE_INDEX,
    IndexConflictError,
    IndexFunc,
    Store,
    namespace_index,
    object_key,
)
from informers.transport import RawApi
from informers.watchdog import InactivityWatchdog

__all__ = ["EventHandler", "HandlerFuncs", "Informer"]

log = structlog.get_logger(__name__)


class Informer:
    """One resource's cache. Objects arrive without metadata.managedFields (unless
    keep_managed_fields) and then pass through `transform`, if given, before they are
    stored; `options` holds the list/watch timings (ReflectorOptions)."""

    def __init__(
        self,
        api: Api,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float = 0.0,
        transform: Transform | None = None,
        keep_managed_fields: bool = False,
        indexers: Mapping[str, IndexFunc] | None = None,
        clock: Clock | None = None,
        name: str | None = None,
        options: ReflectorOptions | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if resync_period < 0:
            raise ValueError(f"resync_period must be >= 0, got {resync_period}")
        indexers = dict(indexers or {})
        if NAMESPACE_INDEX in indexers:
            raise IndexConflictError(f"indexer conflict: {NAMESPACE_INDEX!r} is built in")
        self.name = name or (f"{resource}@{namespace}" if namespace else str(resource))
        self.resource = resource
        self.store = Store({NAMESPACE_INDEX: namespace_index, **indexers})
        self._clock = clock or RealClock()
        self._resync_period = resync_period
        self._handlers: list[EventHandler] = []
        self._synced = asyncio.Event()  # no running loop needed to construct an informer
        self._state = "new"  # new -> running -> stopped
        self._log = log.bind(informer=self.name)
        options = options or ReflectorOptions()
        self._watchdog = InactivityWatchdog(self._clock, options.inactivity_timeout)
        self._reflector = Reflector(
            RawApi(api, connect_timeout=options.connect_timeout),
            resource,
            self,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            transform=transform,
            drop_managed_fields=not keep_managed_fields,
            options=options,
            clock=self._clock,
            watchdog=self._watchdog,
            name=self.name,
            rng=rng,
        )

    # ---- public surface -----------------------------------------------------

    def add_event_handler(self, handler: EventHandler) -> None:
        """Registers a handler; one added late first gets an add for every cached object (SI-5)."""
        if self._state == "stopped":
            raise RuntimeError(f"informer {self.name} has stopped; cannot add a handler")
        for obj in self.store.list():
            self._call(handler.on_add, obj, True)
        self._handlers.append(handler)

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        self.store.add_indexers(indexers)

    async def run(self) -> None:
        """Lists and watches until cancelled; errors only back off and retry."""
        if self._state != "new":
            self._log.warning("informer run() called twice; ignored")
            return
        self._state = "running"
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._watchdog.run, name=f"{self.name} watchdog")
                if self._resync_period > 0:
                    tasks.start_soon(self._resync_loop, name=f"{self.name} resync")
                await self._reflector.run()
        finally:
            self._state = "stopped"

    def has_synced(self) -> bool:
        """True once the first list has been stored and delivered; stays true (Q-7)."""
        return self._synced.is_set()

    async def wait_for_sync(self) -> None:
        await self._synced.wait()

    @property
    def healthy(self) -> bool:
        """False while the informer cannot list or watch (e.g. the API server is unreachable)."""
        return self._reflector.healthy

    @property
    def last_sync_resource_version(self) -> str:
        return self._reflector.last_sync_resource_version

    @property
    def stats(self) -> ReflectorStats:
        return self._reflector.stats

    @property
    def watchdog_fired(self) -> int:
        """How many silent requests the inactivity watchdog has cancelled."""
        return self._watchdog.fired

    # ---- ReflectorSink: store first, then handlers, with no await between ---

    def replace(self, objects: list[dict[str, Any]], resource_version: str) -> None:
        """Q-2: deletions for vanished keys, then adds/updates, after swapping the store."""
        store = self.store
        new_keys: set[str] = set()
        replacements: list[tuple[dict[str, Any] | None, dict[str, Any]]] = []
        for obj in objects:
            old = store.get(obj)
            replacements.append((old, obj))
            new_keys.add(object_key(obj))
        deletions = [store.get_by_key(k) for k in store.list_keys() if k not in new_keys]
        store.replace(objects, resource_version)
        is_initial_list = not self.has_synced()
        for gone in deletions:
            if gone is not None:
                self._notify_delete(gone)
        for old, new in replacements:
            if old is None:
                self._notify_add(new, is_initial_list)
            else:
                self._notify_update(old, new)
        self._synced.set()

    def upsert(self, obj: dict[str, Any]) -> None:
        old = self.store.update(obj)
        if old is None:
            self._notify_add(obj, False)
        else:
            self._notify_update(old, obj)

    def remove(self, obj: dict[str, Any]) -> None:
        self.store.delete(obj)
        self._notify_delete(obj)

    def bookmark(self, resource_version: str) -> None:
        self.store.bookmark(resource_version)

    # ---- delivery -----------------------------------------------------------

    def _notify_add(self, obj: dict[str, Any], is_initial_list: bool) -> None:
        for handler in self._handlers:
            self._call(handler.on_add, obj, is_initial_list)

    def _notify_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        # SI-2: an update that does not change the resourceVersion (a relist of an
        # unchanged object) is a resync.
        is_resync = _rv(old) == _rv(new)
        for handler in self._handlers:
            self._call(handler.on_update, old, new, is_resync)

    def _notify_delete(self, obj: dict[str, Any]) -> None:
        for handler in self._handlers:
            self._call(handler.on_delete, obj)

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            callback(*args)
        except Exception:
            self._log.exception("event handler failed; event skipped", handler=repr(callback))

    async def _resync_loop(self) -> None:
        """RF-13/Q-5: every period, each cached object is re-delivered as a resync update."""
        while True:
            await self._clock.sleep(self._resync_period)
            if not self.has_synced():
                continue
            for obj in self.store.list():
                for handler in self._handlers:
                    self._call(handler.on_update, obj, obj, True)


def _rv(obj: dict[str, Any]) -> object:
    return (obj.get("metadata") or {}).get("resourceVersion")
