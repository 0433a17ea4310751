"""The running controller: informers feed one workqueue, workers reconcile
tasks and AppImages from it, only while this process leads; every loop lives
in one anyio task group, so shutdown and failure travel the same way."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
import anyio
import structlog
from kubernetes_asyncio.client import ApiClient

from informers.clock import Clock, RealClock
from informers.workqueue import RateLimitingQueue
from reconciler import metrics, phase
from reconciler.appimage_reconciler import AppImageReconciler
from reconciler.caches import BY_APP_IMAGE, BY_DOMAIN, BY_UID, Caches, child_task_uid
from reconciler.events import EventRecorder
from reconciler.kube import DOMAIN, POD_GROUP, ApiError, Kube
from reconciler.leaderelection import LeaderElectionConfig, LeaderElector
from reconciler.server import Probes, Servers
from reconciler.settings import Settings
from reconciler.write_fence import HEADERS_TO_BODY, WriteFenced

log = structlog.get_logger(__name__)

TASK, APP_IMAGE = "KusciaTask", "AppImage"
Item = tuple[str, str]  # (kind, key)


class LeadershipLost(Exception):
    """Raised so the process exits and a fresh one campaigns again."""


class LeaseNotHeld(Exception):
    """A write refused because this replica's lease is not fresh: a successor may lead."""


_TRANSIENT = (ApiError, aiohttp.ClientError, OSError, TimeoutError, WriteFenced)
"""Failures of talking to the API server, not of the controller."""


class _Enqueue:
    """An informer event handler that maps every event to queue items."""

    def __init__(
        self, queue: RateLimitingQueue[Item], items: Callable[[dict[str, Any]], Iterable[Item]]
    ):
        self.queue = queue
        self.items = items

    def on_add(self, obj: dict[str, Any], is_initial_list: bool) -> None:
        for item in self.items(obj):
            self.queue.add(item)

    def on_update(self, old: dict[str, Any], new: dict[str, Any], is_resync: bool) -> None:
        for item in self.items(new):
            self.queue.add(item)

    def on_delete(self, obj: dict[str, Any]) -> None:
        for item in self.items(obj):
            self.queue.add(item)


def _waiting(task: dict[str, Any]) -> bool:
    """A task that has not made its objects yet, so a new AppImage or namespace may unblock it."""
    status = task.get("status") or {}
    return status.get("phase") not in phase.FINISHED and not phase.resources_created(status)


def _key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else str(meta["name"])


