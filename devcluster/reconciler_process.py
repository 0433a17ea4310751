"""`kuscia-reconciler run` as a separate process: the one way tests, benchmarks and the
demo start the controller, with its probe and metrics ports known up front (free
loopback ports unless given) and its output in a log file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from devcluster.cluster import free_port

COMMAND = Path(sys.executable).parent / "kuscia-reconciler"


def run_command(
    kubeconfig: Path | str,
    metrics_port: int,
    health_port: int,
    *args: str,
    program: Sequence[str] = (str(COMMAND),),
) -> list[str]:
    """The command line of `kuscia-reconciler run` on loopback ports, extra flags last;
    `program` stands for `kuscia-reconciler` (a wrapper that takes the same arguments)."""
    return [
        *program,
        "run",
        f"--kubeconfig={kubeconfig}",
        f"--metrics-bind-address=127.0.0.1:{metrics_port}",
        f"--health-probe-bind-address=127.0.0.1:{health_port}",
        *args,
    ]


def metric_total(text: str, name: str, **labels: str) -> float:
    """The sum of every sample of `name` in a /metrics page whose labels include `labels`."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        sample, value = line.rsplit(" ", 1)
        if sample.split("{")[0] == name and all(w in sample for w in wanted):
            total += float(value)
    return total


class ReconcilerProcess:
    """One `kuscia-reconciler run`; `stop()` asks it to drain (SIGTERM), then kills it."""

    def __init__(
        self,
        kubeconfig: Path | str,
        log: Path,
        *args: str,
        metrics_port: int | None = None,
        health_port: int | None = None,
        env: Mapping[str, str] | None = None,
        program: Sequence[str] = (str(COMMAND),),
    ) -> None:
        self.log = log
        self.metrics_port = metrics_port or free_port()
        self.health_port = health_port or free_port()
        ports = (self.metrics_port, self.health_port)
        command = run_command(kubeconfig, *ports, *args, program=program)
        with log.open("ab") as output:
            self.proc = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=None if env is None else {**os.environ, **env},
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def get(self, port: int, path: str) -> tuple[int, str]:
        """(status, body) of a GET on one of its ports; (0, error) when nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
                return int(answer.status), answer.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode(errors="replace")
        except OSError as error:
            return 0, str(error)

    def ready(self) -> bool:
        return self.get(self.health_port, "/readyz")[0] == 200

    def metric(self, name: str, **labels: str) -> float:
        """The sum of every sample of `name` whose labels include `labels` (0 if none)."""
        status, text = self.get(self.metrics_port, "/metrics")
        return metric_total(text if status == 200 else "", name, **labels)

    def signal(self, signum: signal.Signals) -> None:
        if self.alive:
            os.kill(self.pid, signum)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a frozen process is thawed first), then SIGKILL after `timeout` seconds."""
        if self.alive:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=timeout)
        self.kill()

    def kill(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
