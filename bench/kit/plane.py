"""A private control plane for one benchmark run, where each program under test logs
in as its own user and the API server's audit log records every write it makes.

Counting writes at the API server, not inside each program, is what lets the same
figure be compared across the ceiling, our controller and kopf, even while two of
them run side by side. The driver's own writes (creating and deleting tasks) are
made as `admin`, which the audit policy leaves out.
"""

from __future__ import annotations

import json
import os
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from devcluster.cluster import ControlPlane
from devcluster.scheduled import ScheduledCluster

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
TICKS = os.sysconf("SC_CLK_TCK")

AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "users": ["admin"]},
        {"level": "Metadata", "verbs": list(WRITE_VERBS)},
        {"level": "None"},
    ],
}


@dataclass
class BenchPlane(ControlPlane):
    """ControlPlane plus one system:masters user per program, and an audit log of writes."""

    users: dict[str, str] = field(default_factory=dict)  # user name -> bearer token

    def __post_init__(self) -> None:
        policy = self.workdir / "audit-policy.yaml"
        self.workdir.mkdir(parents=True, exist_ok=True)
        policy.write_text(yaml.safe_dump(AUDIT_POLICY))
        self.extra_apiserver_args = [
            *self.extra_apiserver_args,
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-maxbackup=0",
        ]

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit.log"

    def add_user(self, name: str) -> None:
        """Call before start(); the token file is read when the API server starts."""
        self.users[name] = secrets.token_hex(16)

    def start_apiserver(self) -> None:
        lines = [f'{self.token},admin,admin-uid,"system:masters"']
        lines += [f'{key},{name},{name}-uid,"system:masters"' for name, key in self.users.items()]
        (self.workdir / "tokens.csv").write_text("\n".join(lines) + "\n")
        super().start_apiserver()

    def kubeconfig_for(self, user: str) -> Path:
        """A kubeconfig like the admin's, logged in as `user`."""
        config = json.loads(self.kubeconfig.read_text())
        config["users"][0]["user"]["token"] = self.users[user]
        path = self.workdir / f"kubeconfig-{user}"
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)
        return path

    def cpu_seconds(self) -> float:
        """CPU time etcd and the API server have used so far."""
        return sum(process_cpu_seconds(proc.pid) for proc in self.procs.values())


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class AuditCounter:
    """Counts write requests per user from the audit log, from a mark onwards; each
    `poll` reads only what was appended since the last one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.counts: dict[str, Counter[str]] = {}

    def mark(self) -> None:
        self.poll()
        self.counts = {}

    def poll(self) -> dict[str, Counter[str]]:
        """{user: Counter("verb resource[/subresource]")} for writes since the mark."""
        if not self.path.exists():
            return self.counts
        with self.path.open("rb") as log:
            log.seek(self.offset)
            for line in log:
                if not line.endswith(b"\n"):
                    break  # still being written; read it next time
                self.offset += len(line)
                count_line(line, self.counts)
        return self.counts

    def writes(self, user: str) -> int:
        return sum(self.poll().get(user, Counter()).values())


def count_line(line: bytes, counts: dict[str, Counter[str]]) -> None:
    event = json.loads(line)
    if event.get("stage") != "ResponseComplete" or event.get("verb") not in WRITE_VERBS:
        return
    ref = event.get("objectRef") or {}
    what = ref.get("resource", "?") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    user = (event.get("user") or {}).get("username", "?")
    counts.setdefault(user, Counter())[f"{event['verb']} {what}"] += 1


@dataclass
class ScheduledBenchPlane(BenchPlane, ScheduledCluster):
    """BenchPlane on the scheduled cluster: kube-scheduler binds the pods to KWOK nodes,
    whose stages move them to Running, and kube-controller-manager runs as in a cluster."""
