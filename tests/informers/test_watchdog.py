"""The inactivity watchdog cancels a request only after `timeout` seconds without progress."""

from __future__ import annotations

import asyncio

import anyio

from informers.clock import FakeClock
from informers.watchdog import InactivityTimeoutError, InactivityWatchdog


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_request_silent_for_the_timeout_is_cancelled_and_reported() -> None:
    clock = FakeClock()
    watchdog = InactivityWatchdog(clock, 5.0)
    received: list[int] = []
    outcome: list[BaseException] = []

    async def stream() -> None:
        try:
            with watchdog.guard("WATCH /things"):
                for n in range(3):  # three chunks, 4 s apart: never 5 s of silence
                    await clock.sleep(4.0)
                    watchdog.touch()
                    received.append(n)
                await anyio.sleep_forever()  # then the connection goes silent
        except InactivityTimeoutError as err:
            outcome.append(err)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watchdog.run)
        tasks.start_soon(stream)
        for _ in range(17):  # up to t = 16 s: not yet
            await settle()
            assert not outcome
            clock.step(1.0)
        await settle()
        assert received == [0, 1, 2]
        assert str(outcome[0]) == "WATCH /things: nothing received for 5s"  # at t = 17 s
        assert watchdog.fired == 1
        tasks.cancel_scope.cancel()


async def test_an_idle_watchdog_with_no_request_never_fires() -> None:
    clock = FakeClock()
    watchdog = InactivityWatchdog(clock, 1.0)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watchdog.run)
        await settle()
        clock.step(100.0)
        await settle()
        with watchdog.guard("quick"):
            await settle()
        assert watchdog.fired == 0
        tasks.cancel_scope.cancel()
