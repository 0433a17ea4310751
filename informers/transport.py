"""Raw GETs on a Connection (its host, auth headers, TLS and connection pool): the
undecoded aiohttp response, so lists and watches are parsed once as JSON instead of
through generated model classes. A non-2xx answer leaves here as `ApiStatusError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from informers.apierrors import ApiStatusError
from informers.connection import Api, Connection
from informers.decoding import Loads


class RawApi:
    def __init__(self, api: Api, *, connect_timeout: float = 30.0) -> None:
        self._connection = Connection.of(api)
        # No total or read timeout: watches are long, and the inactivity watchdog
        # decides when a silent connection is dead.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_connect=connect_timeout
        )

    @property
    def host(self) -> str:
        return self._connection.host

    async def get(self, path: str, params: Sequence[tuple[str, str]]) -> aiohttp.ClientResponse:
        """An open 2xx response; the caller must read it and then `release()` or `close()` it."""
        response = await self._connection.request("GET", path, query=params, timeout=self._timeout)
        if 200 <= response.status < 300:
            return response
        try:
            body = await response.read()
        finally:
            response.release()
        raise ApiStatusError.from_body(response.status, body)


async def read_json(
    response: aiohttp.ClientResponse, loads: Loads, on_progress: Callable[[], None]
) -> Any:
    """The whole body decoded by `loads`, calling `on_progress` for each chunk received."""
    chunks: list[bytes] = []
    async for chunk in response.content.iter_any():
        on_progress()
        chunks.append(chunk)
    body = b"".join(chunks)
    del chunks
    return loads(body)
