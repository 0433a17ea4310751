"""`python -m devcluster up|down|status [--dir DIR]`: the local control plane
that `make up`, `make down` and `make run` use. Both verbs are idempotent."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from devcluster.cluster import REPO, ControlPlane
from devcluster.node import local as real_node

DEFAULT_DIR = REPO / ".local"


def _alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def is_up(workdir: Path) -> bool:
    plane = workdir / "controlplane"
    return (
        all(_alive(plane / f"{n}.pid") for n in ("etcd", "kube-apiserver"))
        and (workdir / "kubeconfig").exists()
    )


def up(workdir: Path) -> None:
    if is_up(workdir):
        print(f"control plane already up; KUBECONFIG={workdir / 'kubeconfig'}")
        return
    down(workdir, quiet=True)
    plane = ControlPlane(workdir / "controlplane", detach=True)
    try:
        plane.start()
    except BaseException:
        plane.stop()
        raise
    shutil.copy(plane.kubeconfig, workdir / "kubeconfig")
    (workdir / "kubectl").unlink(missing_ok=True)
    (workdir / "kubectl").symlink_to(plane.kubectl)
    print(f"control plane up at {plane.url}; KUBECONFIG={workdir / 'kubeconfig'}")
    real_node.up(workdir, plane)


def down(workdir: Path, quiet: bool = False) -> None:
    real_node.down(workdir)
    plane = workdir / "controlplane"
    for name in ("kube-apiserver", "etcd"):
        pid = _alive(plane / f"{name}.pid")
        if pid is None:
            continue
        os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            if _alive(plane / f"{name}.pid") is None:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(plane, ignore_errors=True)
    (workdir / "kubeconfig").unlink(missing_ok=True)
    (workdir / "kubectl").unlink(missing_ok=True)
    if not quiet:
        print("control plane down")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devcluster")
    parser.add_argument("verb", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args()
    workdir: Path = args.dir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.verb == "up":
        up(workdir)
    elif args.verb == "down":
        down(workdir)
    else:
        print("up" if is_up(workdir) else "down")
        return 0 if is_up(workdir) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
