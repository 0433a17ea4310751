"""The last check before a write leaves the process: a replica that may no longer lead
must not have a write take effect, even one that was already waiting for a connection or
for its turn on the event loop when the replica froze (SIGSTOP, a paused VM, a long GC).

Checking when a request is made is not enough: between that check and the moment its
bytes are handed to the socket it may wait for a pooled connection, and aiohttp writes
the body from a separate task. A frozen leader wakes up with such writes pending and
would send them after a successor took over. So the check runs again in the request's
own write step, with no `await` between it and the socket write.

Even that leaves the instructions between the last check and the socket write, where a
freeze can still land. The API server closes that gap: the check says how long the lease
is still trusted, that becomes the request's `timeout` (the server abandons a request
that is not complete that long after its headers arrived, before anything is stored),
and the headers are sent before the last check. A write frozen after that check reaches
the server with its deadline already past and is refused with 504. (This needs a body to
send after the headers; every write the controller makes has one.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import aiohttp

WriteCheck = Callable[[], float | None]
"""Raises when the write must not be sent; else returns for how many more seconds a write
may take effect (None: for as long as it takes)."""

# At most this long between computing a write's server-side deadline and its last check,
# so the deadline never reaches more than this past the time the check allowed (the
# controller's check takes it off what it allows). Slack for a busy event loop.
HEADERS_TO_BODY = 2.0

_CHECK: ContextVar[WriteCheck | None] = ContextVar("write_check", default=None)


class WriteFenced(Exception):
    """A write stopped because its headers went out too long before its body could."""


class FencedRequest(aiohttp.ClientRequest):
    """A ClientRequest that runs the current write check right before its bytes are sent,
    and gives the API server a deadline the write must be complete by."""

    _deadline_set_at: float | None = None

    async def send(self, conn: Any) -> aiohttp.ClientResponse:
        # A request without a body has its headers written inside send() itself.
        left = _run_check()
        if left is not None:
            self.url = self.url.update_query(timeout=f"{max(int(left * 1000), 1)}ms")
            self._deadline_set_at = time.monotonic()
        return await super().send(conn)

    async def write_bytes(self, writer: Any, conn: Any, *args: Any, **kwargs: Any) -> None:
        try:
            _run_check()
            if self._deadline_set_at is not None:
                # The server's deadline starts when the headers arrive: send them now,
                # then check once more; what follows is only the body.
                writer.send_headers()
                if time.monotonic() - self._deadline_set_at > HEADERS_TO_BODY:
                    raise WriteFenced("not writing: the write's deadline was set too long ago")
                _run_check()
        except Exception as refused:
            # send() has already handed back the response, which is waiting for an answer:
            # fail it with the check's error, then drop the connection, the body unsent.
            if conn.protocol is not None:
                conn.protocol.set_exception(refused)
            conn.close()
            return
        await super().write_bytes(writer, conn, *args, **kwargs)


def _run_check() -> float | None:
    check = _CHECK.get()
    return None if check is None else check()


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
