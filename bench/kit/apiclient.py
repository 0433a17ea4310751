"""A bare aiohttp client for the API server: bytes in, bytes out, no models.

The load generators, the observer and the ceiling all use it, so what they add
on top of the wire is as little as Python allows. Credentials come from a
kubeconfig as the local control plane writes it (a bearer token and a CA).
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml


class ApiError(Exception):
    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        super().__init__(f"{method} {path}: {status} {body[:300].decode(errors='replace')}")
        self.status = status


@dataclass(frozen=True)
class Credentials:
    url: str
    token: str
    ca_pem: bytes

    @classmethod
    def from_kubeconfig(cls, path: Path) -> Credentials:
        config = yaml.safe_load(path.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        ca = base64.b64decode(cluster["certificate-authority-data"])
        return cls(url=cluster["server"], token=user["token"], ca_pem=ca)


class Api:
    """One connection pool to the API server; use as an async context manager."""

    def __init__(self, credentials: Credentials, *, connections: int = 64) -> None:
        self.credentials = credentials
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Api:
        context = ssl.create_default_context(cadata=self.credentials.ca_pem.decode())
        context.check_hostname = False  # the serving certificate names 127.0.0.1 only as an IP
        self._session = aiohttp.ClientSession(
            base_url=self.credentials.url,
            connector=aiohttp.TCPConnector(limit=self.connections, ssl=context),
            headers={"Authorization": f"Bearer {self.credentials.token}"},
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Api used outside its `async with`")
        return self._session

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> bytes:
        """One request; the answer's body, or ApiError for a non-2xx status."""
        headers = {"Content-Type": content_type, "Accept": accept}
        async with self.session.request(
            method, path, params=list(query), data=body, headers=headers
        ) as response:
            data = await response.read()
            if not 200 <= response.status <= 299:
                raise ApiError(method, path, response.status, data)
            return data

    async def json(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        raw = None if body is None else json.dumps(body).encode()
        data = await self.send(method, path, query=query, body=raw, content_type=content_type)
        result: dict[str, Any] = json.loads(data) if data else {}
        return result

    async def watch(
        self,
        path: str,
        *,
        resource_version: str,
        timeout_seconds: int = 3600,
        query: Sequence[tuple[str, str]] = (),
    ) -> AsyncIterator[dict[str, Any]]:
        """Watch events (type, object) from `resource_version` until the server ends it."""
        query = [
            *query,
            ("watch", "1"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        async with self.session.get(path, params=query) as response:
            if response.status != 200:
                raise ApiError("WATCH", path, response.status, await response.read())
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
