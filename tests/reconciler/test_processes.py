"""The `kuscia-reconciler run` command as users run it: two processes with
leader election (one reconciles; kill it and the other takes over within
20 s), SIGTERM exits 0 and releases the Lease, and the HTTP endpoints."""

from __future__ import annotations

import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster.cluster import ControlPlane
from devcluster.reconciler_process import ReconcilerProcess
from tests.reconciler.conftest import Cluster, example, wait_for


class Process(ReconcilerProcess):
    def __init__(self, plane: ControlPlane, log: Path, *args: str) -> None:
        super().__init__(plane.kubeconfig, log, "--workers=2", *args)

    def ports(self) -> dict[str, int]:
        """Its ports, once its HTTP servers answer; {} before."""
        if self.get(self.health_port, "/healthz")[0] == 0:
            return {}
        return {"metrics": self.metrics_port, "health": self.health_port}

    def stop(self, timeout: float = 0.0) -> None:
        self.kill()


@pytest.fixture
def processes(control_plane: ControlPlane, tmp_path: Path) -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


def _lease_holder(cluster: Cluster, namespace: str, name: str) -> str:
    lease = cluster.get("lease", name, namespace)
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def test_two_processes_one_leads_and_the_other_takes_over_within_20s(
    cluster: Cluster, control_plane: ControlPlane, processes: list[Process], tmp_path: Path
) -> None:
    home, alice, bob = cluster.namespaces(3)
    lease = "kuscia-reconciler"
    for i in range(2):
        processes.append(
            Process(
                control_plane,
                tmp_path / f"controller-{i}.log",
                "--leader-elect",
                f"--leader-election-namespace={home}",
            )
        )
    holder = await wait_for(lambda: _lease_holder(cluster, home, lease), within=30)
    pids = {p.proc.pid: p for p in processes}
    leader = next(p for pid, p in pids.items() if f"_{pid}_" in holder)
    standby = next(p for p in processes if p is not leader)

    cluster.kubectl_apply(example("secretflow-image.yaml"))
    cluster.kubectl_apply(cluster.task("secretflow-task-psi.yaml", home, [alice, bob], name="one"))
    await wait_for(lambda: cluster.get("pod", "one-0", bob), within=30)

    for process in processes:  # probes and metrics answer on both
        ports = await wait_for(process.ports)
        await wait_for(lambda ports=ports: _get(ports["health"], "/readyz")[0] == 200, within=30)
        assert _get(ports["health"], "/healthz")[0] == 200
    leader_metrics = _get(leader.ports()["metrics"], "/metrics")[1]
    assert 'workqueue_adds_total{name="kusciatask"}' in leader_metrics
    assert 'controller_runtime_reconcile_total{controller="kusciatask",result=' in leader_metrics
    assert "leader_election_master_status" in leader_metrics

    leader.proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    await wait_for(lambda: _lease_holder(cluster, home, lease) not in ("", holder), within=25)
    takeover = time.monotonic() - killed
    assert takeover < 20, f"takeover took {takeover:.1f}s"
    cluster.kubectl_apply(cluster.task("secretflow-task-psi.yaml", home, [alice, bob], name="two"))
    await wait_for(lambda: cluster.get("pod", "two-0", bob), within=15)

    standby.proc.send_signal(signal.SIGTERM)
    assert standby.proc.wait(timeout=30) == 0
    assert _lease_holder(cluster, home, lease) == ""  # released on the way out
    assert "leadership lost" not in standby.log.read_text()


async def test_healthz_fails_while_the_api_server_is_unreachable_and_recovers(
    control_plane: ControlPlane, processes: list[Process], tmp_path: Path
) -> None:
    process = Process(control_plane, tmp_path / "controller.log")
    processes.append(process)
    ports = await wait_for(process.ports, within=30)
    await wait_for(lambda: _get(ports["health"], "/readyz")[0] == 200, within=30)
    assert _get(ports["health"], "/healthz") == (200, "ok")
    control_plane.stop_apiserver()
    try:
        _, detail = await wait_for(
            lambda: (r := _get(ports["health"], "/healthz"))[0] == 500 and r, within=30
        )
        assert "cannot list/watch" in detail
        assert process.proc.poll() is None  # stays up
    finally:
        control_plane.start_apiserver()
    await wait_for(lambda: _get(ports["health"], "/healthz")[0] == 200, within=60)
