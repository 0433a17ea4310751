"""What the chart ships is accepted, as new objects, by the session's API server: every
CRD and every admission policy, with strict field validation and each CEL rule compiled
by that release. CI runs this on the oldest and on the newest supported minor
(KUBE_VERSION), so a schema field or a CEL function a release lacks fails here.

An API server compiles a new object's rules with the CEL libraries of the release
before its own (existing objects keep theirs): only a create shows what a fresh
install meets, so each file is created, under a name of its own, as a dry run."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster import versions
from devcluster.cluster import ControlPlane
from tests.conftest import REPO

CHART = REPO / "charts" / "kuscia-reconciler"
SHIPPED_CRDS = sorted((CHART / "crds").glob("*.yaml"))
# The admission policies the chart templates from their one copy, where it has them.
SHIPPED_POLICIES = sorted((CHART / "admission").glob("*.yaml"))
SHIPPED = SHIPPED_CRDS + SHIPPED_POLICIES
# CEL's semver library entered Kubernetes' CEL environment in 1.33; a server compiles
# new rules with the libraries of the release before its own, so from 1.34 on.
SEMVER_FIRST_MINOR = "1.34"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _renamed_crd(crd: dict[str, Any]) -> dict[str, Any]:
    """The CRD in a group of its own: a create, though the shipped one is installed."""
    renamed = copy.deepcopy(crd)
    group = f"c{uuid.uuid4().hex[:8]}.{crd['spec']['group']}"
    renamed["spec"]["group"] = group
    renamed["metadata"] = {"name": f"{crd['spec']['names']['plural']}.{group}"}
    return renamed


def _renamed(obj: dict[str, Any]) -> dict[str, Any]:
    renamed = copy.deepcopy(obj)
    renamed["metadata"] = {"name": f"{obj['metadata']['name']}-{uuid.uuid4().hex[:8]}"}
    return renamed


def _create_dry_run(plane: ControlPlane, obj: dict[str, Any]) -> tuple[bool, str]:
    result = plane.run_kubectl(
        "create", "--dry-run=server", "--validate=strict", "-f", "-",
        stdin=yaml.safe_dump(obj), check=False,
    )  # fmt: skip
    return result.returncode == 0, result.stderr


def _with_rule(crd: dict[str, Any], rule: str) -> dict[str, Any]:
    """The CRD with one more CEL rule on its top-level schema."""
    changed = _renamed_crd(crd)
    schema = changed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema.setdefault("x-kubernetes-validations", []).append({"rule": rule})
    return changed


def test_the_server_is_a_supported_minor_and_kubectl_is_its_own(
    control_plane: ControlPlane,
) -> None:
    assert control_plane.server_minor in versions.supported()
    assert versions.pinned() in (None, control_plane.server_minor)
    client = versions.kubectl_client_version(control_plane.kubectl)
    assert versions.minor_of(client) == control_plane.server_minor


def _as_new(obj: dict[str, Any]) -> dict[str, Any]:
    return _renamed_crd(obj) if obj["kind"] == "CustomResourceDefinition" else _renamed(obj)


@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(CHART)) for p in SHIPPED])
def test_every_shipped_crd_and_policy_is_accepted_as_new_with_its_rules_compiled(
    control_plane: ControlPlane, path: Path
) -> None:
    for obj in _documents(path):
        accepted, error = _create_dry_run(control_plane, _as_new(obj))
        assert accepted, f"{path.name} {obj['kind']} on {control_plane.server_version}: {error}"


def test_the_chart_keeps_its_admission_policies_where_the_test_above_reads_them() -> None:
    """Policies are shipped as files in admission/ (the chart templates them from
    there): a policy written into a template instead would go unchecked above."""
    for path in SHIPPED_POLICIES:
        kinds = {doc["kind"] for doc in _documents(path)}
        assert kinds <= {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    in_templates = [
        p.name
        for p in (CHART / "templates").glob("*.yaml")
        if "kind: ValidatingAdmissionPolicy" in p.read_text()
    ]
    assert not in_templates


def test_a_crd_rule_calling_an_unknown_function_is_refused_at_create(
    control_plane: ControlPlane,
) -> None:
    crd = _documents(SHIPPED_CRDS[0])[0]
    accepted, error = _create_dry_run(control_plane, _with_rule(crd, "self.noSuchFunction()"))
    assert not accepted
    assert "noSuchFunction" in error


def test_a_crd_rule_is_compiled_with_the_libraries_of_the_servers_release(
    control_plane: ControlPlane,
) -> None:
    """The check above sees releases apart: a CEL library newer than the server is
    refused, one it has is taken (the shipped files may use only the oldest's)."""
    crd = _documents(SHIPPED_CRDS[0])[0]
    accepted, error = _create_dry_run(
        control_plane, _with_rule(crd, "isSemver(self.metadata.name) || true")
    )
    has_semver = versions.key(control_plane.server_minor) >= versions.key(SEMVER_FIRST_MINOR)
    assert accepted == has_semver, error
