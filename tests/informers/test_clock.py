"""FakeClock wakes sleepers exactly when time reaches their deadline."""

from __future__ import annotations

import asyncio

from informers.clock import FakeClock


async def test_fake_clock_wakes_sleepers_in_deadline_order() -> None:
    clock = FakeClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper("b", 2)), asyncio.create_task(sleeper("a", 1))]
    await asyncio.sleep(0)
    assert clock.sleepers == 2
    clock.step(0.5)
    await asyncio.sleep(0)
    assert woke == []
    clock.step(0.5)
    await asyncio.sleep(0)
    assert woke == ["a"]
    clock.step(1)
    await asyncio.gather(*tasks)
    assert woke == ["a", "b"]
    assert clock.wall().isoformat() == "2026-01-01T00:00:02+00:00"
