"""The benchmark's world: a private control plane with the party namespaces (`alice`,
`bob`), one task namespace per program, the example AppImage, and the example task
(two parties, 12 objects) as the API server stores it, for making any number of
distinct tasks and recording what the controller sends for each. Every task gets a
day of lifecycleSeconds, so none expires while a run is measuring it.
"""

from __future__ import annotations

import copy
import json
import pickle
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bench.kit import recorded
from bench.kit.apiclient import Api, Credentials
from bench.kit.plane import BenchPlane
from devcluster.cluster import REPO

EXAMPLES = REPO / "tests" / "fixtures" / "examples"
PARTIES = ("alice", "bob")
USERS = ("bench-ours", "bench-kopf", "bench-ceiling")
APP_IMAGES = "/apis/kuscia.secretflow/v1alpha1/appimages"
# With no kubelet, Pods never start; a task Pending past lifecycleSeconds (default 300)
# is failed and cleaned up, as it should be, but a settled task must stay settled for
# the length of a run. Nothing binds the pods either, so the reservation is as long.
LIFECYCLE_SECONDS = 86400


@dataclass
class World:
    plane: BenchPlane
    workdir: Path
    app_image: dict[str, Any]  # as stored
    namespaces: list[dict[str, Any]]  # as stored
    task_template: dict[str, Any]  # the example task as a dry-run create returned it

    def api(self, connections: int = 64) -> Api:
        return Api(Credentials.from_kubeconfig(self.plane.kubeconfig), connections=connections)

    def task_body(self, name: str, namespace: str) -> bytes:
        raw = yaml.safe_load((EXAMPLES / "secretflow-task-psi.yaml").read_text())
        raw["metadata"] = {"name": name, "namespace": namespace}
        raw["spec"]["scheduleConfig"] = {
            "lifecycleSeconds": LIFECYCLE_SECONDS,
            "resourceReservedSeconds": LIFECYCLE_SECONDS,
        }
        return json.dumps(raw).encode()

    async def record(
        self, names: list[str], namespace: str, *, rounds: int = 1
    ) -> dict[str, recorded.TaskRequests]:
        """What the controller sends for each named task once created (placeholder uids);
        `rounds`: as recorded.record."""
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        stored = []
        for i, name in enumerate(names):
            task = recorded.stored_task(
                self.task_template, name, recorded.placeholder_uid(i), created=created
            )
            task["metadata"]["namespace"] = namespace
            stored.append(task)
        requests = await recorded.record(
            stored, app_images=[self.app_image], namespaces=self.namespaces, rounds=rounds
        )
        return {
            name: recorded.TaskRequests(name, recorded.placeholder_uid(i), recorded.group_steps(r))
            for i, (name, r) in enumerate(zip(names, requests, strict=True))
        }

    def save_plan(self, plan: dict[str, recorded.TaskRequests], label: str) -> Path:
        path = self.workdir / f"plan-{label}.pickle"
        path.write_bytes(pickle.dumps(plan))
        return path


async def make_world(
    workdir: Path,
    task_namespaces: list[str],
    *,
    plane: BenchPlane | None = None,
    app_image_env: dict[str, str] | None = None,
) -> World:
    """`plane`: a bench plane of another kind, not yet started (the scheduled cluster);
    `app_image_env`: variables added to every container of the AppImage."""
    plane = plane or BenchPlane(workdir / "plane")
    for user in USERS:
        plane.add_user(user)
    plane.start()
    world = World(plane, workdir, {}, [], {})
    (workdir / "logs").mkdir(exist_ok=True)
    async with world.api() as api:
        for name in (*PARTIES, *task_namespaces):
            metadata: dict[str, Any] = {"name": name}
            if name in PARTIES:  # designated Kuscia domains
                metadata["labels"] = {"kuscia.secretflow/domain": "true"}
            await api.json(
                "POST",
                "/api/v1/namespaces",
                body={"apiVersion": "v1", "kind": "Namespace", "metadata": metadata},
            )
        image = yaml.safe_load((EXAMPLES / "secretflow-image.yaml").read_text())
        for template in image["spec"]["deployTemplates"] if app_image_env else []:
            for container in template["spec"]["containers"]:
                container.setdefault("env", []).extend(
                    {"name": name, "value": value} for name, value in app_image_env.items()
                )
        world.app_image = await api.json("POST", APP_IMAGES, body=image)
        listing = await api.json("GET", "/api/v1/namespaces")
        world.namespaces = listing["items"]
        template = json.loads(world.task_body("template", task_namespaces[0]))
        world.task_template = await api.json(
            "POST",
            f"/apis/kuscia.secretflow/v1alpha1/namespaces/{task_namespaces[0]}/kusciatasks",
            query=[("dryRun", "All")],
            body=template,
        )
    for obj in (world.app_image, *world.namespaces, world.task_template):
        obj["metadata"].pop("managedFields", None)
    world.task_template = copy.deepcopy(world.task_template)
    return world
