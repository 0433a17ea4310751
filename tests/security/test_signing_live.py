"""`--image-verify-key` end to end: with trusted keys an AppImage whose sign does not verify is
invalid and tasks using it fail with ImageSignatureInvalid, while running tasks are left alone;
without keys nothing changes."""

from __future__ import annotations

from typing import Any

import yaml

from reconciler import signing
from tests.reconciler.conftest import Cluster, RunController, wait_for
from tests.security.corpus import Names, base_image, base_task
from tests.security.keys import key_pair


def _status(cluster: Cluster, kind: str, name: str, namespace: str | None = None) -> Any:
    obj = cluster.get(kind, name, namespace) or {}
    return obj.get("status") or {}


def _signed(image: dict[str, Any], key: signing.Ed25519PrivateKey) -> dict[str, Any]:
    """Signed the way a user would: `sign` over the YAML file."""
    signed: dict[str, Any] = yaml.safe_load(
        signing.sign_yaml(yaml.safe_dump(image), key, "image.yaml").text
    )
    return signed


async def _reason(cluster: Cluster, name: str, namespace: str) -> dict[str, Any]:
    status: dict[str, Any] = await wait_for(
        lambda: (s := _status(cluster, "kusciatask", name, namespace)).get("reason") and s
    )
    return status


async def _valid(cluster: Cluster, name: str, status: str) -> dict[str, Any]:
    def condition() -> Any:
        conditions = _status(cluster, "appimage", name).get("conditions") or [{}]
        return conditions[0].get("status") == status and conditions[0]

    found: dict[str, Any] = await wait_for(condition)
    return found


async def test_only_app_images_signed_by_a_trusted_key_run(
    cluster: Cluster, run_controller: RunController
) -> None:
    trusted, stranger = key_pair(), key_pair()
    keys = signing.parse_public_keys(key_pair().public_pem + trusted.public_pem, "keys")
    await run_controller(image_verify_keys=keys)
    home, alice, bob = cluster.namespaces(3)
    names = Names(home, alice, bob)
    signed = _signed(base_image(f"signed-{home}"), trusted.private)
    unsigned = base_image(f"unsigned-{home}")
    foreign = _signed(base_image(f"foreign-{home}"), stranger.private)
    retagged = _signed(base_image(f"retagged-{home}"), trusted.private)
    retagged["spec"]["image"]["tag"] = "v2"
    cluster.kubectl_apply(signed, unsigned, foreign, retagged)
    cluster.kubectl_apply(
        *(
            base_task(task, names, image["metadata"]["name"])
            for task, image in (
                ("good", signed),
                ("unsigned", unsigned),
                ("foreign", foreign),
                ("retagged", retagged),
            )
        )
    )

    for task, image in (("unsigned", unsigned), ("foreign", foreign), ("retagged", retagged)):
        name = image["metadata"]["name"]
        status = await _reason(cluster, task, home)
        assert (status["phase"], status["reason"]) == ("Failed", "ImageSignatureInvalid")
        assert f"AppImage {name!r}: spec.image.sign" in status["message"]
        valid = await _valid(cluster, name, "False")
        assert valid["reason"] == "ImageSignatureInvalid"
        assert "spec.image.sign" in valid["message"]
    assert "is empty" in (await _reason(cluster, "unsigned", home))["message"]
    assert "repo/app:v2@sha256:0a1b2c" in (await _reason(cluster, "retagged", home))["message"]
    assert (await _valid(cluster, signed["metadata"]["name"], "True"))["reason"] == "Valid"
    await wait_for(
        lambda: cluster.get("pod", "good-0", alice) and cluster.get("pod", "good-0", bob)
    )
    assert not cluster.list("pods", alice, "kuscia.secretflow/task-id=unsigned")

    # Breaking the signature later marks the AppImage invalid and stops new tasks, but a
    # task that already made its pods keeps running on the revision it was bound to.
    broken = {**signed, "spec": {**signed["spec"], "image": {**signed["spec"]["image"]}}}
    broken["spec"]["image"]["sign"] = "bm90IGEgc2lnbmF0dXJl"
    cluster.kubectl_apply(broken)
    await _valid(cluster, signed["metadata"]["name"], "False")
    cluster.kubectl_apply(base_task("late", names, signed["metadata"]["name"]))
    assert (await _reason(cluster, "late", home))["reason"] == "ImageSignatureInvalid"
    cluster.set_pod_phase(alice, "good-0", "Succeeded")
    cluster.set_pod_phase(bob, "good-0", "Succeeded")
    await wait_for(lambda: _status(cluster, "kusciatask", "good", home).get("phase") == "Succeeded")


async def test_without_verify_keys_signatures_are_not_checked(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3)
    image = base_image(f"unsigned-{home}")
    image["spec"]["image"]["sign"] = "not-a-signature"
    cluster.kubectl_apply(image)
    cluster.kubectl_apply(base_task("plain", Names(home, alice, bob), image["metadata"]["name"]))
    await _valid(cluster, image["metadata"]["name"], "True")
    await wait_for(lambda: cluster.get("pod", "plain-0", alice))
    assert "reason" not in _status(cluster, "kusciatask", "plain", home)
