"""`kuscia-reconciler run` as a separate process that a scenario can kill, freeze
and probe: its /healthz and /readyz, and the write counter on its /metrics."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from devcluster.reconciler_process import ReconcilerProcess

WRITES = "kuscia_reconciler_api_writes"


class ControllerProcess(ReconcilerProcess):
    def __init__(self, kubeconfig: Path, log: Path, *args: str) -> None:
        super().__init__(kubeconfig, log, "--log-level=warning", *args)
        self.ports = {"metrics": self.metrics_port, "health": self.health_port}

    async def probe(self, path: str) -> tuple[int, str]:
        """(status, body) of a GET on the health address; (0, error) when nothing answers."""
        return await _get(self.ports["health"], path)

    async def writes(self) -> float | None:
        """The process's count of write requests so far, or None when it does not answer."""
        status, text = await _get(self.ports["metrics"], "/metrics")
        if status != 200:
            return None
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == WRITES
            for sample in family.samples
            if sample.name.endswith("_total")
        )

    def stop(self) -> None:  # type: ignore[override]
        """Killed outright: a scenario's processes never get to drain."""
        self.kill()


async def _get(port: int, path: str) -> tuple[int, str]:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session,
            session.get(f"http://127.0.0.1:{port}{path}") as response,
        ):
            return response.status, await response.text()
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        return 0, str(error)
