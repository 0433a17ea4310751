"""The chart's RBAC is enough and no more: the controller, authenticated as the
chart's ServiceAccount (a TokenRequest token), runs a task from creation to
deletion with no 403, and every verb the chart grants is one it used."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from kubernetes_asyncio import client, config
from yarl import URL

from devcluster.cluster import ControlPlane
from reconciler.commands import cli
from reconciler.controller import Controller
from reconciler.kube import APP_IMAGE, KUSCIA_TASK, NAMESPACE, ApiError, Kind, Kube
from reconciler.settings import ServerSettings
from tests.chart.chart import ApiRequest, Helm, Rendered
from tests.conftest import EXAMPLES

TASK_UID = "kuscia.secretflow/task-uid"
CHILD_KINDS = ("pods", "services", "configmaps", "networkpolicies")
DOOMED_TASK = "in-doomed-namespace"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
POLICY_KINDS = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
DOMAIN_API = "kuscia.secretflow/v1alpha1/Domain"


class RequestLog:
    """Every request sent on an ApiClient's session, as (verb, resource, namespace, name,
    status): the controller sends its requests on the session itself."""

    def __init__(self) -> None:
        self.requests: list[ApiRequest] = []

    def record_on(self, api: client.ApiClient) -> None:
        session = api.rest_client.pool_manager
        send = session._request

        async def request(method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
            target = URL(url)
            response = await send(method, url, *args, **kwargs)
            # aiohttp keeps a body once read, so the caller still gets it.
            message = _message(await response.read()) if response.status >= 400 else ""
            query = list(target.query.items())
            self.requests += ApiRequest.checks(
                method, target.path, query, int(response.status), message
            )
            return response

        session._request = request  # type: ignore[method-assign]


def _message(body: str | bytes | None) -> str:
    """The message of a metav1.Status body, or the body itself."""
    try:
        status = json.loads(body or b"{}")
    except ValueError:
        return str(body)
    return str(status.get("message", "")) if isinstance(status, dict) else str(status)


async def wait_for(
    condition: Callable[[], Awaitable[Any]], what: str, *, within: float = 60.0
) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)


def _example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return loaded


class Admin:
    """The test's own hands on the cluster: the admin's client, never the controller's."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.made: list[tuple[Kind, str | None, str]] = []

    async def apply(self, obj: dict[str, Any], *, remember: bool = True) -> dict[str, Any]:
        """Server-side apply of any kind; `remember` deletes it when the test ends."""
        meta = obj["metadata"]
        lower = obj["kind"].lower()
        plural = lower[:-1] + "ies" if lower.endswith("y") else lower + "s"
        kind = Kind(obj["apiVersion"], obj["kind"], plural, "namespace" in meta)
        applied = await self.kube.request(
            "PATCH",
            kind.path(meta.get("namespace"), meta["name"]),
            query=[("fieldManager", "test"), ("force", "true")],
            body=obj,
            content_type="application/apply-patch+yaml",
        )
        if remember:
            self.made.append((kind, meta.get("namespace"), meta["name"]))
        return applied

    async def namespace(self, *, domain: bool = False) -> str:
        """A fresh namespace; `domain`: designated a Kuscia domain, as a party's must be."""
        name = f"t-{uuid.uuid4().hex[:10]}"
        meta: dict[str, Any] = {"name": name}
        if domain:
            meta["labels"] = {"kuscia.secretflow/domain": "true"}
        await self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
        return name

    async def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return await self.kube.request("GET", kind.path(namespace, name))
        except ApiError as error:
            if error.not_found:
                return None
            raise

    async def children(self, namespace: str, task_uid: str) -> dict[str, list[str]]:
        found = {}
        for plural in CHILD_KINDS:
            prefix = "/api/v1" if plural != "networkpolicies" else "/apis/networking.k8s.io/v1"
            body = await self.kube.request(
                "GET",
                f"{prefix}/namespaces/{namespace}/{plural}",
                query=[("labelSelector", f"{TASK_UID}={task_uid}")],
            )
            found[plural] = sorted(
                o["metadata"]["name"]
                for o in body["items"]
                if not o["metadata"].get("deletionTimestamp")
            )
        return found

    async def set_pod_phase(self, namespace: str, name: str, phase: str) -> None:
        await self.kube.request(
            "PATCH",
            f"/api/v1/namespaces/{namespace}/pods/{name}/status",
            body={"status": {"phase": phase}},
            content_type="application/merge-patch+json",
        )

    async def clean(self) -> None:
        for kind, namespace, name in reversed(self.made):
            await self.kube.delete(kind, namespace, name)


