"""`kuscia-reconciler run` as a separate process that a scenario can kill, freeze
and probe: its /healthz and /readyz, and the write counter on its /metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from devcluster.cluster import free_port

COMMAND = Path(sys.executable).parent / "kuscia-reconciler"
WRITES = "kuscia_reconciler_api_writes"


class ControllerProcess:
    def __init__(self, kubeconfig: Path, log: Path, *args: str) -> None:
        self.log = log
        self.ports = {"metrics": free_port(), "health": free_port()}
        with log.open("ab") as output:
            self.proc = subprocess.Popen(
                [
                    str(COMMAND),
                    "run",
                    f"--kubeconfig={kubeconfig}",
                    f"--metrics-bind-address=127.0.0.1:{self.ports['metrics']}",
                    f"--health-probe-bind-address=127.0.0.1:{self.ports['health']}",
                    "--log-level=warning",
                    *args,
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

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

    def signal(self, signum: signal.Signals) -> None:
        if self.alive:
            os.kill(self.pid, signum)

    def stop(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


async def _get(port: int, path: str) -> tuple[int, str]:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session,
            session.get(f"http://127.0.0.1:{port}{path}") as response,
        ):
            return response.status, await response.text()
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        return 0, str(error)
