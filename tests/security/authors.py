"""Real users for the security tests: a ServiceAccount per user, RBAC granted by the
admin, and a client logged in with a TokenRequest token (no impersonation anywhere)."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config

from devcluster.cluster import ControlPlane
from reconciler.kube import ApiError, Kube
from tests.reconciler.conftest import Cluster

TASK_RULE = {
    "apiGroups": ["kuscia.secretflow"],
    "resources": ["kusciatasks"],
    "verbs": ["create", "get", "list", "patch", "update"],
}
POD_RULE = {"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}


def grant(cluster: Cluster, account: str, home: str, namespace: str, rule: dict[str, Any]) -> None:
    """A Role with `rule` in `namespace`, bound to ServiceAccount `home/account`."""
    name = f"{account}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl_apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": namespace},
            "rules": [rule],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": home}],
        },
    )


@contextlib.asynccontextmanager
async def logged_in(
    plane: ControlPlane, home: str, account: str, workdir: Path
) -> AsyncIterator[Kube]:
    """A client authenticated as ServiceAccount `home/account` (created here)."""
    plane.run_kubectl("create", "serviceaccount", account, "-n", home)
    token = plane.run_kubectl(
        "create", "token", account, "-n", home, "--duration=1h"
    ).stdout.strip()
    kubeconfig = json.loads(plane.kubeconfig.read_text())
    kubeconfig["users"] = [{"name": account, "user": {"token": token}}]
    kubeconfig["contexts"][0]["context"]["user"] = account
    path = workdir / f"{account}.kubeconfig"
    path.write_text(json.dumps(kubeconfig))
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(path), client_configuration=configuration)
    async with client.ApiClient(configuration) as api:
        yield Kube(api)


async def create(kube: Kube, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
    """A plain create (POST), as `kubectl create` sends it."""
    meta = obj["metadata"]
    path = f"/apis/kuscia.secretflow/v1alpha1/namespaces/{meta['namespace']}/kusciatasks"
    query = [("dryRun", "All")] if dry_run else []
    return await kube.request("POST", path, query=query, body=obj)


async def refusal(kube: Kube, obj: dict[str, Any], *, dry_run: bool = False) -> ApiError | None:
    """The API server's refusal of creating `obj`, or None when it was created."""
    try:
        await create(kube, obj, dry_run=dry_run)
    except ApiError as error:
        return error
    return None
