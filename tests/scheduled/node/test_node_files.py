"""The real node's images, configuration files and lock, without a node: what makes
them work on this kind of machine, keeps everything on it, and keeps one node per
machine."""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import signal
import subprocess
import tarfile
from pathlib import Path

import pytest

from devcluster.images.archive import RootFS, docker_archive
from devcluster.node import configs
from devcluster.node.host import NodeUnavailable
from devcluster.node.layout import NODE_IP, NODE_RANGE, NodePaths
from devcluster.node.node import RealNode

PATHS = NodePaths(logs=Path("/tmp/logs"), state=Path("/s"), run=Path("/r"))


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_an_image_archive_is_what_containerd_imports_and_the_same_every_time() -> None:
    rootfs = RootFS()
    rootfs.file("usr/local/bin/tool", b"#!/bin/sh\n", 0o755)
    rootfs.symlink("bin/sh", "busybox")
    first = docker_archive("local.invalid/x/tool:1", rootfs, cmd=["/bin/sh"], working_dir="/work")
    assert first == docker_archive(
        "local.invalid/x/tool:1", rootfs, cmd=["/bin/sh"], working_dir="/work"
    )
    members = _members(first)
    (manifest,) = json.loads(members["manifest.json"])
    assert manifest["RepoTags"] == ["local.invalid/x/tool:1"]
    config = json.loads(members[manifest["Config"]])
    layer = members["layer.tar"]
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    assert config["config"]["Cmd"] == ["/bin/sh"]
    assert config["config"]["WorkingDir"] == "/work"
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        entries = {m.name: m for m in tar.getmembers()}
    assert entries["usr"].isdir()
    assert entries["usr/local/bin"].isdir()  # parents are made
    assert entries["usr/local/bin/tool"].mode == 0o755
    assert entries["bin/sh"].issym()
    assert entries["bin/sh"].linkname == "busybox"
    assert {m.uid for m in entries.values()} == {0}
    assert {m.mtime for m in entries.values()} == {0}


def test_pods_are_neither_masqueraded_nor_routed_off_the_test_range() -> None:
    bridge = configs.cni_conflist(PATHS)["plugins"][0]
    assert bridge["type"] == "bridge"
    assert bridge["ipMasq"] is False
    assert bridge["ipam"]["routes"] == [{"dst": NODE_RANGE}]
    assert bridge["ipam"]["dataDir"] == "/s/cni/ipam"
    assert [p["type"] for p in configs.cni_conflist(PATHS)["plugins"]] == [
        "bridge",
        "portmap",
        "loopback",
    ]


def test_dns_answers_the_cluster_domain_only_and_forwards_nothing() -> None:
    corefile = configs.corefile(PATHS, "ctx")
    assert corefile.startswith("cluster.local:53 {")
    assert "forward" not in corefile
    assert f"bind {NODE_IP}" in corefile
    assert ".:53" not in corefile


def test_the_runtime_and_kubelet_settings_this_machine_needs() -> None:
    containerd = configs.containerd_config(PATHS)
    assert "restrict_oom_score_adj = true" in containerd
    assert 'address = "/r/containerd.sock"' in containerd
    assert 'root = "/s/containerd"' in containerd
    kubelet = configs.kubelet_config(PATHS)
    assert kubelet["oomScoreAdj"] == 0
    assert kubelet["failCgroupV1"] is False
    assert kubelet["cgroupDriver"] == "cgroupfs"
    assert kubelet["clusterDNS"] == [NODE_IP]
    assert kubelet["address"] == NODE_IP
    # a pull of an image the node lacks goes to a proxy that is not there, not to a host
    assert configs.CONTAINERD_ENV["HTTPS_PROXY"].startswith("http://127.0.0.1:")


def _holding(lock: Path) -> subprocess.Popen[bytes]:
    """A process that holds `lock` as a node's processes do (inherited, flocked)."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    holder = subprocess.Popen(["sleep", "60"], pass_fds=(fd,))
    os.close(fd)
    return holder


def _owned_by(paths: NodePaths, owner: int, holder: int, *, detached: bool) -> RealNode:
    paths.run.mkdir(parents=True)
    record = {"pid": owner, "detached": detached, "logs": "/elsewhere", "pids": {"kubelet": holder}}
    paths.owner.write_text(json.dumps(record))
    node = RealNode(logs=paths.logs, lock_wait=0.5)
    node.paths = paths
    return node


def test_the_node_of_a_session_that_died_gives_up_the_machines_lock(tmp_path: Path) -> None:
    paths = NodePaths(logs=tmp_path, state=tmp_path / "s", run=tmp_path / "r", lock=tmp_path / "l")
    holder = _holding(paths.lock)
    gone = subprocess.Popen(["true"])
    gone.wait()
    node = _owned_by(paths, gone.pid, holder.pid, detached=False)
    paths.state.mkdir()
    (paths.state / "in-use").touch()
    node.lock_wait = 30
    node._lock()
    try:
        assert holder.wait(timeout=10) == -signal.SIGKILL
        # Taking over stops the dead session's processes only; cleaning the machine is
        # left to the lock's new holder (another waiter may be setting up already).
        assert (paths.state / "in-use").exists()
    finally:
        node.release_lock()


def test_a_detached_node_keeps_the_lock_and_says_whose_it_is(tmp_path: Path) -> None:
    paths = NodePaths(logs=tmp_path, state=tmp_path / "s", run=tmp_path / "r", lock=tmp_path / "l")
    holder = _holding(paths.lock)
    try:
        node = _owned_by(paths, 1, holder.pid, detached=True)
        with pytest.raises(NodeUnavailable, match=r"already runs on this machine .*/elsewhere"):
            node._lock()
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait()
