"""A party template cannot widen what the AppImage grants: security contexts, privileged
containers, added capabilities and the pod's host and service-account fields come from
the AppImage only; a party template asking for one gains nothing and is reported."""

from __future__ import annotations

from typing import Any

import pytest

from builders import plan
from tests.builders.examples import ALICE_AND_BOB, make_app_image, make_task, objects_of, party

CONTAINER_ASKS = {
    "privileged": {"securityContext": {"privileged": True}},
    "capabilities": {"securityContext": {"capabilities": {"add": ["SYS_ADMIN", "NET_ADMIN"]}}},
    "root": {"securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": True}},
}
POD_ASKS = {
    "hostNetwork": True,
    "hostPID": True,
    "hostIPC": True,
    "serviceAccountName": "cluster-admin-sa",
    "serviceAccount": "cluster-admin-sa",
    "automountServiceAccountToken": True,
    "securityContext": {"runAsUser": 0, "sysctls": [{"name": "net.ipv4.ip_forward", "value": "1"}]},
    "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
}
GRANTED = {"runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}


def _pod_and_ignored(template: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    image = make_app_image([{"name": "main", "securityContext": GRANTED}])
    task = make_task([party("alice", template=template)])
    result = plan(task, {"img": image}, ALICE_AND_BOB)
    [pod] = objects_of("Pod", result.objects)
    return pod, [f.field for f in result.ignored_fields]


@pytest.mark.parametrize("ask", sorted(CONTAINER_ASKS))
def test_a_party_container_asking_for_more_privilege_gains_nothing(ask: str) -> None:
    pod, ignored = _pod_and_ignored({"spec": {"containers": [CONTAINER_ASKS[ask]]}})
    [container] = pod["spec"]["containers"]
    assert container["securityContext"] == GRANTED  # the AppImage's, exactly
    assert ignored == ["spec.parties[0].template.spec.containers[0].securityContext"]


@pytest.mark.parametrize("field", sorted(POD_ASKS))
def test_a_party_template_asking_for_a_host_or_service_account_field_gains_nothing(
    field: str,
) -> None:
    pod, ignored = _pod_and_ignored({"spec": {field: POD_ASKS[field]}})
    spec = pod["spec"]
    assert field not in spec or spec[field] is False
    assert "serviceAccountName" not in spec
    assert "hostNetwork" not in spec
    assert all("hostPath" not in volume for volume in spec.get("volumes", []))
    assert spec["automountServiceAccountToken"] is False
    assert ignored == [f"spec.parties[0].template.spec.{field}"]


def test_a_party_template_saying_false_or_empty_asks_for_nothing_and_is_not_reported() -> None:
    _, ignored = _pod_and_ignored(
        {"spec": {"hostNetwork": False, "hostPID": False, "serviceAccountName": "", "volumes": []}}
    )
    assert ignored == []
