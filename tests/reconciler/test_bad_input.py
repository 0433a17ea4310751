"""Every malformed AppImage or task of SPEC §7 gets its specific reason on the
task (and on the AppImage where the fault is the AppImage's), with an Event,
while a good task in the same run finishes normally."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.reconciler.conftest import Cluster, RunController, example, wait_for

Edit = Callable[[dict[str, Any]], None]


def _container(image: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = image["spec"]["deployTemplates"][0]["spec"]["containers"][0]
    return container


def _missing_subpath(image: dict[str, Any]) -> None:
    _container(image)["configVolumeMounts"][0]["subPath"] = "nope.conf"


def _policy_unknown_port(image: dict[str, Any]) -> None:
    image["spec"]["deployTemplates"][0]["networkPolicy"]["ingresses"][0]["ports"] = [
        {"port": "nosuchport"}
    ]


def _policy_unknown_role(image: dict[str, Any]) -> None:
    image["spec"]["deployTemplates"][0]["networkPolicy"]["ingresses"][0]["from"]["roles"] = [
        "stranger"
    ]


def _unparsable_template(image: dict[str, Any]) -> None:
    image["spec"]["configTemplates"]["task-config.conf"] = '{"id": "{{.TASK_ID"}\n'


BAD_IMAGES: dict[str, tuple[str, Edit, str]] = {
    # name suffix: (example, edit, reason)
    "subpath": ("secretflow-image.yaml", _missing_subpath, "ConfigTemplateNotFound"),
    "port": ("app-template.yaml", _policy_unknown_port, "InvalidNetworkPolicy"),
    "role": ("app-template.yaml", _policy_unknown_role, "InvalidNetworkPolicy"),
    "parse": ("secretflow-image.yaml", _unparsable_template, "ConfigRenderFailed"),
}


def _status(cluster: Cluster, kind: str, name: str, namespace: str | None = None) -> Any:
    obj = cluster.get(kind, name, namespace) or {}
    return obj.get("status") or {}


async def test_each_bad_input_gets_its_own_reason_and_others_are_unaffected(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3)
    missing_ns = f"missing-{home}"
    images: dict[str, str] = {}
    for suffix, (source, edit, _) in BAD_IMAGES.items():
        image = example(source)
        image["metadata"]["name"] = images[suffix] = f"bad-{suffix}-{home}"
        edit(image)
        cluster.kubectl_apply(image)
    cluster.kubectl_apply(example("secretflow-image.yaml"), example("app-template.yaml"))

    tasks: dict[str, tuple[dict[str, Any], str]] = {}

    def add(name: str, task: dict[str, Any], reason: str) -> None:
        task["metadata"]["name"] = name
        tasks[name] = (task, reason)

    for suffix, (source, _, reason) in BAD_IMAGES.items():
        task_source = (
            "app-task.yaml" if source == "app-template.yaml" else "secretflow-task-psi.yaml"
        )
        add(
            f"img-{suffix}",
            cluster.task(task_source, home, [alice, bob], app_image=images[suffix]),
            reason,
        )
    add(
        "unknown-image",
        cluster.task("secretflow-task-psi.yaml", home, [alice, bob], app_image="ghost"),
        "AppImageNotFound",
    )
    add(
        "no-namespace",
        cluster.task("secretflow-task-psi.yaml", home, [alice, missing_ns]),
        "NamespaceNotFound",
    )

    def same_party_twice(task: dict[str, Any]) -> None:
        task["spec"]["parties"][1]["domainID"] = task["spec"]["parties"][0]["domainID"]

    add(
        "dup-party",
        cluster.task("secretflow-task-psi.yaml", home, [alice, bob], edit=same_party_twice),
        "DuplicateParty",
    )

    def huge_input(task: dict[str, Any]) -> None:
        task["spec"]["taskInputConfig"] = "x" * (1024 * 1024 + 10)

    add(
        "huge-input",
        cluster.task("secretflow-task-psi.yaml", home, [alice, bob], edit=huge_input),
        "ConfigMapTooLarge",
    )
    add("n" * 64, cluster.task("app-task.yaml", home, [alice, bob]), "NameTooLong")
    good = cluster.task("secretflow-task-psi.yaml", home, [alice, bob], name="good")
    cluster.kubectl_apply(good, *(task for task, _ in tasks.values()))

    for name, (_, reason) in tasks.items():
        status = await wait_for(
            lambda name=name: (s := _status(cluster, "kusciatask", name, home)).get("reason") and s
        )
        assert status["reason"] == reason, (name, status)
        assert status["message"], name
        expected_phase = (
            "Pending" if reason in ("AppImageNotFound", "NamespaceNotFound") else "Failed"
        )
        assert status["phase"] == expected_phase, (name, status)

    for suffix, (_, _, reason) in BAD_IMAGES.items():
        status = await wait_for(
            lambda suffix=suffix: (
                (s := _status(cluster, "appimage", images[suffix])).get("conditions") and s
            )
        )
        valid = status["conditions"][0]
        assert (valid["type"], valid["status"], valid["reason"]) == ("Valid", "False", reason)
        assert images[suffix] in valid["message"]
    good_image = await wait_for(
        lambda: (s := _status(cluster, "appimage", "secretflow-image")).get("conditions") and s
    )
    assert good_image["conditions"][0]["status"] == "True"
    printed = cluster.kubectl("get", "aimg", images["parse"])
    assert printed.split("\n")[1].split()[3] == "False"  # the Valid column

    # Nothing was made for any bad task; the good one made its pods and runs on.
    await wait_for(lambda: cluster.objects_created(home, "good"))
    for ns in (alice, bob):
        pods = {p["metadata"]["name"] for p in cluster.list("pods", ns)}
        assert pods == {"good-0"}, (ns, pods)
    cluster.set_pod_phase(alice, "good-0", "Succeeded")
    cluster.set_pod_phase(bob, "good-0", "Succeeded")
    await wait_for(lambda: _status(cluster, "kusciatask", "good", home).get("phase") == "Succeeded")

    events = json.loads(cluster.kubectl("get", "events", "-n", home, "-o", "json"))["items"]
    by_task = {(e["involvedObject"]["name"], e["reason"]) for e in events}
    for name, (_, reason) in tasks.items():
        assert (name, reason) in by_task, name


async def test_objects_of_another_task_or_a_user_are_never_taken_over(
    cluster: Cluster, run_controller: RunController
) -> None:
    controller = await run_controller()
    home, other_home, alice, bob = cluster.namespaces(4)
    cluster.kubectl_apply(example("secretflow-image.yaml"))
    user_config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "clash-0-config", "namespace": bob},
        "data": {"task-config.conf": "mine"},
    }
    cluster.kubectl_apply(user_config)
    cluster.kubectl_apply(cluster.task("secretflow-task-psi.yaml", home, [alice, bob], name="same"))
    first_uid = (await wait_for(lambda: cluster.get("kusciatask", "same", home)))["metadata"]["uid"]
    # The other task is told apart by the cache: wait until it shows all 12 objects
    # (a same-named task reconciled before that is a race this test does not cover).
    await wait_for(lambda: sum(map(len, controller.caches.children_of(first_uid).values())) == 12)
    # A task of the same name in another namespace would make the same objects.
    cluster.kubectl_apply(
        cluster.task("secretflow-task-psi.yaml", other_home, [alice, bob], name="same"),
        cluster.task("secretflow-task-psi.yaml", home, [alice, bob], name="clash"),
    )
    second = await wait_for(
        lambda: (s := _status(cluster, "kusciatask", "same", other_home)).get("reason") and s
    )
    assert (second["phase"], second["reason"]) == ("Failed", "NameConflict")
    assert f"Pod {alice}/same-0 already belongs to another task" in second["message"]
    clash = await wait_for(
        lambda: (s := _status(cluster, "kusciatask", "clash", home)).get("reason") and s
    )
    assert (clash["phase"], clash["reason"]) == ("Failed", "NameConflict")
    assert f"ConfigMap {bob}/clash-0-config exists and is not ours" in clash["message"]
    assert cluster.get("configmap", "clash-0-config", bob)["data"] == {"task-config.conf": "mine"}  # type: ignore[index]
    first = _status(cluster, "kusciatask", "same", home)
    assert first["phase"] == "Pending"
    assert "reason" not in first


async def test_unknown_template_variable_renders_empty_and_is_reported(
    cluster: Cluster, run_controller: RunController
) -> None:
    await run_controller()
    home, alice, bob = cluster.namespaces(3)
    image = example("secretflow-image.yaml")
    image["metadata"]["name"] = f"unknown-var-{home}"
    image["spec"]["configTemplates"]["task-config.conf"] = '{"x": "{{.NO_SUCH_THING}}"}'
    cluster.kubectl_apply(image)
    cluster.kubectl_apply(
        cluster.task(
            "secretflow-task-psi.yaml", home, [alice, bob], app_image=image["metadata"]["name"]
        )
    )
    config = await wait_for(lambda: cluster.get("configmap", "secretflow-task-psi-0-config", alice))
    assert config["data"]["task-config.conf"] == '{"x": ""}'
    status = await wait_for(
        lambda: (
            (s := _status(cluster, "kusciatask", "secretflow-task-psi", home)).get("message") and s
        )
    )
    assert "NO_SUCH_THING" in status["message"]
    assert "task-config.conf" in status["message"]
    events = json.loads(cluster.kubectl("get", "events", "-n", home, "-o", "json"))["items"]
    assert any(
        e["reason"] == "UnknownTemplateVariable" and "NO_SUCH_THING" in e["message"] for e in events
    )
