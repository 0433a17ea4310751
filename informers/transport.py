"""Raw GETs through a kubernetes_asyncio ApiClient: its host, auth headers, TLS and
connection pool, but the undecoded aiohttp response, so lists and watches are parsed
once as JSON instead of through generated model classes.

Either way kubernetes_asyncio reports a non-2xx answer in this mode (returned, or
raised as ApiException, KA-12), it leaves here as `ApiStatusError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from informers.apierrors import ApiStatusError
from informers.decoding import Loads


class RawApi:
    def __init__(self, api: ApiClient, *, connect_timeout: float = 30.0) -> None:
        self._api = api
        # No total or read timeout: watches are long, and the inactivity watchdog
        # decides when a silent connection is dead.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_connect=connect_timeout
        )

    @property
    def host(self) -> str:
        return str(self._api.configuration.host)

    async def get(self, path: str, params: Sequence[tuple[str, str]]) -> aiohttp.ClientResponse:
        """An open 2xx response; the caller must read it and then `release()` or `close()` it."""
        try:
            response: aiohttp.ClientResponse = await self._api.call_api(
                path,
                "GET",
                query_params=list(params),
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=self._timeout,
            )
        except ApiException as err:
            raise ApiStatusError.from_body(int(err.status or 0), err.body) from err
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