async def _task_in_a_namespace_being_deleted(admin: Admin, parties: list[str]) -> str:
    """A waiting task whose namespace is being deleted; returns that namespace. Admission
    answers 403 to every new object there (its Events), which the controller must not
    take for RBAC's. No namespace controller runs here, so it stays Terminating."""
    namespace = await admin.namespace()
    task = _example("secretflow-task-psi.yaml")
    task["metadata"].update(name=DOOMED_TASK, namespace=namespace)
    task["spec"]["initiator"] = parties[0]
    for party, domain in zip(task["spec"]["parties"], parties, strict=True):
        party.update(domainID=domain, appImageRef=f"missing-{namespace}")
    await admin.apply(task, remember=False)
    await admin.kube.delete(NAMESPACE, None, namespace)
    return namespace


async def _delete_task(admin: Admin, namespace: str, name: str) -> None:
    """Deletes a task while the controller runs, so that no later test's controller
    finds it waiting (and writing once its lifecycle runs out)."""
    await admin.kube.delete(KUSCIA_TASK, namespace, name)

    async def gone() -> bool:
        return await admin.get(KUSCIA_TASK, namespace, name) is None

    await wait_for(gone, f"task {namespace}/{name} to be deleted")


async def _install_rbac(admin: Admin, rendered: Rendered) -> None:
    """The chart's ServiceAccount, Roles and bindings, and its admission policy (which
    the controller's own writes must pass), applied for real."""
    for obj in rendered.objects:
        if obj["kind"] in RBAC_KINDS or obj["kind"] in POLICY_KINDS:
            await admin.apply(obj)


def _service_account_kubeconfig(
    plane: ControlPlane, namespace: str, account: str, path: Path
) -> Path:
    """The admin kubeconfig's server and CA, with a TokenRequest token for `account`."""
    token = plane.run_kubectl(
        "create", "token", account, "-n", namespace, "--duration=1h"
    ).stdout.strip()
    kubeconfig = json.loads(plane.kubeconfig.read_text())
    kubeconfig["users"] = [{"name": account, "user": {"token": token}}]
    kubeconfig["contexts"][0]["context"]["user"] = account
    path.write_text(json.dumps(kubeconfig))
    return path


@dataclasses.dataclass
class Outcome:
    requests: list[ApiRequest]
    logs: list[MutableMapping[str, Any]]
    rendered: Rendered
    steps: list[str]


