"""Runs helm on the chart and reads what it renders: the objects, by kind and
name, and the RBAC rules they grant. Helm keeps its cache and config in a
directory of its own, so a test never reads or writes the user's."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO

CHART = REPO / "charts" / "kuscia-reconciler"
FULL_VALUES = CHART / "ci" / "full-values.yaml"
SERVICE_MONITOR_API = "monitoring.coreos.com/v1/ServiceMonitor"


class HelmError(RuntimeError):
    def __init__(self, args: Sequence[str], stderr: str) -> None:
        super().__init__(f"helm {' '.join(args)} failed:\n{stderr}")
        self.stderr = stderr


@dataclass(frozen=True)
class Helm:
    binary: Path
    home: Path

    @classmethod
    def at(cls, binary: Path) -> Helm:
        return cls(binary, Path(tempfile.mkdtemp(prefix="helm-home-")))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        env.pop("KUBECONFIG", None)
        return subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )

    def template(
        self,
        *,
        release: str = "kr",
        namespace: str = "kuscia-system",
        values: Iterable[Path] = (),
        settings: Mapping[str, str] = {},
        api_versions: Iterable[str] = (),
        kube_version: str | None = None,
    ) -> Rendered:
        """The chart rendered as `helm template` does (for a cluster of `kube_version`,
        as `helm install` reads it from the server); HelmError when helm refuses."""
        args = ["template", release, str(CHART), "--namespace", namespace]
        if kube_version:
            args += ["--kube-version", kube_version]
        for path in values:
            args += ["--values", str(path)]
        for key, value in settings.items():
            args += ["--set", f"{key}={value}"]
        for api in api_versions:
            args += ["--api-versions", api]
        result = self.run(*args)
        if result.returncode != 0:
            raise HelmError(args, result.stderr)
        objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return Rendered(objects, result.stdout)


@dataclass(frozen=True)
class Rendered:
    objects: list[dict[str, Any]]
    text: str

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
        return found[0]

    def kinds(self) -> list[str]:
        return sorted(o["kind"] for o in self.objects)

    def without_crds(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] != "CustomResourceDefinition"]

    def grants(self) -> list[Grant]:
        """Every (namespace scope, group, resource, verb, name) the rendered RBAC grants."""
        roles = {
            (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
            for o in self.objects
            if o["kind"] in ("ClusterRole", "Role")
        }
        found: list[Grant] = []
        for binding in self.of_kind("ClusterRoleBinding") + self.of_kind("RoleBinding"):
            ref = binding["roleRef"]
            scope = binding["metadata"].get("namespace")
            role_namespace = scope if ref["kind"] == "Role" else None
            role = roles[(ref["kind"], role_namespace, ref["name"])]
            for rule in role.get("rules", []):
                names = rule.get("resourceNames") or [None]
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        for verb in rule["verbs"]:
                            for name in names:
                                found.append(Grant(scope, group, resource, verb, name))
        return found


@dataclass(frozen=True)
class Grant:
    namespace: str | None  # None: every namespace (a ClusterRoleBinding)
    group: str
    resource: str  # "pods", or "kusciatasks/status" for a subresource
    verb: str
    name: str | None  # None: any name

    def allows(self, request: ApiRequest) -> bool:
        return (
            (self.namespace is None or self.namespace == request.namespace)
            and self.group == request.group
            and self.resource == request.resource
            and self.verb == request.verb
            and (self.name is None or self.name == request.name)
        )


@dataclass(frozen=True)
class ApiRequest:
    """One request as the RBAC authorizer sees it."""

    verb: str
    group: str
    resource: str
    namespace: str | None
    name: str | None
    status: int
    message: str = dataclasses.field(default="", compare=False)  # the refusal's, if any

    @property
    def discovery(self) -> bool:
        """Asks which resources an API group serves; no chart grant is needed for it."""
        return not self.resource

    @property
    def denied(self) -> bool:
        """Refused by the authorizer. Admission also answers 403 when a namespace is
        being deleted; that request had passed RBAC."""
        return self.status == 403 and "because it is being terminated" not in self.message

    @classmethod
    def parse(
        cls, method: str, path: str, query: Sequence[tuple[str, str]], status: int
    ) -> ApiRequest:
        parts = path.strip("/").split("/")
        if parts[0] == "api":
            group, rest = "", parts[2:]
        elif parts[0] == "apis":
            group, rest = parts[1], parts[3:]
        else:
            raise ValueError(f"not a resource path: {path}")
        if not rest:
            # Discovery (/apis/GROUP/VERSION): open to every user (system:discovery).
            return cls("get", group, "", None, None, status)
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        elif len(rest) == 2 and rest[0] == "namespaces":
            # /api/v1/namespaces/NAME is the namespace object itself.
            return cls(_verb(method, True, query), "", "namespaces", None, rest[1], status)
        resource, name = rest[0], rest[1] if len(rest) > 1 else None
        if len(rest) > 2:
            resource += "/" + rest[2]
        return cls(_verb(method, name is not None, query), group, resource, namespace, name, status)

    @classmethod
    def checks(
        cls,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        status: int,
        message: str = "",
    ) -> list[ApiRequest]:
        """What the authorizer checked: a server-side apply that made a new object
        (201) was checked as create as well as patch. Discovery (`/apis/{group}/{version}`)
        is no resource: every client may read it (system:discovery), no chart grants it."""
        parts = path.split("?", 1)[0].strip("/").split("/")
        if (parts[0] == "apis" and len(parts) <= 3) or (parts[0] == "api" and len(parts) <= 2):
            return []
        request = dataclasses.replace(cls.parse(method, path, query, status), message=message)
        if request.verb == "patch" and status == 201:
            return [request, dataclasses.replace(request, verb="create")]
        return [request]


def _verb(method: str, named: bool, query: Sequence[tuple[str, str]]) -> str:
    if method == "GET":
        if not named:
            watching = any(k == "watch" and v in ("true", "1") for k, v in query)
            return "watch" if watching else "list"
        return "get"
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}[method]


def load_values(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded
