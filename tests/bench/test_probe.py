"""The soak's controller (bench/kit/probe.py) is `kuscia-reconciler run` with the same
flags, and reports its asyncio tasks and the objects in its caches as JSON lines."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.kit import probe
from devcluster.cluster import REPO, ControlPlane
from devcluster.reconciler_process import ReconcilerProcess

DEADLINE = 120.0


def _reports(path: Path) -> list[dict[str, Any]]:
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


def test_the_probe_runs_the_controller_and_reports_on_it(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    reports = tmp_path / "reports.jsonl"
    process = ReconcilerProcess(
        control_plane.kubeconfig,
        tmp_path / "controller.log",
        f"--namespace={namespace}",
        program=(sys.executable, "-m", "bench.kit.probe"),
        env={probe.REPORTS_ENV: str(reports), "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + DEADLINE
        # Ready means its caches have listed; a report after that counts what they hold.
        while not process.ready() or not any(r["cached"]["namespaces"] for r in _reports(reports)):
            assert process.alive, process.tail()
            assert time.monotonic() < deadline, process.tail()
            time.sleep(0.2)
        report = _reports(reports)[-1]
        assert report["asyncio_tasks"] > 0
        assert {"kusciatasks", "appimages", "namespaces", "pods"} <= report["cached"].keys()
        assert report["cached"]["kusciatasks"] == 0  # a fresh namespace: no tasks
    finally:
        process.stop()
    assert process.proc.returncode == 0, process.tail()
