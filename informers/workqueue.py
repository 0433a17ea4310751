"""client-go's workqueue for asyncio: dedup, one worker per item, delays and rate limits.

Three layers as in client-go: `WorkQueue` (dirty/processing sets, WQ-*), `DelayingQueue`
(add_after, DQ-*) and `RateLimitingQueue` (add_rate_limited/forget, RL-1). An addition
of our own: `add(item, low_priority=True)` queues behind every normal item, so a restart
that re-adds thousands of listed objects does not delay an object created a second ago.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections import OrderedDict, deque
from collections.abc import Hashable
from typing import Generic, TypeVar

import anyio
from anyio.abc import TaskGroup

from informers.clock import Clock, RealClock
from informers.metrics import QueueMetrics
from informers.ratelimit import RateLimiter, default_controller_rate_limiter

T = TypeVar("T", bound=Hashable)

UNFINISHED_WORK_UPDATE_PERIOD = 0.5  # M-4
MAX_WAIT = 10.0  # DQ-1: the waiting loop looks again at least this often


class WorkQueue(Generic[T]):
    """Items are deduplicated while waiting, and one item is never processed twice at once."""

    def __init__(self, name: str, *, clock: Clock | None = None) -> None:
        if not name:
            raise ValueError("a workqueue needs a name (it labels the metrics)")
        self.name = name
        self._clock: Clock = clock or RealClock()
        self._queue: OrderedDict[T, None] = OrderedDict()
        self._low: OrderedDict[T, None] = OrderedDict()
        self._dirty: set[T] = set()
        self._dirty_low: set[T] = set()  # dirty, and only low-priority adds asked for it
        self._processing: set[T] = set()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._shutting_down = False
        self._drain = False
        self._stopped = asyncio.Event()
        self._metrics: QueueMetrics[T] = QueueMetrics(name, self._clock)

    def __len__(self) -> int:
        """Items waiting to be handed out; not those processing (WQ-5)."""
        return len(self._queue) + len(self._low)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, item: T, *, low_priority: bool = False) -> None:
        """Marks the item for processing, once however often it is added (WQ-2, M-1)."""
        if self._shutting_down:
            return
        if item in self._dirty:
            if not low_priority and item in self._dirty_low:
                self._dirty_low.discard(item)
                if item in self._low:  # promote it to the normal queue
                    del self._low[item]
                    self._queue[item] = None
            return
        self._metrics.add(item)
        self._dirty.add(item)
        if low_priority:
            self._dirty_low.add(item)
        if item in self._processing:
            return  # WQ-4: pushed again by done()
        self._push(item)

    async def get(self) -> tuple[T | None, bool]:
        """The next item, or (None, True) once shut down and empty (WQ-3)."""
        while not (self._queue or self._low) and not self._shutting_down:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # this wake-up was ours; hand it on
                raise
            finally:
                if not waiter.done():
                    waiter.cancel()
        if not (self._queue or self._low):
            return None, True
        source = self._queue if self._queue else self._low
        item, _ = source.popitem(last=False)
        self._dirty.discard(item)
        self._dirty_low.discard(item)
        self._processing.add(item)
        self._metrics.get(item)
        return item, False

    def done(self, item: T) -> None:
        """Ends processing; an item re-added meanwhile is queued again now (WQ-4, M-3)."""
        self._metrics.done(item)
        self._processing.discard(item)
        if item in self._dirty:
            self._push(item)
        elif not self._processing:
            self._release_drain_waiters()

    def shut_down(self) -> None:
        """Stops accepting items and wakes every getter; does not wait for workers (WQ-6)."""
        self._drain = False
        self._shut_down()

    async def shut_down_with_drain(self) -> None:
        """Shuts down, then waits until no item is processing (WQ-7)."""
        self._drain = True
        self._shut_down()
        while self._processing and self._drain:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(waiter)
            try:
                await waiter
            finally:
                if not waiter.done():
                    waiter.cancel()

    async def run(self) -> None:
        """The queue's timers, until shut_down; the owner runs it in its task group."""
        async with anyio.create_task_group() as tasks:
            self._start_timers(tasks)
            await self._stopped.wait()
            tasks.cancel_scope.cancel()

    def _start_timers(self, tasks: TaskGroup) -> None:
        tasks.start_soon(self._unfinished_work_loop, name=f"workqueue {self.name} metrics")

    async def _unfinished_work_loop(self) -> None:
        while not self._shutting_down:
            await self._clock.sleep(UNFINISHED_WORK_UPDATE_PERIOD)
            self._metrics.update_unfinished_work()

    def _shut_down(self) -> None:
        self._shutting_down = True
        self._stopped.set()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        if not self._drain:
            self._release_drain_waiters()

    def _push(self, item: T) -> None:
        (self._low if item in self._dirty_low else self._queue)[item] = None
        self._wake_one()

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _release_drain_waiters(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class DelayingQueue(WorkQueue[T]):
    """Adds `add_after`: an item parked until its time, once per item, earliest time wins."""

    def __init__(self, name: str, *, clock: Clock | None = None) -> None:
        super().__init__(name, clock=clock)
        self._ready_at: dict[T, float] = {}
        self._heap: list[tuple[float, int, T]] = []
        self._order = itertools.count()
        self._sleep: anyio.CancelScope | None = None
        self._wake_at = math.inf

    @property
    def waiting(self) -> int:
        """Items parked by add_after and not yet added."""
        return len(self._ready_at)

    def add_after(self, item: T, delay: float) -> None:
        """DQ-1, M-5."""
        if self._shutting_down:
            return
        self._metrics.retry()
        if delay <= 0:
            self.add(item)
            return
        ready_at = self._clock.now() + delay
        current = self._ready_at.get(item)
        if current is not None and current <= ready_at:
            return
        self._ready_at[item] = ready_at
        heapq.heappush(self._heap, (ready_at, next(self._order), item))
        if ready_at < self._wake_at and self._sleep is not None:
            self._sleep.cancel()

    def _start_timers(self, tasks: TaskGroup) -> None:
        super()._start_timers(tasks)
        tasks.start_soon(self._waiting_loop, name=f"workqueue {self.name} delays")

    async def _waiting_loop(self) -> None:
        while not self._shutting_down:
            now = self._clock.now()
            while self._heap and self._heap[0][0] <= now:
                ready_at, _, item = heapq.heappop(self._heap)
                if self._ready_at.get(item) != ready_at:
                    continue  # superseded by an earlier add_after
                del self._ready_at[item]
                self.add(item)
            wake_at = now + MAX_WAIT
            if self._heap:
                wake_at = min(wake_at, self._heap[0][0])
            self._wake_at = wake_at
            with anyio.CancelScope() as sleep:
                self._sleep = sleep
                await self._clock.sleep(wake_at - now)
            self._sleep = None
            self._wake_at = math.inf


class RateLimitingQueue(DelayingQueue[T]):
    """Adds retries with per-item backoff and an overall rate (RL-1)."""

    def __init__(
        self,
        name: str,
        *,
        rate_limiter: RateLimiter[T] | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(name, clock=clock)
        self._limiter: RateLimiter[T] = rate_limiter or default_controller_rate_limiter(self._clock)

    def add_rate_limited(self, item: T) -> None:
        self.add_after(item, self._limiter.when(item))

    def forget(self, item: T) -> None:
        """Drops the item's failure history; it does not take the item out of the queue."""
        self._limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self._limiter.num_requeues(item)
