"""`make run`: the reconciler against the local cluster (or the cluster $KUBECONFIG
names), fed the example AppImages and tasks, printing what each task and its pods
are doing every time that changes, until the tasks have finished and been cleaned
up. The reconciler keeps running afterwards until Ctrl-C (`--once`: it stops)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from builders.labels import DOMAIN_LABEL, DOMAIN_VALUE
from devcluster import incluster, psi_demo
from devcluster.assets import find_assets
from devcluster.cluster import CRD_DIR, REPO, run_kubectl
from devcluster.reconciler_process import ReconcilerProcess

EXAMPLES = REPO / "tests" / "fixtures" / "examples"
TASK_NAMESPACE = "cross-domain"
PARTY_NAMESPACES = ("alice", "bob")
TASK_UID_LABEL = "kuscia.secretflow/task-uid"
FINISHED = ("Succeeded", "Failed")
DEADLINE = float(os.environ.get("DEMO_DEADLINE_SECONDS", "180"))
# A party template's env reaches the pod, and the local cluster's stages read it.
NEXT_STEPS = """\
  export KUBECONFIG=$PWD/.local/kubeconfig
  .local/kubectl delete kt -n cross-domain app-task
  .local/kubectl patch --local -f tests/fixtures/examples/app-task.yaml -o yaml --type=json \\
    -p '[{"op":"add","path":"/spec/parties/1/template/spec/containers/0/env/-",
          "value":{"name":"DEVCLUSTER_OUTCOME","value":"Failed"}}]' | .local/kubectl apply -f -
  .local/kubectl get kt -n cross-domain app-task -w   # Pending, Running, then Failed"""


class Kubectl:
    def __init__(self, kubeconfig: str) -> None:
        self.binary = str(find_assets()["kubectl"])
        self.kubeconfig = kubeconfig

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        try:
            done = run_kubectl(self.binary, self.kubeconfig, *args, stdin=stdin, timeout=None)
        except RuntimeError as error:
            raise SystemExit(str(error).strip()) from None
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))


def _pod_line(pod: dict[str, Any]) -> str:
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
    phase = status.get("phase", "Pending")
    where = ""
    if spec.get("nodeName"):
        where = f" on {spec['nodeName']}" + (f" ({status['podIP']})" if status.get("podIP") else "")
    else:
        scheduled = next(
            (c for c in status.get("conditions", []) if c.get("type") == "PodScheduled"), None
        )
        if scheduled and scheduled.get("status") == "False":
            where = f" unschedulable: {scheduled.get('message', '')}"
    if meta.get("deletionTimestamp"):
        phase += ", being deleted"
    return f"      pod {meta['name']}: {phase}{where}"


def snapshot(kubectl: Kubectl) -> tuple[list[str], bool]:
    """The summary's lines, and whether every task has finished and been cleaned up."""
    tasks = kubectl.json("get", "kusciatasks", "-n", TASK_NAMESPACE)["items"]
    pods = kubectl.json("get", "pods", "-A", "-l", TASK_UID_LABEL)["items"]
    lines: list[str] = []
    done = bool(tasks)
    for task in sorted(tasks, key=lambda t: t["metadata"]["name"]):
        meta, status = task["metadata"], task.get("status") or {}
        phase = status.get("phase") or "not reconciled yet"
        if status.get("reason"):
            phase += f" ({status['reason']})"
        lines.append(f"  task {meta['namespace']}/{meta['name']}: {phase}")
        ours = [p for p in pods if p["metadata"]["labels"].get(TASK_UID_LABEL) == meta["uid"]]
        for party in status.get("partyTaskStatus", []):
            domain = party["domainID"]
            lines.append(f"    party {domain} {party.get('role') or '(no role)'}: {party['phase']}")
            lines += [
                _pod_line(pod)
                for pod in sorted(ours, key=lambda p: p["metadata"]["name"])
                if pod["metadata"]["namespace"] == domain
            ]
        failed_pods = [p for p in ours if (p.get("status") or {}).get("phase") == "Failed"]
        cleaned = len(ours) == len(failed_pods)  # failed pods stay, for debugging
        done = done and status.get("phase") in FINISHED and cleaned
    return lines, done


def _left_behind(kubectl: Kubectl) -> list[str]:
    lines = []
    for domain in PARTY_NAMESPACES:
        kinds = []
        for kind in ("pods", "configmaps", "services", "networkpolicies"):
            items = kubectl.json("get", kind, "-n", domain, "-l", TASK_UID_LABEL)["items"]
            kinds.append(f"{kind} {len(items)}")
        lines.append(f"  {domain}: " + ", ".join(kinds))
    return lines