async def _scenario(admin: Admin, watched: str | None, parties: list[str]) -> list[str]:
    """A PSI task from creation to deletion; returns the steps it saw happen."""
    steps: list[str] = []
    suffix = uuid.uuid4().hex[:6]
    image = _example("secretflow-image.yaml")
    image["metadata"]["name"] = f"sf-{suffix}"
    broken = copy.deepcopy(image)
    broken["metadata"]["name"] = f"sf-broken-{suffix}"
    container = broken["spec"]["deployTemplates"][0]["spec"]["containers"][0]
    container["configVolumeMounts"][0]["subPath"] = "no-such-template.conf"
    task = _example("secretflow-task-psi.yaml")
    task_namespace = watched or await admin.namespace()
    task["metadata"].update(name=f"psi-{suffix}", namespace=task_namespace)
    task["spec"]["initiator"] = parties[0]
    for party, domain in zip(task["spec"]["parties"], parties, strict=True):
        party.update(domainID=domain, appImageRef=image["metadata"]["name"])
    for app_image in (image, broken):
        await admin.apply(app_image)
    uid = (await admin.apply(task, remember=False))["metadata"]["uid"]
    name = task["metadata"]["name"]

    async def task_status() -> dict[str, Any]:
        live = await admin.get(KUSCIA_TASK, task_namespace, name)
        return (live or {}).get("status") or {}

    async def all_made() -> bool:
        made = [await admin.children(ns, uid) for ns in parties]
        return all(all(found[kind] for kind in CHILD_KINDS) for found in made)

    await wait_for(all_made, "the task's Pods, Services, ConfigMaps and NetworkPolicies")
    steps.append("made")
    for namespace in parties:
        for pod in (await admin.children(namespace, uid))["pods"]:
            await admin.set_pod_phase(namespace, pod, "Running")
    await wait_for(lambda: _phase_is(task_status, "Running"), "phase Running")
    for namespace in parties:
        for pod in (await admin.children(namespace, uid))["pods"]:
            await admin.set_pod_phase(namespace, pod, "Succeeded")
    await wait_for(lambda: _phase_is(task_status, "Succeeded"), "phase Succeeded")
    steps.append("succeeded")

    async def finished_cleaned() -> bool:
        made = [await admin.children(ns, uid) for ns in parties]
        return all(not found["pods"] and not found["configmaps"] for found in made)

    await wait_for(finished_cleaned, "the finished task's Pods and ConfigMaps to go")
    steps.append("cleaned")
    await admin.kube.delete(KUSCIA_TASK, task_namespace, name)

    async def all_gone() -> bool:
        if await admin.get(KUSCIA_TASK, task_namespace, name) is not None:
            return False
        made = [await admin.children(ns, uid) for ns in parties]
        return not any(any(found.values()) for found in made)

    await wait_for(all_gone, "the deleted task and every object it made to go")
    steps.append("deleted")

    async def broken_reported() -> bool:
        live = await admin.get(APP_IMAGE, None, broken["metadata"]["name"])
        conditions = ((live or {}).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Valid" and c["status"] == "False" for c in conditions)

    await wait_for(broken_reported, "the broken AppImage's Valid=False")
    steps.append("reported")
    return steps


async def _phase_is(status: Callable[[], Awaitable[dict[str, Any]]], phase: str) -> bool:
    return (await status()).get("phase") == phase


@contextlib.contextmanager
def _kuscia_domains(plane: ControlPlane, enabled: bool) -> Iterator[None]:
    """Kuscia's Domain CRD for one scenario, removed (waited for) afterwards."""
    if not enabled:
        yield
        return
    with plane.kuscia_domain_crd():
        yield


@pytest.fixture(scope="module", params=["all-namespaces", "watch-namespace", "kuscia-domains"])
async def outcome(
    request: pytest.FixtureRequest,
    helm: Helm,
    control_plane: ControlPlane,
    api_client: client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Outcome]:
    """The scenario, run once per RBAC mode (the tests below read what it recorded); with
    Kuscia's Domain CRD installed, the parties are designated by Domains too."""
    admin = Admin(Kube(api_client))
    domains = request.param == "kuscia-domains"
    with _kuscia_domains(control_plane, domains):
        async for recorded in _outcome(request, helm, control_plane, admin, tmp_path_factory):
            yield recorded


async def _outcome(
    request: pytest.FixtureRequest,
    helm: Helm,
    control_plane: ControlPlane,
    admin: Admin,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Outcome]:
    domains = request.param == "kuscia-domains"
    try:
        namespace = await admin.namespace()
        parties = [await admin.namespace(domain=True), await admin.namespace(domain=True)]
        for party in parties if domains else []:
            domain = {"apiVersion": "kuscia.secretflow/v1alpha1", "kind": "Domain"}
            await admin.apply({**domain, "metadata": {"name": party}, "spec": {}})
        watched = await admin.namespace() if request.param == "watch-namespace" else None
        values = {"watchNamespaces[0]": watched} if watched else {}
        rendered = helm.template(
            release=f"kr-{uuid.uuid4().hex[:6]}",
            namespace=namespace,
            settings=values,
            api_versions=[DOMAIN_API] if domains else [],
            kube_version=control_plane.server_version,
        )
        await _install_rbac(admin, rendered)
        doomed = await _task_in_a_namespace_being_deleted(admin, parties)
        account = rendered.one("ServiceAccount")["metadata"]["name"]
        kubeconfig = _service_account_kubeconfig(
            control_plane, namespace, account, tmp_path_factory.mktemp("sa") / "kubeconfig"
        )
        # The flags the chart gives the container, but servers on loopback ephemeral ports.
        deployment = rendered.one("Deployment")
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        settings = dataclasses.replace(
            cli._settings(cli._parser().parse_args(["run", *args])),
            server=ServerSettings("127.0.0.1:0", "127.0.0.1:0"),
        )
        configuration = client.Configuration()
        await config.load_kube_config(
            config_file=str(kubeconfig), client_configuration=configuration
        )
        log = RequestLog()
        with structlog.testing.capture_logs() as logs:
            async with client.ApiClient(configuration) as sa_api:
                log.record_on(sa_api)
                controller = Controller(sa_api, settings)
                running = asyncio.create_task(controller.run(), name="controller")
                try:
                    await wait_for(
                        _leading(controller, running), "the controller to lead", within=30
                    )
                    steps = await _scenario(admin, watched, parties)
                    await _delete_task(admin, doomed, DOOMED_TASK)
                except AssertionError as error:
                    raise AssertionError(_diagnosis(error, log.requests, logs)) from None
                finally:
                    running.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await running
        yield Outcome(log.requests, logs, rendered, steps)
    finally:
        await admin.clean()


def _diagnosis(error: AssertionError, requests: list[ApiRequest], logs: list[Any]) -> str:
    refused = [r for r in requests if r.status >= 400 and r.status != 404]
    lines = [str(error), "requests refused:", *map(str, refused[:20]), "last log entries:"]
    return "\n".join([*lines, *map(str, logs[-20:])])


def _leading(controller: Controller, running: asyncio.Task[None]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        if running.done():
            running.result()  # raises what stopped it
        return controller.leading.is_set()

    return check


def test_task_runs_to_success_and_deletion_as_the_chart_service_account(outcome: Outcome) -> None:
    assert outcome.steps == ["made", "succeeded", "cleaned", "deleted", "reported"]


def test_controller_is_never_forbidden(outcome: Outcome) -> None:
    forbidden = [r for r in outcome.requests if r.denied]
    assert not forbidden, forbidden
    assert any(entry.get("event") == "caches synced" for entry in outcome.logs)
    # A 403 or "forbidden" in what was logged; not digits inside a port or an identity.
    logged = [
        e
        for e in outcome.logs
        if re.search(r"\b403\b|forbidden", str(e), re.IGNORECASE)
        and "because it is being terminated" not in str(e)
    ]
    assert not logged, logged


def test_every_request_is_granted_by_the_chart(outcome: Outcome) -> None:
    grants = outcome.rendered.grants()
    ungranted = {
        r for r in outcome.requests if not r.discovery and not any(g.allows(r) for g in grants)
    }
    assert not ungranted, sorted(map(str, ungranted))


def test_every_grant_of_the_chart_is_used_by_the_controller(outcome: Outcome) -> None:
    unused = [
        g for g in outcome.rendered.grants() if not any(g.allows(r) for r in outcome.requests)
    ]
    assert not unused, unused
