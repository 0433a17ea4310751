"""Workqueue metrics under client-go's names and help texts, so existing dashboards work.

The collectors are registered once, at import, on prometheus_client's default registry;
each queue records into its own `name` label through a `QueueMetrics` (M-1 … M-5).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from informers.clock import Clock

T = TypeVar("T", bound=Hashable)

_BUCKETS = tuple(1e-6 * 10**i for i in range(10))  # ExponentialBuckets(1e-6, 10, 10)

DEPTH = Gauge("workqueue_depth", "Current depth of workqueue", ["name"])
ADDS = Counter("workqueue_adds_total", "Total number of adds handled by workqueue", ["name"])
QUEUE_DURATION = Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested.",
    ["name"],
    buckets=_BUCKETS,
)
WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes.",
    ["name"],
    buckets=_BUCKETS,
)
UNFINISHED_WORK = Gauge(
    "workqueue_unfinished_work_seconds",
    "How many seconds of work has done that is in progress and hasn't been observed by "
    "work_duration. Large values indicate stuck threads. One can deduce the number of "
    "stuck threads by observing the rate at which this increases.",
    ["name"],
)
LONGEST_RUNNING = Gauge(
    "workqueue_longest_running_processor_seconds",
    "How many seconds has the longest running processor for workqueue been running.",
    ["name"],
)
RETRIES = Counter(
    "workqueue_retries_total", "Total number of retries handled by workqueue", ["name"]
)


class QueueMetrics(Generic[T]):
    """One queue's view of the collectors, plus the timestamps the durations need."""

    def __init__(self, name: str, clock: Clock) -> None:
        self._clock = clock
        self._depth = DEPTH.labels(name=name)
        self._adds = ADDS.labels(name=name)
        self._queue_duration = QUEUE_DURATION.labels(name=name)
        self._work_duration = WORK_DURATION.labels(name=name)
        self._unfinished = UNFINISHED_WORK.labels(name=name)
        self._longest = LONGEST_RUNNING.labels(name=name)
        self._retries = RETRIES.labels(name=name)
        self._added_at: dict[T, float] = {}
        self._processing_since: dict[T, float] = {}

    def add(self, item: T) -> None:
        self._adds.inc()
        self._depth.inc()
        self._added_at.setdefault(item, self._clock.now())

    def get(self, item: T) -> None:
        now = self._clock.now()
        self._depth.dec()
        self._processing_since[item] = now
        added_at = self._added_at.pop(item, None)
        if added_at is not None:
            self._queue_duration.observe(now - added_at)

    def done(self, item: T) -> None:
        started = self._processing_since.pop(item, None)
        if started is not None:
            self._work_duration.observe(self._clock.now() - started)

    def retry(self) -> None:
        self._retries.inc()

    def update_unfinished_work(self) -> None:
        now = self._clock.now()
        ages = [now - started for started in self._processing_since.values()]
        self._unfinished.set(sum(ages))
        self._longest.set(max(ages, default=0.0))
