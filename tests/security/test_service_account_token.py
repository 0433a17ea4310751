"""Task pods carry no API credentials unless their AppImage asks: on an API server whose
ServiceAccount admission mounts tokens (as a real cluster's does), the controller's
pods get no token volume, and an AppImage's `automountServiceAccountToken: true` opts in."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client, config

from builders.labels import DOMAIN_LABEL, DOMAIN_VALUE
from devcluster.cluster import ControlPlane
from reconciler.kube import POD, ApiError, Kube
from tests.reconciler.conftest import example, running_controllers, wait_for

TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
HOME, DOMAIN, NEW_DOMAIN = "cross-domain", "alice", "carol"


@pytest.fixture(scope="module")
def token_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp("token-plane"), service_account_admission=True)
    try:
        plane.start()
        plane.run_kubectl("create", "namespace", HOME)
        plane.run_kubectl("create", "namespace", DOMAIN)
        plane.run_kubectl("label", "namespace", DOMAIN, f"{DOMAIN_LABEL}={DOMAIN_VALUE}")
        # No controller-manager here makes each namespace's "default" ServiceAccount.
        plane.run_kubectl("create", "serviceaccount", "default", "-n", DOMAIN)
        yield plane
    finally:
        plane.stop()


@pytest.fixture
async def kube(token_plane: ControlPlane) -> AsyncIterator[Kube]:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(token_plane.kubeconfig), client_configuration=configuration
    )
    async with client.ApiClient(configuration) as api, running_controllers(api) as start:
        await start(workers=2)
        yield Kube(api)


def _image(name: str, automount: bool | None) -> dict[str, Any]:
    image = copy.deepcopy(example("app-template.yaml"))
    image["metadata"]["name"] = name
    if automount is not None:
        for template in image["spec"]["deployTemplates"]:
            template["spec"]["automountServiceAccountToken"] = automount
    return image


def _task(name: str, image: str) -> dict[str, Any]:
    task = copy.deepcopy(example("app-task.yaml"))
    task["metadata"] = {"name": name, "namespace": HOME}
    task["spec"]["initiator"] = DOMAIN
    task["spec"]["scheduleConfig"]["minReservedMembers"] = 1
    task["spec"]["parties"] = [{"domainID": DOMAIN, "appImageRef": image, "role": "server"}]
    return task


async def _pod(kube: Kube, name: str, namespace: str = DOMAIN) -> dict[str, Any] | None:
    try:
        return await kube.request("GET", POD.path(namespace, name))
    except ApiError as error:
        if error.not_found:
            return None
        raise


def _token_mounted(pod: dict[str, Any]) -> bool:
    mounts = [m for c in pod["spec"]["containers"] for m in c.get("volumeMounts") or []]
    return any(m["mountPath"] == TOKEN_PATH for m in mounts)


@pytest.mark.parametrize(
    ("automount", "mounted"), [(None, False), (False, False), (True, True)], ids=str
)
async def test_task_pods_mount_a_token_only_when_the_app_image_asks(
    token_plane: ControlPlane, kube: Kube, automount: bool | None, mounted: bool
) -> None:
    name = f"token-{str(automount).lower()}"
    token_plane.run_kubectl(
        "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(_image(name, automount))
    )
    token_plane.run_kubectl(
        "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(_task(name, name))
    )
    pod = await wait_for(lambda: _pod(kube, f"{name}-server-0"), within=30)
    assert pod["spec"]["automountServiceAccountToken"] is mounted
    assert _token_mounted(pod) is mounted


def test_the_api_server_mounts_tokens_into_pods_that_do_not_refuse_them(
    token_plane: ControlPlane,
) -> None:
    """The yardstick: without the pod's `false`, this API server would mount a token."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "plain", "namespace": DOMAIN},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    stored = yaml.safe_load(
        token_plane.run_kubectl(
            "create", "--dry-run=server", "-o", "yaml", "-f", "-", stdin=yaml.safe_dump(pod)
        ).stdout
    )
    assert _token_mounted(stored)


async def test_pods_refused_until_the_namespaces_service_account_exists_are_retried(
    token_plane: ControlPlane, kube: Kube
) -> None:
    """ServiceAccount admission refuses pods in a namespace whose "default" ServiceAccount
    is not made yet (a moment after the namespace, on a real cluster): the task retries
    instead of failing with ApplyFailed, and runs once the ServiceAccount exists."""
    token_plane.run_kubectl("create", "namespace", NEW_DOMAIN)
    token_plane.run_kubectl("label", "namespace", NEW_DOMAIN, f"{DOMAIN_LABEL}={DOMAIN_VALUE}")
    name = "late-account"
    task = _task(name, name)
    task["spec"]["parties"][0]["domainID"] = NEW_DOMAIN
    task["spec"]["initiator"] = NEW_DOMAIN
    for obj in (_image(name, None), task):
        token_plane.run_kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(obj))
    path = f"/apis/kuscia.secretflow/v1alpha1/namespaces/{HOME}/kusciatasks/{name}"

    async def phase() -> str:
        return str(((await kube.request("GET", path)).get("status") or {}).get("phase", ""))

    async def services() -> list[dict[str, Any]]:
        found = await kube.request("GET", f"/api/v1/namespaces/{NEW_DOMAIN}/services")
        return list(found["items"])

    # The pod is applied beside the Services, in the same pass; it is refused.
    await wait_for(services, within=30)
    await asyncio.sleep(2)
    assert await _pod(kube, f"{name}-server-0", NEW_DOMAIN) is None
    assert await phase() != "Failed"

    token_plane.run_kubectl("create", "serviceaccount", "default", "-n", NEW_DOMAIN)
    await wait_for(lambda: _pod(kube, f"{name}-server-0", NEW_DOMAIN), within=60)
    assert await phase() != "Failed"
