"""`python -m devcluster up|down|status [--dir DIR] [--bare] [--nodes N ...]`: the local
cluster that `make up`, `make down` and `make run` use. Both verbs are idempotent.

`up` starts the scheduled cluster (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, KWOK and its nodes) and, where the machine can run it, the real node
(devcluster.node); `--bare` only etcd and kube-apiserver.
"""

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
from devcluster.node.node import access
from devcluster.scheduled import COMPONENTS, NodePool, ScheduledCluster

DEFAULT_DIR = REPO / ".local"
BASE = ("etcd", "kube-apiserver")


def _alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _started(plane: Path) -> list[str]:
    """The processes the last `up` started, from its record (none when it never ran)."""
    try:
        return (plane / "started").read_text().split()
    except OSError:
        return []


def is_up(workdir: Path) -> bool:
    plane = workdir / "controlplane"
    names = _started(plane)
    return (
        bool(names)
        and all(_alive(plane / f"{n}.pid") for n in names)
        and (workdir / "kubeconfig").exists()
    )


def up(workdir: Path, *, bare: bool, nodes: NodePool) -> None:
    plane_dir = workdir / "controlplane"
    if is_up(workdir):
        wanted = list(BASE) if bare else [*BASE, *COMPONENTS]
        if _started(plane_dir) == wanted:
            print(f"already up; KUBECONFIG={workdir / 'kubeconfig'}")
            _describe(plane_dir)
            if not bare:
                real_node.up(workdir, real_node.recorded_access(workdir))
            return
        print("up with other components; restarting")
    down(workdir, quiet=True)
    plane: ControlPlane = (
        ControlPlane(plane_dir, detach=True)
        if bare
        else ScheduledCluster(plane_dir, detach=True, nodes=nodes)
    )
    try:
        plane.start()
    except BaseException:
        plane.stop()
        raise
    (plane_dir / "started").write_text(" ".join(plane.procs) + "\n")
    (plane_dir / "ports").write_text(_ports(plane))
    shutil.copy(plane.kubeconfig, workdir / "kubeconfig")
    (workdir / "kubectl").unlink(missing_ok=True)
    (workdir / "kubectl").symlink_to(plane.kubectl)
    print(f"up; KUBECONFIG={workdir / 'kubeconfig'}  (kubectl: {workdir / 'kubectl'})")
    _describe(plane_dir)
    if isinstance(plane, ScheduledCluster):
        print(
            f"nodes: {nodes.count} simulated by kwok ({', '.join(nodes.names())}), each "
            f"cpu {nodes.cpu}, memory {nodes.memory}, pods {nodes.pods}"
        )
        real_node.up(workdir, access(plane))


def _ports(plane: ControlPlane) -> str:
    lines = [f"etcd {plane.etcd_url}", f"kube-apiserver {plane.url}"]
    if isinstance(plane, ScheduledCluster):
        lines += [
            f"kube-controller-manager https://127.0.0.1:{plane.controller_manager_port}",
            f"kube-scheduler https://127.0.0.1:{plane.scheduler_port}",
            f"kwok http://127.0.0.1:{plane.kwok_port}",
        ]
    return "\n".join(lines) + "\n"


def _describe(plane: Path) -> None:
    addresses = dict(
        line.split(" ", 1) for line in (plane / "ports").read_text().splitlines() if " " in line
    )
    for name in _started(plane):
        pid = _alive(plane / f"{name}.pid")
        print(
            f"  {name:<24} pid {pid}  {addresses.get(name, ''):<28} log {plane / (name + '.log')}"
        )


def down(workdir: Path, quiet: bool = False) -> None:
    real_node.down(workdir)
    plane = workdir / "controlplane"
    for name in (*reversed(COMPONENTS), "kube-apiserver", "etcd"):
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
        print("down")


def main() -> int:
    defaults = NodePool()
    parser = argparse.ArgumentParser(prog="python -m devcluster")
    parser.add_argument("verb", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument(
        "--bare", action="store_true", help="only etcd and kube-apiserver (no scheduler, no nodes)"
    )
    parser.add_argument("--nodes", type=int, default=defaults.count, help="simulated nodes")
    parser.add_argument("--node-cpu", default=defaults.cpu, help="each node's cpu capacity")
    parser.add_argument("--node-memory", default=defaults.memory, help="each node's memory")
    parser.add_argument("--node-pods", type=int, default=defaults.pods, help="pods per node")
    args = parser.parse_args()
    if args.nodes < 1 or args.node_pods < 1:
        parser.error("--nodes and --node-pods must be at least 1")
    workdir: Path = args.dir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.verb == "up":
        pool = NodePool(args.nodes, args.node_cpu, args.node_memory, args.node_pods)
        try:
            up(workdir, bare=args.bare, nodes=pool)
        except RuntimeError as error:
            print(f"make up failed: {error}", file=sys.stderr)
            return 1
    elif args.verb == "down":
        down(workdir)
    else:
        print("up" if is_up(workdir) else "down")
        return 0 if is_up(workdir) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