def _wait_for_service_accounts(kubectl: Kubectl, deadline: float) -> None:
    """Pod admission wants each namespace's `default` ServiceAccount, which
    kube-controller-manager makes a moment after the namespace; a cluster without one
    (a bare control plane) does not check."""
    if not kubectl.json("get", "nodes")["items"]:
        return
    for namespace in PARTY_NAMESPACES:
        while not kubectl(
            "get", "serviceaccount", "default", "-n", namespace, "--ignore-not-found"
        ):
            if time.monotonic() > deadline:
                raise SystemExit(f"no ServiceAccount default in namespace {namespace}")
            time.sleep(0.2)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    once = "--once" in sys.argv
    in_cluster = "--in-cluster" in sys.argv
    # SIGTERM stops the demo as Ctrl-C does, so the reconciler it started stops too.
    signal.signal(signal.SIGTERM, _interrupt)
    kubeconfig = os.environ.get("KUBECONFIG") or str(REPO / ".local" / "kubeconfig")
    kubectl = Kubectl(kubeconfig)
    kubectl("apply", "--server-side", "-f", str(CRD_DIR))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(CRD_DIR))
    log_path = REPO / ".local" / "reconciler.log"
    log_path.parent.mkdir(exist_ok=True)
    # --in-cluster: the chart's Deployment on the real node instead of a local process.
    release = incluster.install(kubeconfig) if in_cluster else None
    log_path.unlink(missing_ok=True)
    if release is None:
        local = ReconcilerProcess(kubeconfig, log_path, metrics_port=8080, health_port=8081)
        reconciler = local.proc
    else:
        with log_path.open("w") as log:
            reconciler = subprocess.Popen(
                [str(Path(kubectl.binary)), f"--kubeconfig={kubeconfig}", "logs", "-f",
                 "-n", release.namespace, f"deployment/{release.fullname}"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
    started = time.monotonic()
    try:
        for namespace in (TASK_NAMESPACE, *PARTY_NAMESPACES):
            metadata: dict[str, Any] = {"name": namespace}
            if namespace in PARTY_NAMESPACES:
                metadata["labels"] = {DOMAIN_LABEL: DOMAIN_VALUE}
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
            kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(body))
        _wait_for_service_accounts(kubectl, started + 60)
        # A second run shows the tasks' lives again: the last run's tasks go first (the
        # reconciler, already running, removes their finalizers).
        kubectl(
            "delete",
            "kusciatasks",
            "-n",
            TASK_NAMESPACE,
            "secretflow-task-psi",
            "app-task",
            "--ignore-not-found",
            "--timeout=60s",
        )
        for name in ("secretflow-image", "app-template", "secretflow-task-psi", "app-task"):
            print(kubectl("apply", "--server-side", "-f", str(EXAMPLES / f"{name}.yaml")).strip())
        previous: list[str] = []
        done = False
        while time.monotonic() - started < DEADLINE:
            if reconciler.poll() is not None and release is None:
                raise SystemExit(f"the reconciler exited; see {log_path}")
            lines, done = snapshot(kubectl)
            if lines != previous:
                print(f"\n[{time.monotonic() - started:5.1f}s]")
                print("\n".join(lines))
                previous = lines
            if done:
                break
            time.sleep(0.25)
        print("\nobjects the tasks left behind:")
        print("\n".join(_left_behind(kubectl)))
        print()
        failed = [
            f"{t['metadata']['name']}: {(t.get('status') or {}).get('message', '')}"
            for t in kubectl.json("get", "kusciatasks", "-n", TASK_NAMESPACE)["items"]
            if (t.get("status") or {}).get("phase") != "Succeeded"
        ]
        if done and failed:
            print("Not every task succeeded:\n  " + "\n  ".join(failed))
            print(f"The reconciler's log: {log_path}")
        elif done:
            print(
                "Both tasks Succeeded and were cleaned up: their Pods and ConfigMaps are deleted "
                "(Services and\nNetworkPolicies go with the task). To see a task fail, with "
                "the reconciler running (make run\nwithout --once), in another shell:"
            )
            print(NEXT_STEPS)
        else:
            print(
                f"The tasks did not finish within {DEADLINE:.0f}s. If pods have no node, the "
                "cluster has no scheduler (`make up` without --bare starts one); otherwise see "
                f"{log_path} and .local/controlplane/*.log."
            )
        print("\n" + "\n".join(psi_demo.run(Path(kubectl.binary), kubeconfig)) + "\n")
        if release is None:
            print(f"Metrics: http://127.0.0.1:8080/metrics  Log: {log_path}")
        else:
            print(
                f"Metrics: .local/kubectl get --raw /api/v1/namespaces/{release.namespace}/"
                f"services/http:{release.fullname}-metrics:metrics/proxy/metrics  "
                f"Log (one replica's): {log_path}"
            )
        if once:
            return 0 if done and not failed else 1
        print("The reconciler keeps running; Ctrl-C stops it.")
        return reconciler.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if reconciler.poll() is None:
            reconciler.send_signal(signal.SIGTERM)
            reconciler.wait(timeout=30)
        if release is not None:
            incluster.uninstall(release)


if __name__ == "__main__":
    sys.exit(main())
