"""The chart installed into the local cluster as a user installs it: `helm install`,
`upgrade` and `uninstall` of charts/kuscia-reconciler with the locally built image,
and what a user reads back (the Deployment's pods, the Lease's holder)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devcluster.cluster import ADMISSION_POLICY, REPO, run_kubectl

CHART = REPO / "charts" / "kuscia-reconciler"
RELEASE = "kuscia-reconciler"
NAMESPACE = "kuscia-reconciler-system"
INSTANCE_LABEL = "app.kubernetes.io/instance"


@dataclass
class Release:
    """One release of the chart. `helm` and `kubectl` are the binaries; helm keeps its
    cache and configuration in a directory of its own (never the user's)."""

    kubeconfig: Path
    helm: Path
    kubectl: Path
    name: str = RELEASE
    namespace: str = NAMESPACE
    home: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="helm-home-")))

    @property
    def fullname(self) -> str:
        return self.name if "kuscia-reconciler" in self.name else f"{self.name}-kuscia-reconciler"

    def run_helm(self, *args: str, timeout: float = 600) -> str:
        env = {
            **os.environ,
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        env.pop("KUBECONFIG", None)
        result = subprocess.run(
            [str(self.helm), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def kubectl_run(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        done = run_kubectl(self.kubectl, self.kubeconfig, *args, check=check, timeout=timeout)
        return done.stdout

    @staticmethod
    def image_values(reference: str) -> list[str]:
        repository, _, tag = reference.rpartition(":")
        return [f"image.repository={repository}", f"image.tag={tag}"]

    def create_namespace(self, annotations: Mapping[str, str]) -> None:
        """The release's namespace, made before the install when it needs annotations
        (on the local cluster: the toleration of the real node's taint)."""
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": self.namespace, "annotations": dict(annotations)},
        }
        subprocess.run(
            [str(self.kubectl), f"--kubeconfig={self.kubeconfig}", "apply", "--server-side",
             "-f", "-"],
            input=json.dumps(body), capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip

    def install(self, reference: str, sets: Sequence[str] = (), strings: Sequence[str] = ()) -> str:
        """`helm install` with the chart's defaults, the image, `sets` (`--set`) and
        `strings` (`--set-string`); returns NOTES. The local cluster installs the
        admission policy with the CRDs; the release brings its own of the same name, so
        the cluster's copy is removed first, as on a cluster that never had it."""
        self.kubectl_run("delete", "--ignore-not-found", "-f", str(ADMISSION_POLICY))
        return self.run_helm(
            "install",
            self.name,
            str(CHART),
            "--namespace",
            self.namespace,
            "--create-namespace",
            *(f"--set={value}" for value in (*self.image_values(reference), *sets)),
            *(f"--set-string={value}" for value in strings),
        )

    def upgrade(self, reference: str, sets: Sequence[str] = ()) -> str:
        return self.run_helm(
            "upgrade",
            self.name,
            str(CHART),
            "--namespace",
            self.namespace,
            "--reuse-values",
            *(f"--set={value}" for value in (*self.image_values(reference), *sets)),
        )

    def uninstall(self) -> str:
        """Foreground deletion: helm returns once the pods, not only the Deployment, are gone."""
        return self.run_helm(
            "uninstall", self.name, "--namespace", self.namespace, "--cascade=foreground", "--wait"
        )

    def rollout(self, timeout: float = 300) -> None:
        """Waits until the Deployment's every replica runs its newest template, Ready."""
        self.kubectl_run(
            "rollout",
            "status",
            f"deployment/{self.fullname}",
            "-n",
            self.namespace,
            f"--timeout={int(timeout)}s",
            timeout=timeout + 30,
        )

    def get(self, *args: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.kubectl_run("get", *args, "-o", "json"))
        return found

    def pods(self) -> list[dict[str, Any]]:
        """The release's controller pods that are not being deleted."""
        listed = self.get("pods", "-n", self.namespace, "-l", f"{INSTANCE_LABEL}={self.name}")
        return [p for p in listed["items"] if not p["metadata"].get("deletionTimestamp")]

    def leader(self) -> str:
        """The Lease's holder (the pod's hostname, then pid and start time), or ""."""
        try:
            lease = self.get("lease", self.fullname, "-n", self.namespace)
        except RuntimeError:
            return ""
        return str((lease.get("spec") or {}).get("holderIdentity") or "")

    def leader_pod(self) -> str:
        return self.leader().split("_", 1)[0]

    def wait_for_leader(self, among: Sequence[str], timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pod = self.leader_pod()
            if pod in among:
                return pod
            time.sleep(0.2)
        raise TimeoutError(f"none of {list(among)} holds the Lease after {timeout}s")

    def wait_for_new_leader(self, previous: str, timeout: float = 120) -> str:
        """The live pod, other than `previous`, that comes to hold the Lease.

        Either the standby or the pod the Deployment made in `previous`'s place
        may win: both poll the Lease, and whichever polls first after the
        release takes it, as client-go's candidates do.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pod = self.leader_pod()
            if pod and pod != previous and pod in {p["metadata"]["name"] for p in self.pods()}:
                return pod
            time.sleep(0.2)
        raise TimeoutError(f"no live pod other than {previous} holds the Lease after {timeout}s")
