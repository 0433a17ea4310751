"""The programs under test, each a child process logged in as its own user: our
controller (`kuscia-reconciler run`), the kopf peer (`kopf run`) and the ceiling.

Each can say when it is ready, how much memory (VmRSS, VmHWM) and CPU it has used,
and stop; ours also reads its own Prometheus metrics.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import IO

from bench.kit.plane import BenchPlane, process_cpu_seconds
from devcluster.cluster import REPO, free_port
from devcluster.reconciler_process import COMMAND, metric_total, run_command

BIN = Path(sys.executable).parent
KOPF_PEER = REPO / "bench" / "peers" / "kopf_peer.py"


class Contestant:
    """One child process; `log` gets its stdout and stderr unless a pipe is asked for."""

    name = ""
    user = ""  # the API server user it logs in as

    def __init__(
        self,
        args: list[str],
        log: Path,
        *,
        env: dict[str, str] | None = None,
        piped: bool = False,
    ) -> None:
        """With `piped`, its stdin and stdout are pipes to this process; stderr goes to `log`."""
        self.log_path = log
        self._log = log.open("ab")
        self.started = time.monotonic()
        self.wall = time.time()
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if piped else None,
            stdout=subprocess.PIPE if piped else self._log,
            stderr=self._log,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
            cwd=REPO,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-30:]
            raise RuntimeError(
                f"{self.name} exited with {self.proc.returncode}:\n" + "\n".join(tail)
            )

    def ready(self) -> bool:
        raise NotImplementedError

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Seconds from process start until ready."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s")
            time.sleep(0.05)
        return time.monotonic() - self.started

    def memory(self, field: str = "VmRSS") -> int:
        """A /proc/PID/status size (VmRSS: resident now, VmHWM: peak), in bytes."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(field)

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _get(url: str, timeout: float = 5.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return str(response.read().decode()) if response.status == 200 else None
    except OSError:
        return None


class Ours(Contestant):
    name = "ours"
    user = "bench-ours"

    def __init__(
        self,
        plane: BenchPlane,
        log: Path,
        *flags: str,
        namespace: str | None = None,
        program: Sequence[str] = (str(COMMAND),),
        env: dict[str, str] | None = None,
    ) -> None:
        """`flags` go after the usual ones; `program` runs instead of `kuscia-reconciler`
        (bench/kit/probe.py), with `env` added to its environment."""
        self.metrics_port, self.health_port = free_port(), free_port()
        kubeconfig = plane.kubeconfig_for(self.user)
        flags = ("--log-format=json", *flags)
        if namespace:
            flags += (f"--namespace={namespace}",)
        ports = (self.metrics_port, self.health_port)
        args = run_command(kubeconfig, *ports, *flags, program=program)
        super().__init__(args, log, env=env)

    def ready(self) -> bool:
        return _get(f"http://127.0.0.1:{self.health_port}/readyz") is not None

    def metrics(self, timeout: float = 5.0) -> str | None:
        """Its /metrics page; None when it does not answer within `timeout` seconds."""
        return _get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout)

    def metric(self, name: str, **labels: str) -> float:
        """The sum of every sample of `name` whose labels include `labels`."""
        return metric_total(self.metrics() or "", name, **labels)

    def synced_seconds(self) -> float:
        """Seconds from process start until it logged that its caches were synced."""
        for line in self.log_path.read_text(errors="replace").splitlines():
            if '"caches synced"' in line:
                stamp = json.loads(line)["timestamp"]
                return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() - self.wall
        raise LookupError(f"{self.name} has not synced its caches")

    def reconciled(self) -> int:
        return int(self.metric("controller_runtime_reconcile_total", controller="kusciatask"))

    def writes(self) -> int:
        return int(self.metric("kuscia_reconciler_api_writes_total"))

    def idle(self) -> bool:
        """Nothing queued and nothing being reconciled."""
        return (
            self.metric("workqueue_depth") == 0
            and self.metric("workqueue_unfinished_work_seconds") == 0
        )


class Kopf(Contestant):
    name = "kopf"
    user = "bench-kopf"

    def __init__(self, plane: BenchPlane, log: Path, *, namespace: str) -> None:
        self.liveness_port = free_port()
        args = [
            str(BIN / "kopf"),
            "run",
            "--standalone",
            "--quiet",
            f"--namespace={namespace}",
            f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz",
            str(KOPF_PEER),
        ]
        super().__init__(args, log, env={"KUBECONFIG": str(plane.kubeconfig_for(self.user))})

    def ready(self) -> bool:
        return _get(f"http://127.0.0.1:{self.liveness_port}/healthz") is not None


class Ceiling(Contestant):
    name = "ceiling"
    user = "bench-ceiling"

    def __init__(
        self,
        plane: BenchPlane,
        log: Path,
        *,
        plan: Path,
        workers: int,
        apply_concurrency: int,
        connections: int,
    ) -> None:
        args = [
            sys.executable,
            "-m",
            "bench.kit.ceiling",
            f"--kubeconfig={plane.kubeconfig_for(self.user)}",
            f"--plan={plan}",
            f"--workers={workers}",
            f"--apply-concurrency={apply_concurrency}",
            f"--connections={connections}",
        ]
        super().__init__(args, log, piped=True)
        self._ready = False

    @property
    def _stdin(self) -> IO[bytes]:
        assert self.proc.stdin is not None
        return self.proc.stdin

    def ready(self) -> bool:
        if not self._ready:
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()  # blocks until the plan is loaded
            if line.strip() != b"ready":
                self.check_alive()
                raise RuntimeError(f"ceiling said {line!r}, not ready")
            self._ready = True
        return True

    def feed(self, name: str, uid: str) -> None:
        self._stdin.write(f"{name} {uid}\n".encode())
        self._stdin.flush()

    def finish(self) -> tuple[int, float]:
        """Closes its input and waits for it to send everything: (requests sent, CPU seconds)."""
        self._stdin.close()
        assert self.proc.stdout is not None
        out = self.proc.stdout.read().decode()
        if self.proc.wait() != 0 or not out.startswith("sent "):
            self.check_alive()
            raise RuntimeError(f"ceiling ended with {self.proc.returncode}: {out!r}")
        words = out.split()
        return int(words[1]), float(words[3])
