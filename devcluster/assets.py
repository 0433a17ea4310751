"""Finds the local cluster's binaries (kube-apiserver, etcd, kubectl, kube-scheduler,
kube-controller-manager, kwok), and helm.

Lookup order, as envtest's: TEST_ASSET_<NAME>, $KUBEBUILDER_ASSETS/<name>,
/usr/local/kubebuilder/bin/<name>; anything still missing is built once per
machine and Kubernetes minor (KUBE_VERSION, devcluster.versions) from the official
Go modules by build-assets.sh into a cache. Helm is
looked up apart (it is no cluster binary): $HELM, else built the same way.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from devcluster import versions

HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build-assets.sh"
NAMES = ("kube-apiserver", "etcd", "kubectl")
SCHEDULING_NAMES = ("kube-scheduler", "kube-controller-manager")
KWOK_STAGE_CRD = "kwok.x-k8s.io_stages.yaml"


def _supplied(name: str) -> Path | None:
    env_name = "TEST_ASSET_" + name.upper().replace("-", "_")
    candidates = [os.environ.get(env_name, "")]
    if os.environ.get("KUBEBUILDER_ASSETS"):
        candidates.append(os.path.join(os.environ["KUBEBUILDER_ASSETS"], name))
    candidates.append(f"/usr/local/kubebuilder/bin/{name}")
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def _build(*args: str) -> Path:
    env = {**os.environ, versions.ENV: versions.requested()}
    out = subprocess.run(
        ["bash", str(BUILD_SCRIPT), *args], check=True, stdout=subprocess.PIPE, text=True, env=env
    ).stdout.strip()
    return Path(out.splitlines()[-1])


def find_assets(names: tuple[str, ...] = NAMES) -> dict[str, Path]:
    """Path of each binary named, building the missing ones (minutes, once per machine)."""
    found = {name: _supplied(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if not missing:
        return {name: path for name, path in found.items() if path is not None}
    cache = _build(*missing)
    return {name: found[name] or cache / name for name in names}


def find_kwok() -> tuple[Path, Path]:
    """The kwok binary and the Stage CRD it needs (the CRD always comes from the cache)."""
    cache = _build("kwok")
    return _supplied("kwok") or cache / "kwok", cache / KWOK_STAGE_CRD


def find_helm() -> Path:
    """Path of helm: $HELM when it names an executable, else built once per machine."""
    supplied = os.environ.get("HELM", "")
    if supplied and os.access(supplied, os.X_OK):
        return Path(supplied)
    return _build("helm")
