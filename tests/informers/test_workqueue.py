"""The workqueue's client-go semantics (WQ-*, DQ-*, RL-1, RL-7) and metrics (M-*),
driven by a FakeClock so every delay is exact and nothing sleeps."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import anyio
import pytest
from prometheus_client import REGISTRY

from informers.clock import FakeClock
from informers.ratelimit import ItemExponentialFailureRateLimiter
from informers.workqueue import RateLimitingQueue


async def settle() -> None:
    """Lets every ready task run until it blocks again."""
    for _ in range(10):
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def queue(clock: FakeClock) -> AsyncIterator[RateLimitingQueue[str]]:
    """A queue whose timers run, shut down at the end of the test."""
    q: RateLimitingQueue[str] = RateLimitingQueue(f"test-{uuid.uuid4().hex[:8]}", clock=clock)
    # A plain task, not a task group: pytest-asyncio may tear down in another task.
    timers = asyncio.create_task(q.run(), name=f"{q.name} run")
    await settle()
    yield q
    q.shut_down()
    await asyncio.wait_for(timers, 5)


def metric(name: str, queue: RateLimitingQueue[str]) -> float:
    value = REGISTRY.get_sample_value(name, {"name": queue.name})
    return 0.0 if value is None else value


async def test_wq2_adds_of_a_waiting_item_are_deduplicated(queue: RateLimitingQueue[str]) -> None:
    for item in ("a", "b", "a", "a"):
        queue.add(item)
    assert len(queue) == 2
    assert await queue.get() == ("a", False)
    assert await queue.get() == ("b", False)
    assert len(queue) == 0


async def test_wq4_readd_while_processing_runs_once_more_after_done(
    queue: RateLimitingQueue[str],
) -> None:
    queue.add("a")
    await queue.get()
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0  # WQ-5: dirty while processing is not queued
    queue.done("a")
    assert len(queue) == 1
    assert await queue.get() == ("a", False)
    queue.done("a")
    assert len(queue) == 0


async def test_wq4_an_item_is_never_processed_by_two_workers_at_once(
    queue: RateLimitingQueue[str],
) -> None:
    active: set[str] = set()
    overlaps: list[str] = []
    processed: list[str] = []

    async def worker() -> None:
        while True:
            item, quit_ = await queue.get()
            if quit_:
                return
            assert item is not None
            if item in active:
                overlaps.append(item)
            active.add(item)
            await settle()
            if len(processed) < 20:
                queue.add(item)  # re-added while processing
            processed.append(item)
            active.discard(item)
            queue.done(item)

    async with anyio.create_task_group() as workers:
        for _ in range(4):
            workers.start_soon(worker)
        for item in ("x", "y", "x", "y"):
            queue.add(item)
        while len(processed) < 20:
            await settle()
        await queue.shut_down_with_drain()
    assert overlaps == []
    assert set(processed) == {"x", "y"}


async def test_wq3_get_waits_for_an_item(queue: RateLimitingQueue[str]) -> None:
    got: list[tuple[str | None, bool]] = []

    async def getter() -> None:
        got.append(await queue.get())

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(getter)
        await settle()
        assert got == []
        queue.add("a")
    assert got == [("a", False)]


async def test_wq3_queued_items_are_still_handed_out_after_shutdown(
    queue: RateLimitingQueue[str],
) -> None:
    queue.add("a")
    queue.add("b")
    queue.shut_down()
    queue.add("c")  # WQ-2: ignored while shutting down
    assert await queue.get() == ("a", False)
    assert await queue.get() == ("b", False)
    assert await queue.get() == (None, True)


async def test_wq6_shutdown_wakes_every_waiting_getter(queue: RateLimitingQueue[str]) -> None:
    got: list[tuple[str | None, bool]] = []

    async def getter() -> None:
        got.append(await queue.get())

    async with anyio.create_task_group() as tasks:
        for _ in range(3):
            tasks.start_soon(getter)
        await settle()
        queue.shut_down()
        queue.shut_down()  # twice is safe
    assert got == [(None, True)] * 3


async def test_wq3_a_cancelled_getter_passes_its_wakeup_on(queue: RateLimitingQueue[str]) -> None:
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await settle()
    queue.add("a")  # wakes the first getter ...
    first.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 5) == ("a", False)


async def test_wq7_shutdown_with_drain_waits_for_processing_items_and_their_readds(
    queue: RateLimitingQueue[str],
) -> None:
    queue.add("a")
    queue.add("b")
    item, _ = await queue.get()
    assert item == "a"
    queue.add("a")  # dirty while processing
    drained = anyio.Event()

    async def drain() -> None:
        await queue.shut_down_with_drain()
        drained.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(drain)
        await settle()
        assert not drained.is_set()
        queue.done("a")  # the re-added "a" is queued again and still handed out
        await settle()
        assert not drained.is_set()  # WQ-7 waits for processing, not for an empty queue
        assert await queue.get() == ("b", False)
        assert await queue.get() == ("a", False)
        queue.done("b")
        await settle()
        assert not drained.is_set()
        queue.done("a")
    assert drained.is_set()
    assert await queue.get() == (None, True)


async def test_wq7_a_later_shutdown_releases_the_drain_wait(
    queue: RateLimitingQueue[str],
) -> None:
    queue.add("stuck")
    await queue.get()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(queue.shut_down_with_drain)
        await settle()
        queue.shut_down()


async def test_dq1_add_after_parks_the_item_until_its_time(
    queue: RateLimitingQueue[str], clock: FakeClock
) -> None:
    queue.add_after("a", 5.0)
    queue.add_after("b", 0)  # DQ-1: no delay means add now
    assert len(queue) == 1
    await settle()
    clock.step(4.999)
    await settle()
    assert len(queue) == 1
    clock.step(0.001)
    await settle()
    assert len(queue) == 2
    assert metric("workqueue_retries_total", queue) == 2  # M-5: once per add_after


async def test_dq1_a_second_add_after_only_moves_the_time_earlier(
    queue: RateLimitingQueue[str], clock: FakeClock
) -> None:
    queue.add_after("a", 10.0)
    await settle()
    queue.add_after("a", 20.0)  # later: ignored
    queue.add_after("a", 3.0)  # earlier: wins, and wakes the waiting loop
    assert queue.waiting == 1
    await settle()
    clock.step(3.0)
    await settle()
    assert len(queue) == 1
    assert queue.waiting == 0
    await queue.get()
    queue.done("a")
    clock.step(20.0)
    await settle()
    assert len(queue) == 0  # the superseded times do not add it again


async def test_dq1_a_ready_item_goes_through_add_dedup(
    queue: RateLimitingQueue[str], clock: FakeClock
) -> None:
    queue.add("a")
    queue.add_after("a", 1.0)
    await settle()
    clock.step(1.0)
    await settle()
    assert len(queue) == 1


async def test_dq1_the_waiting_loop_looks_again_at_least_every_10s(
    queue: RateLimitingQueue[str], clock: FakeClock
) -> None:
    queue.add_after("a", 25.0)
    await settle()
    for _ in range(2):
        clock.step(10.0)
        await settle()
        assert len(queue) == 0
    clock.step(5.0)
    await settle()
    assert len(queue) == 1


async def test_dq2_shutdown_drops_parked_items_and_ends_run(clock: FakeClock) -> None:
    queue: RateLimitingQueue[str] = RateLimitingQueue("test-dq2", clock=clock)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(queue.run)
        queue.add_after("a", 1.0)
        await settle()
        queue.shut_down()
        clock.step(2.0)
    assert len(queue) == 0
    assert await queue.get() == (None, True)


async def test_rl1_add_rate_limited_uses_the_limiter_and_forget_resets_it(
    clock: FakeClock,
) -> None:
    limiter = ItemExponentialFailureRateLimiter[str](1.0, 60.0)
    queue = RateLimitingQueue("test-rl1", rate_limiter=limiter, clock=clock)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(queue.run)
        queue.add_rate_limited("a")
        queue.add_rate_limited("a")  # 2 s: later than the parked 1 s, ignored
        assert queue.num_requeues("a") == 2
        await settle()
        clock.step(1.0)
        await settle()
        assert len(queue) == 1
        queue.forget("a")
        assert queue.num_requeues("a") == 0
        assert len(queue) == 1  # forget does not touch the queue
        queue.shut_down()


async def test_rl7_canonical_worker_retries_failures_with_backoff_then_forgets(
    queue: RateLimitingQueue[str], clock: FakeClock
) -> None:
    attempts: list[float] = []

    def sync(key: str) -> bool:
        attempts.append(clock.now())
        return len(attempts) >= 3  # fails twice

    async def worker() -> None:
        while True:
            key, quit_ = await queue.get()
            if quit_ or key is None:
                return
            try:
                if sync(key):
                    queue.forget(key)
                elif queue.num_requeues(key) < 5:
                    queue.add_rate_limited(key)
                else:
                    queue.forget(key)
            finally:
                queue.done(key)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(worker)
        queue.add("key")
        await settle()
        for _ in range(10):
            clock.step(0.005)
            await settle()
        queue.shut_down()
    assert attempts == pytest.approx([0.0, 0.005, 0.015])  # 5 ms, then 10 ms later
    assert queue.num_requeues("key") == 0


async def test_low_priority_items_wait_behind_normal_ones_and_can_be_promoted(
    queue: RateLimitingQueue[str],
) -> None:
    for name in ("old-1", "old-2", "old-3"):
        queue.add(name, low_priority=True)
    queue.add("new")
    queue.add("old-3")  # a normal add promotes a waiting low-priority item
    order = [(await queue.get())[0] for _ in range(4)]
    assert order == ["new", "old-3", "old-1", "old-2"]


async def test_low_priority_readd_while_processing_stays_low(
    queue: RateLimitingQueue[str],
) -> None:
    queue.add("a", low_priority=True)
    await queue.get()
    queue.add("a", low_priority=True)
    queue.add("b")
    queue.done("a")
    assert [(await queue.get())[0] for _ in range(2)] == ["b", "a"]


async def test_m1_m2_m3_depth_adds_and_durations(
    queue: RateLimitingQueue[str], clock: FakeClock
) -> None:
    queue.add("a")
    queue.add("a")  # duplicate: not counted
    queue.add("b")
    assert metric("workqueue_adds_total", queue) == 2
    assert metric("workqueue_depth", queue) == 2
    clock.step(2.0)
    await queue.get()
    assert metric("workqueue_depth", queue) == 1
    queue.add("a")  # re-add while processing counts (M-1) and is in depth (M-2)
    assert metric("workqueue_adds_total", queue) == 3
    assert metric("workqueue_depth", queue) == 2
    assert len(queue) == 1
    assert metric("workqueue_queue_duration_seconds_sum", queue) == pytest.approx(2.0)
    clock.step(3.0)
    queue.done("a")
    assert metric("workqueue_work_duration_seconds_sum", queue) == pytest.approx(3.0)
    assert metric("workqueue_work_duration_seconds_count", queue) == 1
    queue.shut_down()
    queue.add("c")
    assert metric("workqueue_adds_total", queue) == 3


async def test_m4_unfinished_work_is_updated_every_half_second(
    queue: RateLimitingQueue[str], clock: FakeClock
) -> None:
    queue.add("a")
    queue.add("b")
    await queue.get()
    clock.step(1.0)
    await settle()
    await queue.get()
    clock.step(0.5)
    await settle()
    assert metric("workqueue_unfinished_work_seconds", queue) == pytest.approx(1.5 + 0.5)
    assert metric("workqueue_longest_running_processor_seconds", queue) == pytest.approx(1.5)


def test_a_queue_needs_a_name() -> None:
    with pytest.raises(ValueError, match="name"):
        RateLimitingQueue[str]("")
