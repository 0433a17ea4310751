"""Who wrote what, and when, as the API server saw it: the shared control plane
restarted with an audit log of every write and two extra bearer-token users,
one per controller replica, so writes can be told apart by the replica that
sent them (both replicas use the same field manager).

Everything is put back (arguments, token file, a restart) when the context ends,
so the tests after this one get the control plane as it was.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from devcluster.cluster import ControlPlane

POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  verbs: ["get", "list", "watch"]
- level: Metadata
  users: [{users}]
- level: None
"""


@dataclass(frozen=True)
class Write:
    user: str
    verb: str
    resource: str
    name: str
    code: int
    received: datetime  # the request's headers arrived
    completed: datetime  # its response was sent


@dataclass(frozen=True)
class AuditedUsers:
    kubeconfigs: dict[str, Path]  # user name -> a kubeconfig that authenticates as that user
    log: Path

    def writes(self) -> list[Write]:
        """Every write request of the audited users, in the order the server received them."""
        found = []
        for line in self.log.read_text().splitlines():
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            found.append(
                Write(
                    user=event["user"]["username"],
                    verb=event["verb"],
                    resource=ref.get("resource", ""),
                    name=ref.get("name", ""),
                    code=int((event.get("responseStatus") or {}).get("code", 0)),
                    received=datetime.fromisoformat(event["requestReceivedTimestamp"]),
                    completed=datetime.fromisoformat(event["stageTimestamp"]),
                )
            )
        return sorted(found, key=lambda w: w.received)


@contextlib.contextmanager
def audited_users(plane: ControlPlane, users: list[str], workdir: Path) -> Iterator[AuditedUsers]:
    tokens_file = plane.workdir / "tokens.csv"
    original_tokens = tokens_file.read_text()
    tokens = {user: secrets.token_hex(16) for user in users}
    policy = workdir / "audit-policy.yaml"
    policy.write_text(POLICY.format(users=", ".join(f'"{u}"' for u in users)))
    log = workdir / "audit.log"
    arguments = [f"--audit-policy-file={policy}", f"--audit-log-path={log}"]
    kubeconfigs = {}
    base = json.loads(plane.kubeconfig.read_text())
    for user, token in tokens.items():
        config = json.loads(json.dumps(base))
        config["users"][0]["user"]["token"] = token
        path = workdir / f"kubeconfig-{user}"
        path.write_text(json.dumps(config))
        kubeconfigs[user] = path
    tokens_file.write_text(
        original_tokens
        + "".join(f'{token},{user},{user}-uid,"system:masters"\n' for user, token in tokens.items())
    )
    plane.extra_apiserver_args.extend(arguments)
    try:
        plane.restart_apiserver()
        yield AuditedUsers(kubeconfigs, log)
    finally:
        tokens_file.write_text(original_tokens)
        for argument in arguments:
            plane.extra_apiserver_args.remove(argument)
        plane.restart_apiserver()
