"""A reconcile loop on its own queue: fresh events go before the initial list and
resyncs, its workers are counted in controller_runtime_active_workers, and each
outcome (success, requeue, error) is labelled with the loop's name."""

from __future__ import annotations

from typing import Any

import anyio
from prometheus_client import REGISTRY

from informers.clock import RealClock
from reconciler.loop import ReconcileLoop
from tests.reconciler.conftest import wait_for


def _loop(name: str, reconcile: object, workers: int = 1) -> ReconcileLoop:
    return ReconcileLoop(
        name,
        "Thing",
        reconcile,  # type: ignore[arg-type]
        workers=workers,
        clock=RealClock(),
        may_write=lambda: True,
        lease_retry=0.1,
    )


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _thing(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}}


def _queued_by_name(name: str) -> tuple[ReconcileLoop, Any]:
    """A loop no worker runs, and an event handler that queues an object's name."""

    async def never(key: str) -> None:
        raise AssertionError("not run")

    loop = _loop(name, never)
    return loop, loop.handler(lambda obj: [obj["metadata"]["name"]])


async def test_fresh_events_are_handed_out_before_the_initial_list_and_resyncs() -> None:
    loop, handler = _queued_by_name("order")
    handler.on_add(_thing("listed"), True)
    handler.on_update(_thing("resynced"), _thing("resynced"), True)
    handler.on_add(_thing("created"), False)
    handler.on_update(_thing("changed"), _thing("changed"), False)
    handed_out = []
    for _ in range(4):
        key, _ = await loop.queue.get()
        handed_out.append(key)
        loop.queue.done(key)  # type: ignore[arg-type]
    assert handed_out == ["created", "changed", "listed", "resynced"]


async def test_a_fresh_event_promotes_a_listed_object_waiting_in_the_queue() -> None:
    loop, handler = _queued_by_name("promote")
    handler.on_add(_thing("a"), True)
    handler.on_add(_thing("b"), True)
    handler.on_update(_thing("b"), _thing("b"), False)
    assert (await loop.queue.get())[0] == "b"


async def test_workers_are_counted_and_outcomes_labelled_with_the_loop_name() -> None:
    seen: list[str] = []
    release = anyio.Event()

    async def reconcile(key: str) -> float | None:
        seen.append(key)
        await release.wait()
        if key == "bad" and seen.count("bad") == 1:
            raise ValueError("broken")  # once: the retry (after backoff) succeeds
        return 30.0 if key == "later" else None

    def total(result: str) -> float:
        return _sample("controller_runtime_reconcile_total", controller="counted", result=result)

    loop = _loop("counted", reconcile, workers=3)
    async with anyio.create_task_group() as group:
        group.start_soon(loop.queue.run)
        for _ in range(loop.workers):
            group.start_soon(loop.work)
        for key in ("ok", "later", "bad"):
            loop.queue.add(key)
        await wait_for(lambda: len(seen) == 3, within=10)
        assert loop.running == 3
        assert _sample("controller_runtime_active_workers", controller="counted") == 3
        release.set()
        await wait_for(lambda: total("success") == 2, within=10)  # ok, and bad retried
        loop.queue.shut_down()
        group.cancel_scope.cancel()
    assert _sample("controller_runtime_active_workers", controller="counted") == 0
    assert (total("success"), total("requeue_after"), total("error")) == (2, 1, 1)
    assert _sample("controller_runtime_reconcile_errors_total", controller="counted") == 1
    assert seen.count("bad") == 2
