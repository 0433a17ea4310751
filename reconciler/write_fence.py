"""The last check before a write leaves the process: a replica that may no longer lead
must not send a write, even one that was already waiting for a connection or for its
turn on the event loop when the replica froze (SIGSTOP, a paused VM, a long GC).

Checking when a request is made is not enough: between that check and the moment its
bytes are handed to the socket it may wait for a pooled connection, and aiohttp writes
the body from a separate task. A frozen leader wakes up with such writes pending and
would send them after a successor took over. So the check runs again in the request's
own write step, with no `await` between it and the socket write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import aiohttp

WriteCheck = Callable[[], None]
"""Raises when the write must not be sent; returns when it may be."""

_CHECK: ContextVar[WriteCheck | None] = ContextVar("write_check", default=None)


class FencedRequest(aiohttp.ClientRequest):
    """A ClientRequest that runs the current write check right before its bytes are sent."""

    async def send(self, conn: Any) -> aiohttp.ClientResponse:
        # A request without a body has its headers written inside send() itself.
        _run_check()
        return await super().send(conn)

    async def write_bytes(self, writer: Any, conn: Any, *args: Any, **kwargs: Any) -> None:
        try:
            _run_check()
        except Exception as refused:
            # send() has already handed back the response, which is waiting for an answer:
            # fail it with the check's error, then drop the connection, nothing sent on it.
            if conn.protocol is not None:
                conn.protocol.set_exception(refused)
            conn.close()
            return
        await super().write_bytes(writer, conn, *args, **kwargs)


def _run_check() -> None:
    check = _CHECK.get()
    if check is not None:
        check()


def fence(session: aiohttp.ClientSession) -> None:
    """Makes every request of `session` honour the check set by `checked_writes`."""
    session._request_class = FencedRequest


@contextmanager
def checked_writes(check: WriteCheck | None) -> Iterator[None]:
    """Requests sent inside this block (and tasks it starts) run `check` before sending."""
    token = _CHECK.set(check)
    try:
        yield
    finally:
        _CHECK.reset(token)
