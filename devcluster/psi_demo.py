"""The PSI demo of `make run`: with the real node up, the demo task's two parties run
for real and the summary shows the intersection each found, read from the pods'
logs (streamed while they run: the controller removes the pods of a task that
succeeded)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from devcluster.cluster import REPO
from devcluster.node.layout import NODE_NAME, TOLERATING_NAMESPACE_ANNOTATIONS

EXAMPLE = REPO / "examples" / "psi-demo"
DOMAIN_LABELS = {"kuscia.secretflow/domain": "true"}
TIMEOUT = 240.0


class _Kubectl:
    def __init__(self, binary: Path, kubeconfig: str) -> None:
        self.base = [str(binary), f"--kubeconfig={kubeconfig}"]

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.base, *args], input=stdin, capture_output=True, text=True, check=False
        )

    def json(self, *args: str) -> Any:
        result = self.run(*args, "-o", "json", "--ignore-not-found")
        return (
            json.loads(result.stdout) if result.returncode == 0 and result.stdout.strip() else None
        )


class _LogFollower(threading.Thread):
    """`kubectl logs -f` on one pod, retried until the pod has run, kept whole."""

    def __init__(self, kubectl: _Kubectl, namespace: str, pod: str, deadline: float) -> None:
        super().__init__(daemon=True, name=f"logs {namespace}/{pod}")
        self.kubectl, self.namespace, self.pod, self.deadline = kubectl, namespace, pod, deadline
        self.text = ""

    def run(self) -> None:
        while time.monotonic() < self.deadline:
            result = self.kubectl.run("logs", "-f", "-n", self.namespace, self.pod)
            if result.returncode == 0 and "PSI_RESULT" in result.stdout:
                self.text = result.stdout
                return
            if result.returncode == 0:
                self.text = result.stdout
            time.sleep(0.5)


def _intersection(log: str) -> str:
    for line in reversed(log.splitlines()):
        if line.startswith("PSI_RESULT "):
            found = json.loads(line.removeprefix("PSI_RESULT "))
            return f"{json.dumps(found['intersection'])} (with {found['peer']})"
    return "no result in its log" + (f": {log.strip().splitlines()[-1]}" if log.strip() else "")


def run(kubectl_binary: Path, kubeconfig: str) -> list[str]:
    """Runs the demo task and returns the summary lines."""
    kubectl = _Kubectl(kubectl_binary, kubeconfig)
    node = kubectl.json("get", "node", NODE_NAME) or {}
    conditions = node.get("status", {}).get("conditions", [])
    if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
        return ["PSI demo: not run, there is no real node (`make up` says why)"]
    task: dict[str, Any] = yaml.safe_load((EXAMPLE / "task.yaml").read_text())
    parties = [p["domainID"] for p in task["spec"]["parties"]]
    name, home = task["metadata"]["name"], task["metadata"]["namespace"]
    for namespace in (home, *parties):
        metadata: dict[str, Any] = {"name": namespace}
        if namespace in parties:
            metadata |= {"labels": DOMAIN_LABELS, "annotations": TOLERATING_NAMESPACE_ANNOTATIONS}
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
        kubectl.run("apply", "--server-side", "-f", "-", stdin=json.dumps(body))
    # A task of an earlier run has finished: the demo runs a fresh one.
    kubectl.run("delete", "kusciatask", name, "-n", home, "--ignore-not-found", "--timeout=60s")
    accounts_deadline = time.monotonic() + 60
    for namespace in parties:  # pod admission wants the `default` ServiceAccount
        while not kubectl.json("get", "serviceaccount", "default", "-n", namespace):
            if time.monotonic() > accounts_deadline:
                return [f"PSI demo: not run, no ServiceAccount default in {namespace}"]
            time.sleep(0.2)
    kubectl.run("apply", "--server-side", "-f", str(EXAMPLE / "appimage.yaml"))
    started = time.monotonic()
    deadline = started + TIMEOUT
    followers = [_LogFollower(kubectl, party, f"{name}-0", deadline) for party in parties]
    kubectl.run("apply", "--server-side", "-f", str(EXAMPLE / "task.yaml"))
    for follower in followers:
        follower.start()
    phase = ""
    while time.monotonic() < deadline and phase not in ("Succeeded", "Failed"):
        found = kubectl.json("get", "kusciatask", name, "-n", home) or {}
        phase = (found.get("status") or {}).get("phase", "")
        time.sleep(0.2)
    took = time.monotonic() - started
    for follower in followers:
        follower.join(timeout=max(0.0, deadline - time.monotonic()))
    lines = [
        f"PSI demo: task {home}/{name} {phase or 'not finished'} {took:.1f}s after it was created"
    ]
    lines += [f"  {f.namespace}: intersection {_intersection(f.text)}" for f in followers]
    return lines
