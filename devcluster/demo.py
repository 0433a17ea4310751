"""`make run`: the reconciler against the local control plane (or the cluster
$KUBECONFIG names), fed the example AppImages and tasks, with a summary of
what each task produced. The reconciler keeps running until Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devcluster.assets import find_assets
from devcluster.cluster import CRD_DIR, REPO

EXAMPLES = REPO / "tests" / "fixtures" / "examples"
NAMESPACES = ("cross-domain", "alice", "bob")
KINDS = ("pods", "services", "configmaps", "networkpolicies")


class Kubectl:
    def __init__(self, kubeconfig: str) -> None:
        self.binary = str(find_assets()["kubectl"])
        self.kubeconfig = kubeconfig

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [self.binary, f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))


def _summary(kubectl: Kubectl) -> str:
    lines = []
    for task in kubectl.json("get", "kusciatasks", "-A")["items"]:
        meta, status = task["metadata"], task.get("status") or {}
        phase = status.get("phase", "") + (f" ({status['reason']})" if status.get("reason") else "")
        lines.append(f"task {meta['namespace']}/{meta['name']}: {phase or 'not reconciled yet'}")
        for party in status.get("partyTaskStatus", []):
            domain = party["domainID"]
            selector = f"kuscia.secretflow/task-uid={meta['uid']}"
            lines.append(f"  party {domain} {party.get('role') or '(no role)'}: {party['phase']}")
            for kind in KINDS:
                names = [
                    o["metadata"]["name"]
                    for o in kubectl.json("get", kind, "-n", domain, "-l", selector)["items"]
                ]
                lines.append(f"    {kind:<16} {', '.join(names) or '-'}")
    return "\n".join(lines)


def _created(kubectl: Kubectl) -> bool:
    tasks = kubectl.json("get", "kusciatasks", "-A")["items"]
    return bool(tasks) and all(
        any(
            c.get("type") == "ResourceCreated" and c.get("status") == "True"
            for c in (t.get("status") or {}).get("conditions", [])
        )
        for t in tasks
    )


def main() -> int:
    once = "--once" in sys.argv
    kubeconfig = os.environ.get("KUBECONFIG") or str(REPO / ".local" / "kubeconfig")
    kubectl = Kubectl(kubeconfig)
    kubectl("apply", "--server-side", "-f", str(CRD_DIR))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(CRD_DIR))
    log_path = REPO / ".local" / "reconciler.log"
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("w") as log:
        reconciler = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "kuscia-reconciler"),
                "run",
                f"--kubeconfig={kubeconfig}",
                "--metrics-bind-address=127.0.0.1:8080",
                "--health-probe-bind-address=127.0.0.1:8081",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        for namespace in NAMESPACES:
            kubectl(
                "apply",
                "--server-side",
                "-f",
                "-",
                stdin=json.dumps(
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
                ),
            )
        for name in ("secretflow-image", "app-template", "secretflow-task-psi", "app-task"):
            print(kubectl("apply", "--server-side", "-f", str(EXAMPLES / f"{name}.yaml")).strip())
        deadline = time.monotonic() + 60
        while not _created(kubectl) and time.monotonic() < deadline:
            if reconciler.poll() is not None:
                raise SystemExit(f"the reconciler exited; see {log_path}")
            time.sleep(0.5)
        print()
        print(_summary(kubectl))
        print()
        print("There is no kubelet here, so the Pods stay Pending; move one with e.g.")
        print(
            "  .local/kubectl patch pod secretflow-task-psi-0 -n alice --subresource=status "
            '--type=merge -p \'{"status":{"phase":"Succeeded"}}\''
        )
        print(f"Metrics: http://127.0.0.1:8080/metrics  Log: {log_path}")
        if once:
            return 0
        print("The reconciler keeps running; Ctrl-C stops it.")
        return reconciler.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if reconciler.poll() is None:
            reconciler.send_signal(signal.SIGTERM)
            reconciler.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
