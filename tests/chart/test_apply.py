"""Every manifest the chart renders is accepted by the real API server, applied
for real with server-side apply (a dry run skips RBAC's escalation checks), rendered
for that server's version as `helm install` does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from devcluster.cluster import ControlPlane
from tests.chart.chart import FULL_VALUES, Helm, Rendered


class Applied:
    """Applies rendered objects as the admin; removes the cluster-scoped ones afterwards."""

    def __init__(self, plane: ControlPlane, release_namespace: str) -> None:
        self.plane = plane
        self.namespaces = [release_namespace]
        self.outside: list[dict[str, Any]] = []  # objects no test namespace takes away

    def namespace(self) -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"
        self.plane.run_kubectl("create", "namespace", name)
        self.namespaces.append(name)
        return name

    def apply(self, rendered: Rendered) -> None:
        objects = rendered.without_crds()
        self.outside += [
            o for o in objects if o["metadata"].get("namespace") not in self.namespaces
        ]
        documents = "---\n".join(yaml.safe_dump(o) for o in objects)
        self.plane.run_kubectl(
            "apply", "--server-side", "--field-manager=helm", "-f", "-", stdin=documents
        )

    def get(self, obj: dict[str, Any]) -> dict[str, Any]:
        stored: dict[str, Any] = yaml.safe_load(
            self.plane.run_kubectl("get", *_where(obj), "-o", "yaml").stdout
        )
        return stored

    def versions(self, rendered: Rendered) -> dict[tuple[str, ...], str]:
        return {
            tuple(_where(o)): self.get(o)["metadata"]["resourceVersion"] for o in rendered.objects
        }

    def clean(self) -> None:
        for obj in self.outside:
            self.plane.run_kubectl("delete", *_where(obj), "--ignore-not-found", check=False)
        for name in self.namespaces[1:]:
            self.plane.run_kubectl("delete", "namespace", name, "--wait=false", check=False)


def _where(obj: dict[str, Any]) -> list[str]:
    meta = obj["metadata"]
    namespace = ["-n", meta["namespace"]] if meta.get("namespace") else []
    return [obj["kind"], meta["name"], *namespace]


@pytest.fixture
def applied(control_plane: ControlPlane, namespace: str) -> Iterator[Applied]:
    helper = Applied(control_plane, namespace)
    yield helper
    helper.clean()


def _release() -> str:
    return f"kr-{uuid.uuid4().hex[:6]}"


def test_default_manifests_are_applied_by_the_api_server(
    helm: Helm, applied: Applied, namespace: str
) -> None:
    rendered = helm.template(
        release=_release(), namespace=namespace, kube_version=applied.plane.server_version
    )
    applied.apply(rendered)
    for obj in rendered.objects:
        stored = applied.get(obj)
        assert stored["metadata"]["labels"] == obj["metadata"]["labels"]
    deployment = applied.get(rendered.one("Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_full_values_manifests_are_applied_by_the_api_server(
    helm: Helm, applied: Applied, namespace: str
) -> None:
    watched = applied.namespace()
    rendered = helm.template(
        release=_release(),
        namespace=namespace,
        values=[FULL_VALUES],
        settings={"watchNamespaces[0]": watched},
        kube_version=applied.plane.server_version,
    )
    applied.apply(rendered)
    namespaces = {o["metadata"].get("namespace") for o in rendered.objects}
    assert namespaces == {None, namespace, watched, "default"}
    for obj in rendered.objects:
        assert applied.get(obj)["metadata"]["name"] == obj["metadata"]["name"]


def test_applying_the_chart_twice_changes_nothing(
    helm: Helm, applied: Applied, namespace: str
) -> None:
    rendered = helm.template(
        release=_release(), namespace=namespace, kube_version=applied.plane.server_version
    )
    applied.apply(rendered)
    before = applied.versions(rendered)
    applied.apply(rendered)
    assert applied.versions(rendered) == before
