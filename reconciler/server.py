"""The HTTP endpoints users and kubelets probe: /metrics (Prometheus text) on
the metrics address, /healthz and /readyz on the health-probe address."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Probes:
    healthy: Callable[[], tuple[bool, str]]
    ready: Callable[[], tuple[bool, str]]


def parse_address(address: str) -> tuple[str, int] | None:
    """':8080' -> ('0.0.0.0', 8080); '127.0.0.1:0' -> an ephemeral port; '0' -> off."""
    if address in ("", "0"):
        return None
    host, _, port = address.rpartition(":")
    return (host or "0.0.0.0", int(port))


def _probe(
    check: Callable[[], tuple[bool, str]],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(_: web.Request) -> web.StreamResponse:
        ok, detail = check()
        return web.Response(status=200 if ok else 500, text="ok" if ok else detail)

    return handler


async def _metrics(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


class Servers:
    """Both HTTP servers; `ports` holds the bound ports once `run` has started them."""

    def __init__(self, metrics_address: str, health_address: str, probes: Probes) -> None:
        self.addresses = {"metrics": metrics_address, "health": health_address}
        self.probes = probes
        self.ports: dict[str, int] = {}
        self.started = anyio.Event()

    def _apps(self) -> dict[str, web.Application]:
        metrics = web.Application()
        metrics.router.add_get("/metrics", _metrics)
        health = web.Application()
        health.router.add_get("/healthz", _probe(self.probes.healthy))
        health.router.add_get("/readyz", _probe(self.probes.ready))
        return {"metrics": metrics, "health": health}

    async def run(self) -> None:
        runners: list[web.AppRunner] = []
        try:
            for name, app in self._apps().items():
                bind = parse_address(self.addresses[name])
                if bind is None:
                    continue
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                runners.append(runner)
                site = web.TCPSite(runner, bind[0], bind[1])
                await site.start()
                server = site._server
                sockets = getattr(server, "sockets", None) or []
                self.ports[name] = int(sockets[0].getsockname()[1]) if sockets else bind[1]
            log.info("serving http", **{f"{name}": port for name, port in self.ports.items()})
            self.started.set()
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                for runner in runners:
                    await runner.cleanup()