class Controller:
    def __init__(self, api: ApiClient, settings: Settings, *, clock: Clock | None = None) -> None:
        self.api = api
        self.settings = settings
        self.clock = clock or RealClock()
        self.kube = Kube(api)
        self.caches = Caches(api, namespace=settings.namespace, clock=self.clock)
        self.queue: RateLimitingQueue[Item] = RateLimitingQueue("kusciatask", clock=self.clock)
        self.events = EventRecorder(
            self.kube,
            self.clock,
            component="kuscia-reconciler",
            field_manager=settings.field_manager,
        )
        from reconciler.task_reconciler import TaskReconciler

        self.tasks = TaskReconciler(self.kube, self.caches, self.events, settings, self.clock)
        self.app_images = AppImageReconciler(
            self.kube,
            self.caches,
            self.events,
            self.clock,
            settings.field_manager,
            verify_keys=settings.image_verify_keys,
        )
        self.servers = Servers(
            settings.server.metrics_address,
            settings.server.health_address,
            Probes(healthy=self._healthy, ready=self._ready),
        )
        self.leading = anyio.Event()
        self._workers_running = 0
        self._stopping = False
        self._wire()

    # --- wiring ------------------------------------------------------------------

    def _wire(self) -> None:
        caches, queue = self.caches, self.queue
        caches.tasks.add_event_handler(_Enqueue(queue, lambda t: [(TASK, _key(t))]))

        def tasks_of_app_image(image: dict[str, Any]) -> list[Item]:
            name = image["metadata"]["name"]
            waiting = caches.tasks.store.by_index(BY_APP_IMAGE, name)
            return [(APP_IMAGE, name)] + [(TASK, _key(t)) for t in waiting if _waiting(t)]

        caches.app_images.add_event_handler(_Enqueue(queue, tasks_of_app_image))

        caches.namespaces.add_event_handler(_Enqueue(queue, self._tasks_of_domain))

        for informer in caches.children.values():
            informer.add_event_handler(_Enqueue(queue, self._task_of_child))

    def _task_of_child(self, child: dict[str, Any]) -> list[Item]:
        return [
            (TASK, _key(t))
            for uid in child_task_uid(child)
            for t in self.caches.tasks.store.by_index(BY_UID, uid)
        ]

    # --- probes ------------------------------------------------------------------

    def _healthy(self) -> tuple[bool, str]:
        if not self.caches.healthy():
            broken = [i.name for i in self.caches.all if not i.healthy]
            return False, f"informers cannot list/watch: {', '.join(map(str, broken))}"
        if (
            self.leading.is_set()
            and self._workers_running < self.settings.workers
            and (not self._stopping)
        ):
            return False, f"{self._workers_running} of {self.settings.workers} workers running"
        elector = getattr(self, "elector", None)
        if elector is not None and not elector.healthy():
            return False, "leader lease expired without renewal"
        return True, ""

    def _ready(self) -> tuple[bool, str]:
        if not self.caches.has_synced():
            return False, "caches not synced"
        return True, ""

    # --- running -----------------------------------------------------------------

    async def _watch_domains_if_installed(self) -> None:
        """Kuscia's Domain CRD may or may not be installed; it is looked for once, at start."""
        if self.caches.domains is not None:
            return
        try:
            await self.kube.request("GET", DOMAIN.path(), query=[("limit", "1")])
        except ApiError as error:
            if error.not_found:
                log.info("no Domain CRD: party roles come from namespace labels only")
                return
            raise
        informer = self.caches.watch_domains()
        informer.add_event_handler(_Enqueue(self.queue, self._tasks_of_domain))

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
        informer.add_event_handler(_Enqueue(self.queue, self._task_of_child))
        self.tasks.gangs = True

    def _tasks_of_domain(self, domain: dict[str, Any]) -> list[Item]:
        waiting = self.caches.tasks.store.by_index(BY_DOMAIN, domain["metadata"]["name"])
        return [(TASK, _key(t)) for t in waiting if _waiting(t)]

    async def run(self, *, handle_signals: bool = False) -> None:
        """Runs until cancelled, SIGTERM/SIGINT (when `handle_signals`), or lost leadership."""
        await self._watch_domains_if_installed()
        await self._gangs_if_served()
        async with anyio.create_task_group() as group:
            group.start_soon(self.servers.run)
            for informer in self.caches.all:
                group.start_soon(informer.run)
            group.start_soon(self.queue.run)
            if handle_signals:
                group.start_soon(self._stop_on_signals, group.cancel_scope)
            for informer in self.caches.all:
                await informer.wait_for_sync()
            log.info("caches synced", tasks=len(self.caches.tasks.store.list_keys()))
            if self.settings.leader.enabled:
                self.elector = LeaderElector(self.api, self._leader_config())
                self.kube.write_guard = self._check_lease
                await self.elector.run(self._lead)
                if not self._stopping:
                    raise LeadershipLost("leadership lost")
            else:
                await self._lead()
            group.cancel_scope.cancel()

    def _write_time_left(self) -> float | None:
        """Seconds a write may still take effect; None without leader election."""
        elector = getattr(self, "elector", None)
        if elector is None:
            return None
        left: float = elector.lease_time_left()
        # A successor takes over no sooner than lease_duration after the last renewal, and
        # the server's deadline for a write may trail its check by HEADERS_TO_BODY.
        margin = elector.config.lease_duration - elector.config.renew_deadline
        allowed: float = max(min(left, left + margin - HEADERS_TO_BODY), 0.0)
        return allowed

    def _lease_fresh(self) -> bool:
        return self._write_time_left() != 0.0

    def _check_lease(self) -> float | None:
        """The write check (see write_fence)."""
        left = self._write_time_left()
        if left == 0.0:
            raise LeaseNotHeld("not writing: this replica's lease is not fresh")
        return left

    def _leader_config(self) -> LeaderElectionConfig:
        leader = self.settings.leader
        identity = leader.identity or f"{socket.gethostname()}_{os.getpid()}_{time.time_ns()}"
        return LeaderElectionConfig(
            lease_name=leader.lease_name,
            namespace=leader.namespace,
            identity=identity,
            lease_duration=leader.lease_duration,
            renew_deadline=leader.renew_deadline,
            retry_period=leader.retry_period,
        )

    async def _lead(self) -> None:
        log.info("leading; starting workers", workers=self.settings.workers)
        self.leading.set()
        metrics.LEADER.labels(self.settings.leader.lease_name).set(1)
        try:
            async with anyio.create_task_group() as workers:
                for _ in range(self.settings.workers):
                    workers.start_soon(self._worker)
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
            await self.queue.shut_down_with_drain()
        self.queue.shut_down()

    async def _worker(self) -> None:
        self._workers_running += 1
        try:
            while True:
                item, shutting_down = await self.queue.get()
                if shutting_down or item is None:
                    return
                try:
                    await self._process(item)
                finally:
                    self.queue.done(item)
        finally:
            self._workers_running -= 1

    async def _process(self, item: Item) -> None:
        kind, key = item
        if not self._lease_fresh():
            # Look again once the lease is renewed (or lost, and the workers stop).
            self.queue.add_after(item, self.settings.leader.retry_period)
            return
        controller = kind.lower()
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(kind=kind, key=key):
            try:
                if kind == TASK:
                    result = await self.tasks.reconcile(key)
                    requeue_after = result.requeue_after
                else:
                    await self.app_images.reconcile(key)
                    requeue_after = None
            except LeaseNotHeld:
                self.queue.add_after(item, self.settings.leader.retry_period)
                return
            except Exception as error:  # any failure is retried with backoff, never fatal
                metrics.RECONCILE_ERRORS.labels(controller).inc()
                metrics.RECONCILE_TOTAL.labels(controller, "error").inc()
                if isinstance(error, _TRANSIENT):  # the message says it all; no traceback
                    log.warning("reconcile failed; will retry", error=str(error) or repr(error))
                else:
                    log.warning("reconcile failed; will retry", error=str(error), exc_info=error)
                self.queue.add_rate_limited(item)
                return
            finally:
                metrics.RECONCILE_TIME.labels(controller).observe(time.perf_counter() - started)
        self.queue.forget(item)
        if requeue_after is not None:
            metrics.RECONCILE_TOTAL.labels(controller, "requeue_after").inc()
            self.queue.add_after(item, requeue_after)
        else:
            metrics.RECONCILE_TOTAL.labels(controller, "success").inc()
