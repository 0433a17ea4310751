"""What the real node needs from the machine, and what it changes there: the
Debian packages (installed when root and missing), the node bridge and the
isolation rule, sysctls; and the removal of all of it, also after a crash."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from devcluster.node.layout import (
    CGROUP_ROOT,
    CNI_BIN_DIR,
    HOST_PATHS,
    ISOLATION_CHAIN,
    NODE_BRIDGE,
    NODE_IP,
    POD_BRIDGE,
    NodePaths,
)

# command or file -> the Debian package that provides it
PACKAGES = {
    "containerd": "containerd",
    "ctr": "containerd",
    "/usr/sbin/runc": "runc",
    "iptables": "iptables",
    "ipset": "ipset",
    "conntrack": "conntrack",
    "socat": "socat",
    "/bin/busybox": "busybox-static",
    **{
        str(CNI_BIN_DIR / p): "containernetworking-plugins"
        for p in ("bridge", "host-local", "portmap", "loopback")
    },
}
SYSCTLS = ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables")
# iptables chains and ipsets made by the CNI plugins, kube-router and the node itself
CHAIN_PREFIXES = (ISOLATION_CHAIN, "CNI-", "KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")
# chains the kubelet makes (kube-proxy makes some of them too): removed when the node's
# start recorded that they were not there before
KUBELET_CHAINS = ("KUBE-FIREWALL", "KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY")
IPTABLES_COMMANDS = ("iptables", "ip6tables")
IPSET_PREFIXES = ("KUBE-SRC-", "KUBE-DST-", "kube-router-")
IPTABLES_TABLES = ("filter", "nat", "mangle")


class NodeUnavailable(Exception):
    """Why there can be no real node here, in one line."""


def run(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
        )
    return result


def _present(what: str) -> bool:
    return os.access(what, os.X_OK) if what.startswith("/") else shutil.which(what) is not None


def missing_packages() -> list[str]:
    return sorted({package for what, package in PACKAGES.items() if not _present(what)})


def ensure_prerequisites(install: bool = True) -> None:
    """Installs what is missing when it can; raises NodeUnavailable saying why not."""
    if os.geteuid() != 0:
        raise NodeUnavailable(f"the real node needs root (running as uid {os.geteuid()})")
    if not Path("/sys/fs/cgroup").is_dir() or not Path("/proc/sys/net/bridge").is_dir():
        raise NodeUnavailable(
            "the real node needs cgroups and bridge netfilter (/proc/sys/net/bridge) in the kernel"
        )
    if shutil.which("go") is None:
        raise NodeUnavailable("the real node needs a Go toolchain to build the kubelet")
    missing = missing_packages()
    if missing and install and shutil.which("apt-get"):
        _apt_install(missing)
        missing = missing_packages()
    if missing:
        raise NodeUnavailable(f"the real node needs the Debian packages {' '.join(missing)}")


def _apt_install(packages: list[str]) -> None:
    print(f"installing Debian packages for the real node: {' '.join(packages)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:  # the package lists may be missing or stale
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, check=False)
        subprocess.run(command, capture_output=True, env=env, check=False)


# --- what starting the node changes -------------------------------------------------


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name


def prepare(paths: NodePaths) -> dict[str, Any]:
    """Records what the node will change, then makes the node bridge, the rule that
    keeps pod traffic on the pod bridge, and the cgroup root. Call after cleanup().
    Returns the record."""
    paths.run.mkdir(parents=True, exist_ok=True)
    record = {
        "sysctls": {name: _sysctl_path(name).read_text().strip() for name in SYSCTLS},
        "created": [str(p) for p in HOST_PATHS if not p.exists()],
        "kubelet_chains": [
            f"{command}/{table}/{chain}"
            for command in IPTABLES_COMMANDS
            for table in IPTABLES_TABLES
            for chain in KUBELET_CHAINS
            if chain not in _chains(command, table)
        ],
    }
    (paths.run / "host.json").write_text(json.dumps(record))
    _sysctl_path("net/bridge/bridge-nf-call-iptables").write_text("1")
    run("ip", "link", "add", NODE_BRIDGE, "type", "bridge")
    run("ip", "addr", "add", f"{NODE_IP}/32", "dev", NODE_BRIDGE)
    run("ip", "link", "set", NODE_BRIDGE, "up")
    # The bridge plugin turns on IP forwarding; this keeps pods from being routed
    # anywhere but their own bridge (they reach the node itself through INPUT).
    chain = ("iptables", "-w", "-A", ISOLATION_CHAIN)
    run("iptables", "-w", "-N", ISOLATION_CHAIN)
    run(*chain, "-i", POD_BRIDGE, "!", "-o", POD_BRIDGE, "-j", "DROP")
    run(*chain, "-o", POD_BRIDGE, "!", "-i", POD_BRIDGE, "-j", "DROP")
    run("iptables", "-w", "-I", "FORWARD", "1", "-j", ISOLATION_CHAIN)
    for hierarchy in _cgroup_hierarchies():
        (hierarchy / CGROUP_ROOT).mkdir(exist_ok=True)
    return record


# --- removal ----------------------------------------------------------------------------


def cleanup(paths: NodePaths, pids: Iterable[int] = ()) -> list[str]:
    """Removes everything a node run leaves, whether it stopped or crashed: its
    processes and containers, mounts, network namespaces, links, iptables chains,
    ipsets, cgroups, sysctls and directories. Returns what it could not remove."""
    problems: list[str] = []
    _kill(set(pids) | set(_processes_using(paths)))
    _kill(set(cgroup_processes()))
    problems += _unmount(paths)
    for netns in Path("/run/netns").glob("cni-*"):
        run("ip", "netns", "delete", netns.name, check=False)
        netns.unlink(missing_ok=True)
    for link in _links_on(POD_BRIDGE):
        run("ip", "link", "delete", link, check=False)
    for bridge in (POD_BRIDGE, NODE_BRIDGE):
        run("ip", "link", "delete", bridge, check=False)
    removable = set(_recorded(paths).get("kubelet_chains", []))
    for command in IPTABLES_COMMANDS:
        problems += _remove_chains(command, removable)
    problems += _destroy_ipsets()
    problems += _remove_cgroups()
    _restore_host(paths)
    for directory in (paths.state, paths.run):
        shutil.rmtree(directory, ignore_errors=True)
        if directory.exists():
            problems.append(f"{directory} could not be removed")
    return problems


def _kill(pids: set[int]) -> None:
    own = os.getpid()
    pids.discard(own)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pids and time.monotonic() < deadline:
        pids = {pid for pid in pids if Path(f"/proc/{pid}").exists() and not _zombie(pid)}
        time.sleep(0.05)


def kill_lock_holders(pids: Iterable[int], lock: Path) -> None:
    """Kills those of `pids` that hold `lock` open: the processes of a node whose owner
    died (a recorded pid reused since by another program is left alone)."""
    _kill({pid for pid in pids if _holds(pid, lock)})


def _holds(pid: int, path: Path) -> bool:
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd) == str(path):
                return True
        except OSError:
            continue
    return False


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def _processes_using(paths: NodePaths) -> Iterable[int]:
    """Processes started for the node: every one names the node's directories on its
    command line (containerd's shims name its socket)."""
    markers = (str(paths.state).encode(), str(paths.run).encode())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if any(marker in cmdline for marker in markers):
            yield int(entry.name)


def _cgroup_hierarchies() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():  # cgroup v2: one hierarchy
        return [root]
    return [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]


def cgroup_processes() -> Iterable[int]:
    for hierarchy in _cgroup_hierarchies():
        top = hierarchy / CGROUP_ROOT
        if not top.is_dir():
            continue
        for procs in top.rglob("cgroup.procs"):
            try:
                yield from (int(line) for line in procs.read_text().split())
            except OSError:
                continue


def _remove_cgroups() -> list[str]:
    problems = []
    for hierarchy in _cgroup_hierarchies():
        top = hierarchy / CGROUP_ROOT
        if not top.is_dir():
            continue
        for directory in sorted((p for p in top.rglob("*") if p.is_dir()), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()
        try:
            top.rmdir()
        except OSError as error:
            problems.append(f"cgroup {top}: {error.strerror}")
    return problems


def _mounts() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        points.append(point)
    return points


def _unmount(paths: NodePaths) -> list[str]:
    prefixes = [str(paths.state) + "/", str(paths.run) + "/", "/run/netns/cni-", "/run/containerd/"]
    prefixes += [str(p) + "/" for p in HOST_PATHS]
    exact = {str(paths.state), str(paths.run)}
    for _ in range(3):
        ours = [m for m in _mounts() if m in exact or any(m.startswith(p) for p in prefixes)]
        if not ours:
            return []
        for point in sorted(ours, key=len, reverse=True):
            if run("umount", point, check=False).returncode != 0:
                run("umount", "-l", point, check=False)
    return [f"mount {m} remains" for m in _mounts() if any(m.startswith(p) for p in prefixes)]


def _links_on(bridge: str) -> list[str]:
    result = run("ip", "-o", "link", "show", "master", bridge, check=False)
    names = []
    for line in result.stdout.splitlines():
        name = line.split(":", 2)[1].strip().split("@", 1)[0]
        names.append(name)
    return names


def _ours(chain: str) -> bool:
    return chain.startswith(CHAIN_PREFIXES)


def _chains(command: str, table: str) -> list[str]:
    if shutil.which(command) is None:
        return []
    listing = run(command, "-w", "-t", table, "-S", check=False).stdout
    return [line.split()[1] for line in listing.splitlines() if line.startswith("-N ")]


def _remove_chains(command: str, removable: set[str]) -> list[str]:
    if shutil.which(command) is None:
        return []
    problems = []
    for table in IPTABLES_TABLES:
        listing = run(command, "-w", "-t", table, "-S", check=False)
        if listing.returncode != 0:
            continue

        def ours(chain: str, table: str = table) -> bool:
            return _ours(chain) or f"{command}/{table}/{chain}" in removable

        chains = []
        for line in listing.stdout.splitlines():
            words = shlex.split(line)  # comments are quoted
            if words[:1] == ["-N"] and ours(words[1]):
                chains.append(words[1])
            elif words[:1] == ["-A"] and not ours(words[1]) and "-j" in words:
                target = words[words.index("-j") + 1]
                if ours(target):
                    run(command, "-w", "-t", table, "-D", *words[1:], check=False)
        for chain in chains:
            run(command, "-w", "-t", table, "-F", chain, check=False)
        for chain in chains:
            if run(command, "-w", "-t", table, "-X", chain, check=False).returncode != 0:
                problems.append(f"{command} chain {table}/{chain} remains")
    return problems


def _destroy_ipsets() -> list[str]:
    if shutil.which("ipset") is None:
        return []
    names = run("ipset", "list", "-n", check=False).stdout.split()
    ours = [name for name in names if name.startswith(IPSET_PREFIXES)]
    for name in ours:
        run("ipset", "flush", name, check=False)
    problems = []
    for name in ours:
        if run("ipset", "destroy", name, check=False).returncode != 0:
            problems.append(f"ipset {name} remains")
    return problems


def _recorded(paths: NodePaths) -> dict[str, Any]:
    try:
        record: dict[str, Any] = json.loads((paths.run / "host.json").read_text())
    except (OSError, ValueError):
        return {}
    return record


def _restore_host(paths: NodePaths) -> None:
    record = _recorded(paths)
    for name, value in record.get("sysctls", {}).items():
        with contextlib.suppress(OSError):
            _sysctl_path(name).write_text(value)
    for created in record.get("created", []):
        shutil.rmtree(created, ignore_errors=True)


def leftovers(paths: NodePaths, record: dict[str, Any] | None = None) -> list[str]:
    """What of a node run is still on the machine (empty after cleanup()). `record`:
    what prepare() recorded, when its file is gone."""
    found = []
    prefixes = (str(paths.state), str(paths.run), "/run/netns/cni-")
    found += [f"mount {m}" for m in _mounts() if m.startswith(prefixes)]
    found += [f"network namespace {n.name}" for n in Path("/run/netns").glob("cni-*")]
    for bridge in (POD_BRIDGE, NODE_BRIDGE):
        if Path("/sys/class/net", bridge).exists():
            found.append(f"link {bridge}")
    removable = set((record or _recorded(paths)).get("kubelet_chains", []))
    for command in IPTABLES_COMMANDS:
        for table in IPTABLES_TABLES:
            found += [
                f"{command} chain {table}/{chain}"
                for chain in _chains(command, table)
                if _ours(chain) or f"{command}/{table}/{chain}" in removable
            ]
    if shutil.which("ipset"):
        names = run("ipset", "list", "-n", check=False).stdout.split()
        found += [f"ipset {name}" for name in names if name.startswith(IPSET_PREFIXES)]
    found += [
        f"cgroup {h / CGROUP_ROOT}" for h in _cgroup_hierarchies() if (h / CGROUP_ROOT).exists()
    ]
    found += [f"process {pid}" for pid in _processes_using(paths)]
    found += [f"directory {d}" for d in (paths.state, paths.run) if d.exists()]
    return found
