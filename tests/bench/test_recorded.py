"""The ceiling replays what the controller's own reconcile sends for a fresh task."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import yaml

from bench.kit import recorded
from tests.conftest import EXAMPLES

DOMAIN = {"kuscia.secretflow/domain": "true"}
NAMESPACES = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": DOMAIN}}
    for n in ("alice", "bob")
] + [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cross-domain"}}]


def _app_image() -> dict[str, Any]:
    image: dict[str, Any] = yaml.safe_load((EXAMPLES / "secretflow-image.yaml").read_text())
    image["metadata"].update(uid="image-uid", generation=1, resourceVersion="7")
    return image


def _task(uid: str) -> dict[str, Any]:
    template = yaml.safe_load((EXAMPLES / "secretflow-task-psi.yaml").read_text())
    return recorded.stored_task(template, "psi-1", uid, created="2026-01-01T00:00:00Z")


CREATED = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)  # the reconcile runs a second later


async def _record(uid: str) -> list[recorded.Request]:
    (requests,) = await recorded.record(
        [_task(uid)], app_images=[_app_image()], namespaces=NAMESPACES, now=CREATED
    )
    return requests


async def test_a_fresh_task_is_finalizer_objects_event_status_event_then_gates_released() -> None:
    steps = recorded.group_steps(await _record(recorded.placeholder_uid(1)))
    kinds = [[(r.kind, r.subresource) for r in step] for step in steps]
    assert kinds[0] == [("KusciaTask", "")]
    assert sorted(k for k, _ in kinds[1]) == sorted(
        ["NetworkPolicy", "ConfigMap", "Service", "Service", "Service", "Pod"] * 2
    )
    assert kinds[2:5] == [[("Event", "")], [("KusciaTask", "status")], [("Event", "")]]
    # The same reconcile's next pass, over the status it wrote: the pods' gates released.
    assert kinds[5:] == [[("Pod", ""), ("Pod", "")]]
    gated = [json.loads(r.body)["spec"].get("schedulingGates") for r in steps[1] if r.kind == "Pod"]
    released = [json.loads(r.body)["spec"].get("schedulingGates") for r in steps[5]]
    assert all(gated)
    assert not any(released)
    assert all(r.method == "PATCH" for step in steps for r in step)
    assert all(r.content_type == "application/apply-patch+yaml" for step in steps for r in step)


async def test_swapping_in_the_real_uid_gives_what_the_controller_sends_for_it() -> None:
    placeholder, real = recorded.placeholder_uid(3), "6f1c0a52-3a9e-4d1b-9a57-0c1f3e2d4b5a"
    swapped = recorded.TaskRequests(
        "psi-1", placeholder, recorded.group_steps(await _record(placeholder))
    ).for_uid(real)
    direct = recorded.group_steps(await _record(real))
    pairs = list(zip([r for s in swapped for r in s], [r for s in direct for r in s], strict=True))
    for got, want in pairs:
        if got.kind == "Event":  # named after a hash of the uid; only the name differs
            got_body, want_body = json.loads(got.body), json.loads(want.body)
            got_body["metadata"].pop("name")
            want_body["metadata"].pop("name")
            assert got_body == want_body
        else:
            assert got == want


def test_placeholder_uids_are_distinct_and_shaped_like_uids() -> None:
    uids = {recorded.placeholder_uid(i) for i in range(1000)}
    assert len(uids) == 1000
    assert all(len(u) == 36 and u.count("-") == 4 for u in uids)


def test_consecutive_child_applies_form_one_step() -> None:
    def request(kind: str, subresource: str = "") -> recorded.Request:
        return recorded.Request("PATCH", "/p", (), "t", b"{}", kind, subresource)

    kinds = ["KusciaTask", "Pod", "Service", "Event", "KusciaTask", "ConfigMap"]
    steps = recorded.group_steps(
        [request(kind, "status" if i == 4 else "") for i, kind in enumerate(kinds)]
    )
    assert [len(step) for step in steps] == [1, 2, 1, 1, 1]
