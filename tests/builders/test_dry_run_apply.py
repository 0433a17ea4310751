"""Every object the examples produce is accepted by the real API server
(server-side apply, dryRun=All): schema-valid Pods, Services, ConfigMaps and
NetworkPolicies."""

from __future__ import annotations

import json

import pytest

from builders import plan
from devcluster.cluster import ControlPlane
from tests.builders import examples


def _ensure_namespace(control_plane: ControlPlane, name: str) -> None:
    manifest = control_plane.run_kubectl(
        "create", "namespace", name, "--dry-run=client", "-o", "yaml"
    ).stdout
    control_plane.run_kubectl("apply", "-f", "-", stdin=manifest)


@pytest.mark.parametrize(
    ("image", "task"), examples.EXAMPLE_PAIRS, ids=[t for _, t in examples.EXAMPLE_PAIRS]
)
def test_every_example_object_is_accepted_by_server_side_apply_dry_run(
    control_plane: ControlPlane, image: str, task: str
) -> None:
    app_image = examples.app_image(image)
    result = plan(examples.task(task), {app_image.metadata.name: app_image}, examples.ALICE_AND_BOB)
    for namespace in ("alice", "bob"):
        _ensure_namespace(control_plane, namespace)
    kinds = set()
    for obj in result.objects:
        applied = control_plane.run_kubectl(
            "apply",
            "--server-side",
            "--dry-run=server",
            "--field-manager=kuscia-reconciler",
            "-o",
            "json",
            "-f",
            "-",
            stdin=json.dumps(obj),
            check=False,
        )
        name = f"{obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}"
        assert applied.returncode == 0, f"{name} rejected: {applied.stderr}"
        echoed = json.loads(applied.stdout)
        assert echoed["metadata"]["name"] == obj["metadata"]["name"]
        assert echoed["metadata"]["labels"] == obj["metadata"]["labels"]
        kinds.add(obj["kind"])
    assert kinds == {"Pod", "Service", "ConfigMap", "NetworkPolicy"}
