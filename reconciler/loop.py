"""One reconciler's loop, controller-runtime's shape: its own workqueue of keys, its own
workers and metrics (labelled with its name). A reconcile that raises is retried with
backoff, one that asks to look again later is requeued then, one that succeeds is
forgotten; a write refused because the lease is not fresh waits for the next renewal."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp
import structlog

from informers.clock import Clock
from informers.workqueue import RateLimitingQueue
from reconciler import metrics
from reconciler.kube import ApiError
from reconciler.leaderelection import LeaseNotHeld
from reconciler.write_fence import WriteFenced

log = structlog.get_logger(__name__)

Reconcile = Callable[[str], Awaitable[float | None]]
"""Reconciles one key; returns seconds after which to look again, or None."""

TRANSIENT = (ApiError, aiohttp.ClientError, OSError, TimeoutError, WriteFenced)
"""Failures of talking to the API server, not of the controller."""


class ReconcileLoop:
    """A named reconciler with its queue; `work()` is one worker, run `workers` of them."""

    def __init__(
        self,
        name: str,
        kind: str,
        reconcile: Reconcile,
        *,
        workers: int,
        clock: Clock,
        may_write: Callable[[], bool],
        lease_retry: float,
    ) -> None:
        self.name = name
        self.kind = kind  # of the objects it reconciles, for the logs
        self.reconcile = reconcile
        self.workers = workers
        self.queue: RateLimitingQueue[str] = RateLimitingQueue(name, clock=clock)
        self.may_write = may_write
        self.lease_retry = lease_retry
        self.running = 0  # workers running now

    def handler(self, keys: Callable[[dict[str, Any]], Iterable[str]]) -> _Enqueue:
        """An informer event handler that queues the keys `keys` maps an event's object to."""
        return _Enqueue(self.queue, keys)

    async def work(self) -> None:
        self.running += 1
        metrics.ACTIVE_WORKERS.labels(self.name).inc()
        try:
            while True:
                key, shutting_down = await self.queue.get()
                if shutting_down or key is None:
                    return
                try:
                    await self._process(key)
                finally:
                    self.queue.done(key)
        finally:
            self.running -= 1
            metrics.ACTIVE_WORKERS.labels(self.name).dec()

    async def _process(self, key: str) -> None:
        if not self.may_write():
            # Look again once the lease is renewed (or lost, and the workers stop).
            self.queue.add_after(key, self.lease_retry)
            return
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(kind=self.kind, key=key):
            try:
                requeue_after = await self.reconcile(key)
            except LeaseNotHeld:
                self.queue.add_after(key, self.lease_retry)
                return
            except Exception as error:  # any failure is retried with backoff, never fatal
                metrics.RECONCILE_ERRORS.labels(self.name).inc()
                metrics.RECONCILE_TOTAL.labels(self.name, "error").inc()
                if isinstance(error, TRANSIENT):  # the message says it all; no traceback
                    log.warning("reconcile failed; will retry", error=str(error) or repr(error))
                else:
                    log.warning("reconcile failed; will retry", error=str(error), exc_info=error)
                self.queue.add_rate_limited(key)
                return
            finally:
                metrics.RECONCILE_TIME.labels(self.name).observe(time.perf_counter() - started)
        self.queue.forget(key)
        if requeue_after is not None:
            metrics.RECONCILE_TOTAL.labels(self.name, "requeue_after").inc()
            self.queue.add_after(key, requeue_after)
        else:
            metrics.RECONCILE_TOTAL.labels(self.name, "success").inc()


class _Enqueue:
    """Maps every informer event to queue keys. Objects from the initial list or a resync
    queue behind fresh events, so a restart over thousands of objects does not delay an
    object created a second ago."""

    def __init__(
        self, queue: RateLimitingQueue[str], keys: Callable[[dict[str, Any]], Iterable[str]]
    ) -> None:
        self.queue = queue
        self.keys = keys

    def on_add(self, obj: dict[str, Any], is_initial_list: bool) -> None:
        for key in self.keys(obj):
            self.queue.add(key, low_priority=is_initial_list)

    def on_update(self, old: dict[str, Any], new: dict[str, Any], is_resync: bool) -> None:
        for key in self.keys(new):
            self.queue.add(key, low_priority=is_resync)

    def on_delete(self, obj: dict[str, Any]) -> None:
        for key in self.keys(obj):
            self.queue.add(key)
