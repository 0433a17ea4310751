"""`python -m devcluster up|down|status`, as `make up` and `make down` run it: both
idempotent, and a component that fails to start named with its log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devcluster.cluster import REPO


def _devcluster(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devcluster", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_up_and_down_are_idempotent(tmp_path: Path) -> None:
    work = str(tmp_path / "local")
    first = _devcluster("up", "--bare", "--dir", work)
    assert first.returncode == 0, first.stderr
    assert f"KUBECONFIG={work}/kubeconfig" in first.stdout
    for name in ("etcd", "kube-apiserver"):
        assert f"log {work}/controlplane/{name}.log" in first.stdout
    try:
        again = _devcluster("up", "--bare", "--dir", work)
        assert again.returncode == 0, again.stderr
        assert again.stdout.startswith("already up")
        assert _devcluster("status", "--dir", work).stdout.strip() == "up"
    finally:
        assert _devcluster("down", "--dir", work).returncode == 0
    assert _devcluster("down", "--dir", work).returncode == 0
    status = _devcluster("status", "--dir", work)
    assert (status.returncode, status.stdout.strip()) == (1, "down")
    assert not (tmp_path / "local" / "kubeconfig").exists()


def test_a_component_that_fails_to_start_is_named_with_its_log(tmp_path: Path) -> None:
    work = tmp_path / "local"
    failed = _devcluster("up", "--dir", str(work), env={"TEST_ASSET_KWOK": "/bin/false"})
    assert failed.returncode == 1
    log = work / "controlplane" / "kwok.log"
    assert f"kwok exited with 1 while starting; its log is {log}" in failed.stderr
    # What did start was stopped again.
    assert _devcluster("status", "--dir", str(work)).stdout.strip() == "down"
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        pid = int((work / "controlplane" / f"{name}.pid").read_text())
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), name


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
