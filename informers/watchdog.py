"""Cancels a request that has received nothing for too long, so a silently dead
connection (a frozen proxy, a dropped NAT entry) is replaced instead of waited on forever.

One long-lived task per informer watches whichever request is in flight; the request
marks progress with `touch()`. Timed by the injectable clock, like every other timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

from informers.clock import Clock


class InactivityTimeoutError(TimeoutError):
    """The guarded request received nothing for the watchdog's timeout."""


class InactivityWatchdog:
    def __init__(self, clock: Clock, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError(f"watchdog timeout must be positive, got {timeout}")
        self.timeout = timeout
        self.fired = 0  # how many requests it has cancelled
        self._clock = clock
        self._scope: anyio.CancelScope | None = None
        self._last = 0.0
        self._armed = asyncio.Event()

    def touch(self) -> None:
        self._last = self._clock.now()

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Runs the body under watch; raises InactivityTimeoutError if it went silent."""
        with anyio.CancelScope() as scope:
            self._scope = scope
            self.touch()
            self._armed.set()
            try:
                yield
            finally:
                self._scope = None
                self._armed.clear()
        if scope.cancel_called and scope.cancelled_caught:
            raise InactivityTimeoutError(f"{what}: nothing received for {self.timeout:g}s")

    async def run(self) -> None:
        while True:
            await self._armed.wait()
            scope = self._scope
            if scope is None:
                self._armed.clear()
                continue
            remaining = self._last + self.timeout - self._clock.now()
            if remaining > 0:
                await self._clock.sleep(remaining)
                continue
            if self._scope is scope:
                self.fired += 1
                scope.cancel()
            self._armed.clear()
