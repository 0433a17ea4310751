"""The example objects as models, and small factories for tests that need their own."""

from __future__ import annotations

from typing import Any

import yaml

from builders import Cluster
from builders.models import AppImage, KusciaTask
from tests.conftest import EXAMPLES

TASK_UID = "0b7f3a52-6c1d-4e8f-9a2b-3c4d5e6f7a8b"
EXAMPLE_PAIRS = (("secretflow-image", "secretflow-task-psi"), ("app-template", "app-task"))
ALICE_AND_BOB = Cluster(namespaces=frozenset({"alice", "bob"}))


def raw(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    return loaded


def app_image(name: str, *, uid: str = "", resource_version: str = "") -> AppImage:
    data = raw(name)
    data["metadata"].update(uid=uid, resourceVersion=resource_version)
    return AppImage.model_validate(data)


def task(name: str, *, uid: str = TASK_UID, **status: Any) -> KusciaTask:
    data = raw(name)
    data["metadata"]["uid"] = uid
    if status:
        data["status"] = status
    return KusciaTask.model_validate(data)


def make_app_image(
    containers: list[dict[str, Any]] | None = None,
    *,
    name: str = "img",
    config_templates: dict[str, str] | None = None,
    deploy_templates: list[dict[str, Any]] | None = None,
    uid: str = "",
    resource_version: str = "",
    image: dict[str, str] | None = None,
) -> AppImage:
    if deploy_templates is None:
        deploy_templates = [{"name": "d", "spec": {"containers": containers or [{"name": "main"}]}}]
    spec: dict[str, Any] = {
        "image": image or {"name": "repo/app", "tag": "v1"},
        "deployTemplates": deploy_templates,
    }
    if config_templates is not None:
        spec["configTemplates"] = config_templates
    return AppImage.model_validate(
        {"metadata": {"name": name, "uid": uid, "resourceVersion": resource_version}, "spec": spec}
    )


def make_task(
    parties: list[dict[str, Any]],
    *,
    name: str = "t1",
    uid: str = TASK_UID,
    task_input_config: str = "",
    status: dict[str, Any] | None = None,
) -> KusciaTask:
    return KusciaTask.model_validate(
        {
            "metadata": {"name": name, "namespace": "cross-domain", "uid": uid},
            "spec": {
                "initiator": parties[0]["domainID"],
                "taskInputConfig": task_input_config,
                "parties": parties,
            },
            "status": status or {},
        }
    )


def party(domain: str, role: str = "", app_image_ref: str = "img", **extra: Any) -> dict[str, Any]:
    return {"domainID": domain, "role": role, "appImageRef": app_image_ref, **extra}


def objects_of(kind: str, objects: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]
