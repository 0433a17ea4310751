"""The running controller: informers feed two reconcile loops (tasks, AppImages), each
with its own queue and workers, which run only while this process leads; every loop
lives in one anyio task group, so shutdown and failure travel the same way."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import socket
import time
from collections.abc import Iterator
from typing import Any

import anyio
import structlog

from informers.clock import Clock, RealClock
from informers.connection import Api
from informers.store import object_key
from reconciler import metrics, task_status
from reconciler.appimage_reconciler import AppImageReconciler
from reconciler.caches import (
    BY_APP_IMAGE,
    BY_DOMAIN,
    BY_UID,
    CHILD_KINDS,
    DOMAINS,
    Caches,
    child_task_uid,
)
from reconciler.events import EventRecorder
from reconciler.kube import POD_GROUP, ApiError, Kube
from reconciler.leaderelection import LeaderElectionConfig, LeaderElector
from reconciler.loop import TRANSIENT, ReconcileLoop
from reconciler.own_writes import OwnWrites, SkipEchoes
from reconciler.server import Probes, Servers
from reconciler.settings import Settings

log = structlog.get_logger(__name__)

# The oldest generation is collected only after this many collections of the middle one
# while the caches fill (the default is 10); young garbage is still collected as usual.
DEFERRED_FULL_COLLECTIONS = 1_000_000
GC_THRESHOLD = gc.get_threshold()  # as the process started, restored once synced

DOMAINS_DISCOVERY = f"/apis/{DOMAINS.group}/{DOMAINS.version}"


class LeadershipLost(Exception):
    """Raised so the process exits and a fresh one campaigns again."""


def _waiting(task: dict[str, Any]) -> bool:
    """A task that has not made its objects yet, so a new AppImage or namespace may unblock it."""
    status = task.get("status") or {}
    return status.get("phase") not in task_status.FINISHED and not task_status.resources_created(
        status
    )


class Controller:
    """The manager, in controller-runtime's words: one set of caches, one API client whose
    writes the lease gates, and the two reconcile loops wired to the caches' events.

    Contract: `run()` lists and watches, waits for the caches to sync, then (while it leads,
    with leader election) runs the workers until cancelled, signalled (`handle_signals`) or
    leadership is lost (LeadershipLost). Every reconcile reads the caches only, so it is
    level-triggered: the same cache state always gives the same writes, and a settled
    cluster gets none. `stop()` lets in-flight reconciles finish, bounded."""

    def __init__(self, api: Api, settings: Settings, *, clock: Clock | None = None) -> None:
        self.api = api
        self.settings = settings
        self.clock = clock or RealClock()
        # With leader election, every write is gated on this replica's lease (see
        # write_fence); the elector's own Lease calls are not.
        self.elector = (
            LeaderElector(api, _leader_config(settings)) if settings.leader.enabled else None
        )
        # The task's own kinds: their watch events that echo an apply of ours bring no news.
        self.own_writes = OwnWrites({"KusciaTask", *CHILD_KINDS, "PodGroup"})
        self.kube = Kube(
            api,
            write_guard=self.elector.check_write if self.elector else None,
            own_writes=self.own_writes,
        )
        self.caches = Caches(api, namespace=settings.namespace, clock=self.clock)
        self.events = EventRecorder(
            self.kube,
            self.clock,
            component="kuscia-reconciler",
            field_manager=settings.field_manager,
        )
        from reconciler.task_reconciler import TaskReconciler

        self.tasks = TaskReconciler(
            self.kube, self.caches, self.events, settings, self.clock, own_writes=self.own_writes
        )
        self.app_images = AppImageReconciler(
            self.kube,
            self.caches,
            self.events,
            self.clock,
            settings.field_manager,
            verify_keys=settings.image_verify_keys,
        )
        may_write = self.elector.may_write if self.elector else lambda: True
        retry = settings.leader.retry_period
        self.task_loop = ReconcileLoop(
            "kusciatask",
            "KusciaTask",
            self._reconcile_task,
            workers=settings.workers,
            clock=self.clock,
            may_write=may_write,
            lease_retry=retry,
        )
        # AppImages are few and their reconcile only writes a status: one worker, as
        # controller-runtime gives a controller by default.
        self.app_image_loop = ReconcileLoop(
            "appimage",
            "AppImage",
            self._reconcile_app_image,
            workers=1,
            clock=self.clock,
            may_write=may_write,
            lease_retry=retry,
        )
        self.loops = (self.task_loop, self.app_image_loop)
        self.servers = Servers(
            settings.server.metrics_address,
            settings.server.health_address,
            Probes(healthy=self._healthy, ready=self._ready),
        )
        self.leading = anyio.Event()
        self._stopping = False
        self._wire()

    # --- wiring ------------------------------------------------------------------

    def _wire(self) -> None:
        caches, tasks = self.caches, self.task_loop
        own = self.own_writes
        caches.tasks.add_event_handler(
            SkipEchoes(tasks.handler(lambda t: [object_key(t)]), own, skip_unchanged=False)
        )

        def tasks_of_app_image(image: dict[str, Any]) -> list[str]:
            waiting = caches.tasks.store.by_index(BY_APP_IMAGE, image["metadata"]["name"])
            return [object_key(t) for t in waiting if _waiting(t)]

        caches.app_images.add_event_handler(
            self.app_image_loop.handler(lambda i: [i["metadata"]["name"]])
        )
        caches.app_images.add_event_handler(tasks.handler(tasks_of_app_image))
        caches.namespaces.add_event_handler(tasks.handler(self._tasks_of_domain))

        for informer in caches.children.values():
            informer.add_event_handler(self._child_handler())

    def _child_handler(self) -> SkipEchoes:
        """A child's event brings its task back, unless it is the echo of our own apply
        or a relist of a version already seen (a relist of the tasks brings each back)."""
        return SkipEchoes(
            self.task_loop.handler(self._task_of_child), self.own_writes, skip_unchanged=True
        )

    def _task_of_child(self, child: dict[str, Any]) -> list[str]:
        return [
            object_key(t)
            for uid in child_task_uid(child)
            for t in self.caches.tasks.store.by_index(BY_UID, uid)
        ]

    def _tasks_of_domain(self, namespace_or_domain: dict[str, Any]) -> list[str]:
        """The waiting tasks naming a namespace (or the Domain of that name) as a party."""
        name = namespace_or_domain["metadata"]["name"]
        waiting = self.caches.tasks.store.by_index(BY_DOMAIN, name)
        return [object_key(t) for t in waiting if _waiting(t)]

    async def _reconcile_task(self, key: str) -> float | None:
        return (await self.tasks.reconcile(key)).requeue_after

    async def _reconcile_app_image(self, name: str) -> float | None:
        await self.app_images.reconcile(name)
        return None

    async def _watch_domains_if_served(self) -> None:
        """Kuscia's Domain CRD, where installed, designates domains too (reconciler.domains);
        asked once at start, retried until the API server answers."""
        delay = 0.5
        while True:
            try:
                found = await self.kube.request("GET", DOMAINS_DISCOVERY)
                break
            except ApiError as error:
                if error.not_found:
                    return
                problem = str(error)
            except TRANSIENT as error:
                problem = str(error) or repr(error)
            log.warning("cannot ask whether Domains are served; will retry", error=problem)
            await anyio.sleep(delay)
            delay = min(delay * 2, 5.0)
        if any(r.get("name") == DOMAINS.plural for r in found.get("resources") or []):
            self.caches.watch_domains().add_event_handler(
                self.task_loop.handler(self._tasks_of_domain)
            )
            log.info("Kuscia's Domain CRD is served: Domains designate domains too")

    # --- probes ------------------------------------------------------------------

    def _healthy(self) -> tuple[bool, str]:
        if not self.caches.healthy():
            broken = [i.name for i in self.caches.all if not i.healthy]
            return False, f"informers cannot list/watch: {', '.join(map(str, broken))}"
        running = sum(loop.running for loop in self.loops)
        wanted = sum(loop.workers for loop in self.loops)
        if self.leading.is_set() and running < wanted and not self._stopping:
            return False, f"{running} of {wanted} workers running"
        if self.elector is not None and not self.elector.healthy():
            return False, "leader lease expired without renewal"
        return True, ""

    def _ready(self) -> tuple[bool, str]:
        if not self.caches.has_synced():
            return False, "caches not synced"
        return True, ""

    # --- running -----------------------------------------------------------------

    async def _gangs_if_served(self) -> None:
        """Kubernetes' Workload API (PodGroups, gang scheduling) is served only where the
        GenericWorkload feature is on, and usable only where this controller may list
        PodGroups; both are looked for once, at start. Discovery (open to every client)
        comes first, so a cluster without the API sees no refused request."""
        if "PodGroup" in self.caches.children:
            return
        group_version = POD_GROUP.api_version
        try:
            served = await self.kube.request("GET", f"/apis/{group_version}")
        except ApiError as error:
            if error.not_found:
                log.info("no gang scheduling: the API server serves no " + group_version)
                return
            raise
        if not any(r.get("name") == POD_GROUP.plural for r in served.get("resources") or []):
            log.info("no gang scheduling: the API server serves no PodGroups")
            return
        try:
            await self.kube.request("GET", POD_GROUP.path(), query=[("limit", "1")])
        except ApiError as error:
            if error.status == 403:
                log.warning("no gang scheduling: PodGroups are served but not granted to us")
                return
            raise
        log.info("gang scheduling: each local party's pods are one PodGroup")
        informer = self.caches.watch_pod_groups()
        informer.add_event_handler(self._child_handler())
        self.tasks.gangs = True

    async def run(self, *, handle_signals: bool = False) -> None:
        """Runs until cancelled, SIGTERM/SIGINT (when `handle_signals`), or lost leadership."""
        await self._gangs_if_served()
        async with anyio.create_task_group() as group:
            group.start_soon(self.servers.run)
            await self._watch_domains_if_served()
            with _full_collections_deferred():
                for informer in self.caches.all:
                    group.start_soon(informer.run)
                for loop in self.loops:
                    group.start_soon(loop.queue.run)
                if handle_signals:
                    group.start_soon(self._stop_on_signals, group.cancel_scope)
                for informer in self.caches.all:
                    await informer.wait_for_sync()
                log.info("caches synced", tasks=len(self.caches.tasks.store.list_keys()))
            if self.elector is not None:
                await self.elector.run(self._lead)
                if not self._stopping:
                    raise LeadershipLost("leadership lost")
            else:
                await self._lead()
            group.cancel_scope.cancel()

    async def _lead(self) -> None:
        log.info("leading; starting workers", workers=self.settings.workers)
        self.leading.set()
        metrics.LEADER.labels(self.settings.leader.lease_name).set(1)
        try:
            async with anyio.create_task_group() as workers:
                for loop in self.loops:
                    for _ in range(loop.workers):
                        workers.start_soon(loop.work)
        finally:
            metrics.LEADER.labels(self.settings.leader.lease_name).set(0)

    async def _stop_on_signals(self, scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.info("stopping: draining in-flight work", signal=signal.Signals(signum).name)
                await self.stop()
                scope.cancel()
                return

    async def stop(self) -> None:
        """Lets in-flight reconciles finish (bounded), then stops the workers."""
        self._stopping = True
        with anyio.move_on_after(20):
            async with anyio.create_task_group() as draining:
                for loop in self.loops:
                    draining.start_soon(loop.queue.shut_down_with_drain)
        for loop in self.loops:
            loop.queue.shut_down()


def _leader_config(settings: Settings) -> LeaderElectionConfig:
    leader = settings.leader
    identity = leader.identity or f"{socket.gethostname()}_{os.getpid()}_{time.time_ns()}"
    return LeaderElectionConfig(
        lease_name=leader.lease_name,
        namespace=leader.namespace,
        identity=identity,
        lease_duration=leader.lease_duration,
        renew_deadline=leader.renew_deadline,
        retry_period=leader.retry_period,
    )


@contextlib.contextmanager
def _full_collections_deferred() -> Iterator[None]:
    """No full collection while the caches fill, then everything cached is frozen.

    Each full collection walks every object tracked so far, and while the first lists
    grow the heap one runs at every quarter of growth: several walks of 130,000 objects
    and their dicts at 10,000 tasks. What the initial sync cached lives as long as the
    process, so once synced one full collection runs and what is left is moved out of
    the collector's sight (gc.freeze)."""
    gc.set_threshold(GC_THRESHOLD[0], GC_THRESHOLD[1], DEFERRED_FULL_COLLECTIONS)
    try:
        yield
        gc.collect()  # once, so no garbage of the start is frozen with the cache
        gc.freeze()
        _return_free_memory()
    finally:
        gc.set_threshold(*GC_THRESHOLD)


def _return_free_memory() -> None:
    """Hands the C allocator's free pages back to the system: the list pages decoded
    while the caches filled were freed, but glibc keeps their memory mapped (and counted
    in RSS) until asked. Elsewhere than glibc there is nothing to ask."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError):
        return
    trim(0)
