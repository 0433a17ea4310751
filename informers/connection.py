"""How requests reach the API server: its address, credentials and TLS settings (a
kubernetes_asyncio `Configuration`) and one aiohttp session, with requests sent
straight on the session: no generated models, no serialising of bodies by the client,
the JSON bytes handed over as they are.

A kubernetes_asyncio `ApiClient` is accepted wherever a Connection is (`Connection.of`):
its configuration and its session are used as they are.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

# Watch events of large objects exceed aiohttp's default read buffer; etcd stores
# requests up to 1.5 MiB.
READ_BUFFER = 2**21


# Characters a path may carry as they are (names are DNS labels; a caller's own query
# string or escapes pass through), so the URL can be handed over already encoded.
_PATH_SAFE = "/%?=&:@+,;~!$'()*"


class _ApiClientLike(Protocol):
    configuration: Any
    rest_client: Any


class Connection:
    """What a request needs to reach the API server; `request` sends one."""

    def __init__(
        self,
        configuration: Any,
        session: aiohttp.ClientSession | None = None,
        *,
        proxy: str | None = None,
        proxy_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.configuration = configuration
        self.host = str(configuration.host).rstrip("/")
        self.proxy = proxy if proxy is not None else configuration.proxy
        self.proxy_headers = proxy_headers
        if self.proxy_headers is None and configuration.proxy_headers:
            self.proxy_headers = dict(configuration.proxy_headers)
        self.server_hostname: str | None = configuration.tls_server_name or None
        # What every request adds to aiohttp's arguments: the same for each.
        self._request_options: dict[str, Any] = {}
        if self.proxy:
            self._request_options["proxy"] = self.proxy
            if self.proxy_headers:
                self._request_options["proxy_headers"] = self.proxy_headers
        if self.server_hostname:
            self._request_options["server_hostname"] = self.server_hostname
        self.user_agent = "kuscia-reconciler"
        self._owns_session = session is None
        self.session = session if session is not None else _session(configuration)

    @classmethod
    def of(cls, api: Connection | _ApiClientLike) -> Connection:
        """`api` itself, or a Connection over a kubernetes_asyncio ApiClient's session."""
        if isinstance(api, Connection):
            return api
        rest = api.rest_client
        return cls(
            api.configuration,
            rest.pool_manager,
            proxy=rest.proxy or None,
            proxy_headers=rest.proxy_headers or None,
        )

    async def authorization(self) -> str | None:
        """The Authorization header, refreshed first where the configuration says how
        (a token file that rotates, an exec plugin)."""
        configuration = self.configuration
        if "BearerToken" not in configuration.api_key:
            return None
        value = await configuration.get_api_key_with_prefix("BearerToken")
        return str(value) if value else None

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        content_type: str = "application/json",
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's, per request
    ) -> aiohttp.ClientResponse:
        """The response, open; the caller reads it and then releases or closes it."""
        url = self.host + quote(path, safe=_PATH_SAFE)
        if query:
            url += "?" + _query_string(tuple(query))
        headers = {
            "Accept": "application/json",
            "Content-Type": content_type,
            "User-Agent": self.user_agent,
        }
        authorization = await self.authorization()
        if authorization:
            headers["Authorization"] = authorization
        return await self.session.request(
            method,
            URL(url, encoded=True),
            data=body,
            headers=headers,
            timeout=timeout,
            **self._request_options,
        )

    async def close(self) -> None:
        if self._owns_session:
            await self.session.close()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


@lru_cache(maxsize=512)
def _query_string(query: tuple[tuple[str, str], ...]) -> str:
    """Encoded once per distinct query: most repeat (an apply's field manager and force)."""
    return urlencode(query)


def _session(configuration: Any) -> aiohttp.ClientSession:
    """A session with the configuration's TLS settings and pool size. It does not trust
    the environment: aiohttp would read ~/.netrc and the proxy variables in a worker
    thread on every request (the proxy is resolved once, into the configuration)."""
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if getattr(configuration, "disable_strict_ssl_verification", False):
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    connector = aiohttp.TCPConnector(limit=configuration.connection_pool_maxsize, ssl=context)
    return aiohttp.ClientSession(connector=connector, trust_env=False, read_bufsize=READ_BUFFER)


Api = Connection | _ApiClientLike
"""What the informers and the controller are given: a Connection or an ApiClient."""
