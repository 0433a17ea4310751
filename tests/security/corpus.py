"""The bad-input corpus: malformed AppImages and tasks, each with the one reason it must get.

Every case edits a known-good AppImage and task (two parties, a Cluster port, a
config template) into something wrong, and states what must happen: the task's
reason and the field its message names, the AppImage's own `Valid` reason when the
fault is the AppImage's, or, for what the CRD schema can express, a refusal at
admission whose error names the field. Names are built per run, so the same cases
serve the builder-level tests and one end-to-end run against the real API server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from builders.limits import MAX_NESTING, MAX_PARTIES, MAX_PODS
from builders.models import API_VERSION
from builders.rendering import MAX_ACTIONS, MAX_QUERY_DEPTH, MAX_TEMPLATE_BYTES

Obj = dict[str, Any]
TEMPLATE = "task.conf"
GOOD_TEMPLATE = '{"id": "{{.TASK_ID}}", "input": "{{.TASK_INPUT_CONFIG}}"}\n'


@dataclass(frozen=True)
class Names:
    """Where one run puts its objects: the task namespace, two party namespaces, and a
    suffix that keeps cluster-scoped AppImage names apart between runs."""

    home: str = "cross-domain"
    alice: str = "alice"
    bob: str = "bob"
    suffix: str = ""

    def image(self, case_id: str) -> str:
        return f"{case_id}{self.suffix}"


def base_image(name: str) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": "AppImage",
        "metadata": {"name": name},
        "spec": {
            "image": {"name": "repo/app", "tag": "v1", "id": "sha256:0a1b2c"},
            "configTemplates": {TEMPLATE: GOOD_TEMPLATE},
            "deployTemplates": [
                {
                    "name": "app",
                    "replicas": 1,
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "command": ["sh", "-c", "run"],
                                "configVolumeMounts": [
                                    {"mountPath": "/etc/app/task.conf", "subPath": TEMPLATE}
                                ],
                                "ports": [
                                    {"name": "global", "protocol": "GRPC", "scope": "Cluster"}
                                ],
                            }
                        ]
                    },
                }
            ],
        },
    }


def base_task(name: str, names: Names, image: str) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": "KusciaTask",
        "metadata": {"name": name, "namespace": names.home},
        "spec": {
            "initiator": names.alice,
            "taskInputConfig": '{"rounds": 1}',
            "parties": [
                {"domainID": names.alice, "appImageRef": image},
                {"domainID": names.bob, "appImageRef": image},
            ],
        },
    }


Edit = Callable[[Obj, Obj, Names], None]


@dataclass(frozen=True)
class Case:
    id: str  # also the task's name, unless the edit renames it
    edit: Edit
    reason: str  # the task's reason; for admission cases, what the API server says
    field: str  # the field at fault, as BuildError.field / the admission error names it
    mention: str = ""  # what the message must contain, when not the field itself
    image_reason: str = ""  # the AppImage's Valid reason, when the fault is its own
    admission: str = ""  # "AppImage" or "KusciaTask": the object the API server refuses
    waits: bool = False  # Pending (the object may still appear) instead of Failed

    def build(self, names: Names) -> tuple[list[Obj], Obj]:
        image = base_image(names.image(self.id))
        task = base_task(self.id, names, names.image(self.id))
        self.edit(image, task, names)
        return ([image] if image else []), task

    @property
    def says(self) -> str:
        return self.mention or self.field


# --- small editing helpers -------------------------------------------------------------


def _template(image: Obj, index: int = 0) -> Obj:
    template: Obj = image["spec"]["deployTemplates"][index]
    return template


def _container(image: Obj, index: int = 0) -> Obj:
    container: Obj = _template(image)["spec"]["containers"][index]
    return container


def _nested(depth: int) -> Obj:
    value: Obj = {"leaf": True}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def _set_template(text: str) -> Edit:
    def edit(image: Obj, task: Obj, names: Names) -> None:
        image["spec"]["configTemplates"][TEMPLATE] = text

    return edit


def _with_roles(image: Obj, task: Obj, names: Names) -> None:
    """Two deploy templates, one per role, and parties that take them."""
    server = _template(image)
    server["role"] = "server"
    client = json.loads(json.dumps(server))
    client["role"] = "client"
    image["spec"]["deployTemplates"].append(client)
    task["spec"]["parties"][0]["role"] = "server"
    task["spec"]["parties"][1]["role"] = "client"


def _party_container(task: Obj, party: int = 0) -> Obj:
    template = task["spec"]["parties"][party].setdefault("template", {})
    containers = template.setdefault("spec", {}).setdefault("containers", [{}])
    container: Obj = containers[0]
    return container


# --- the cases -------------------------------------------------------------------------


def _no_deploy_template(image: Obj, task: Obj, names: Names) -> None:
    image["spec"]["deployTemplates"] = []


def _dup_port_in_container(image: Obj, task: Obj, names: Names) -> None:
    _container(image)["ports"].append({"name": "global", "scope": "Domain"})


def _dup_port_across_containers(image: Obj, task: Obj, names: Names) -> None:
    _template(image)["spec"]["containers"].append(
        {"name": "side", "ports": [{"name": "global", "scope": "Local"}]}
    )


def _dup_port_number(image: Obj, task: Obj, names: Names) -> None:
    _container(image)["ports"][0]["port"] = 8080
    _template(image)["spec"]["containers"].append(
        {"name": "side", "ports": [{"name": "metrics", "port": 8080}]}
    )


def _missing_sub_path(image: Obj, task: Obj, names: Names) -> None:
    _container(image)["configVolumeMounts"][0]["subPath"] = "nope.conf"


def _policy_unknown_port(image: Obj, task: Obj, names: Names) -> None:
    _template(image)["networkPolicy"] = {
        "ingresses": [{"from": {"roles": []}, "ports": [{"port": "nosuchport"}]}]
    }


def _policy_unknown_role(image: Obj, task: Obj, names: Names) -> None:
    _with_roles(image, task, names)
    _template(image)["networkPolicy"] = {
        "ingresses": [{"from": {"roles": ["stranger"]}, "ports": [{"port": "global"}]}]
    }


def _deep_query(image: Obj, task: Obj, names: Names) -> None:
    """A self-referencing index chain, one level deeper than allowed."""
    depth = MAX_QUERY_DEPTH + 1
    query = ".TASK_INPUT_CONFIG[" * depth + ".TASK_INPUT_CONFIG.a" + "]" * depth
    image["spec"]["configTemplates"][TEMPLATE] = "{{{" + query + "}}}"
    task["spec"]["taskInputConfig"] = '{"a": "a"}'


def _scan_bomb(image: Obj, task: Obj, names: Names) -> None:
    """Distinct `[k=...]` filters, each scanning a 20,000-element array."""
    task["spec"]["taskInputConfig"] = json.dumps({"rows": [{"k": i} for i in range(20_000)]})
    image["spec"]["configTemplates"][TEMPLATE] = "".join(
        "{{{.TASK_INPUT_CONFIG.rows[k=absent-" + f"{i}].k" + "}}}" for i in range(60)
    )


def _deep_input_json(image: Obj, task: Obj, names: Names) -> None:
    task["spec"]["taskInputConfig"] = "[" * 5000 + "]" * 5000
    image["spec"]["configTemplates"][TEMPLATE] = "{{{.TASK_INPUT_CONFIG[0]}}}"


def _output_bomb(image: Obj, task: Obj, names: Names) -> None:
    """2,000 copies of a 10 KB value: 20 MB from a 20 KB template."""
    task["spec"]["taskInputConfig"] = "x" * 10_000
    image["spec"]["configTemplates"][TEMPLATE] = "{{.TASK_INPUT_CONFIG}}" * 2000


def _huge_input(image: Obj, task: Obj, names: Names) -> None:
    task["spec"]["taskInputConfig"] = "x" * (1024 * 1024 + 10)


def _task_config_total(image: Obj, task: Obj, names: Names) -> None:
    """128 pods, each under the 1 MiB ConfigMap limit, together over the task's total."""
    task["spec"]["taskInputConfig"] = "x" * (600 * 1024)
    task["spec"]["parties"][0]["template"] = {"replicas": 64}
    task["spec"]["parties"][1]["template"] = {"replicas": 64}


def _deep_env_in_task(image: Obj, task: Obj, names: Names) -> None:
    _party_container(task)["env"] = [{"name": "X", "valueFrom": _nested(MAX_NESTING + 4)}]


def _thousand_parties(image: Obj, task: Obj, names: Names) -> None:
    task["spec"]["parties"] = [
        {
            "domainID": f"{names.alice}",
            "appImageRef": names.image("thousand-parties"),
            "role": f"r{i}",
        }
        for i in range(1000)
    ]


CASES: tuple[Case, ...] = (
    # --- the AppImage is wrong ---------------------------------------------------------
    Case(
        "no-deploy-template",
        _no_deploy_template,
        "should have at least 1 items",
        "spec.deployTemplates",
        admission="AppImage",
    ),
    Case(
        "dup-port-container",
        _dup_port_in_container,
        "port names must be unique",
        "spec.deployTemplates[0].spec.containers",
        admission="AppImage",
    ),
    Case(
        "dup-port-containers",
        _dup_port_across_containers,
        "port names must be unique",
        "spec.deployTemplates[0].spec.containers",
        admission="AppImage",
    ),
    Case(
        "dup-port-number",
        _dup_port_number,
        "DuplicatePortNumber",
        "spec.deployTemplates[0].spec.containers[1].ports[0].port",
        image_reason="DuplicatePortNumber",
    ),
    Case(
        "missing-sub-path",
        _missing_sub_path,
        "ConfigTemplateNotFound",
        "spec.deployTemplates[0].spec.containers[0].configVolumeMounts[0].subPath",
        image_reason="ConfigTemplateNotFound",
    ),
    Case(
        "policy-unknown-port",
        _policy_unknown_port,
        "InvalidNetworkPolicy",
        "spec.deployTemplates[0].networkPolicy.ingresses[0].ports[0].port",
        image_reason="InvalidNetworkPolicy",
    ),
    Case(
        "policy-unknown-role",
        _policy_unknown_role,
        "InvalidNetworkPolicy",
        "spec.deployTemplates[0].networkPolicy.ingresses[0].from.roles[0]",
        image_reason="InvalidNetworkPolicy",
    ),
    Case(
        "unclosed-action",
        _set_template('{"id": "{{.TASK_ID"}\n'),
        "ConfigRenderFailed",
        f"spec.configTemplates['{TEMPLATE}']",
        mention="line 1 column 9",
        image_reason="ConfigRenderFailed",
    ),
    Case(
        "jinja-escape",
        _set_template("{{ ''.__class__.__mro__[1].__subclasses__() }}"),
        "ConfigRenderFailed",
        f"spec.configTemplates['{TEMPLATE}']",
        mention="unsupported action",
        image_reason="ConfigRenderFailed",
    ),
    Case(
        "jinja-globals",
        _set_template("{{ lipsum.__globals__['os'].popen('id').read() }}"),
        "ConfigRenderFailed",
        f"spec.configTemplates['{TEMPLATE}']",
        mention="unsupported action",
        image_reason="ConfigRenderFailed",
    ),
    Case(
        "query-attribute-walk",
        _set_template("{{{.TASK_ID.__class__.__init__.__globals__}}}x{{ .A | attr('x') }}"),
        "ConfigRenderFailed",
        f"spec.configTemplates['{TEMPLATE}']",
        mention="line 1 column 47",
        image_reason="ConfigRenderFailed",
    ),
    Case(
        "bad-bracket",
        _set_template("{{{.TASK_INPUT_CONFIG[a]}}}"),
        "ConfigRenderFailed",
        f"spec.configTemplates['{TEMPLATE}']",
        mention="is not [N], [key=value] or [.NAME.path]",
        image_reason="ConfigRenderFailed",
    ),
    Case(
        "cyclic-index-chain",
        _deep_query,
        "ConfigRenderFailed",
        f"spec.configTemplates['{TEMPLATE}']",
        mention=f"queries nest more than {MAX_QUERY_DEPTH} levels deep",
        image_reason="ConfigRenderFailed",
    ),
    Case(
        "too-many-actions",
        _set_template("{{.TASK_ID}}," * (MAX_ACTIONS + 1)),
        "ConfigRenderFailed",
        f"spec.configTemplates['{TEMPLATE}']",
        mention=f"more than {MAX_ACTIONS}",
        image_reason="ConfigRenderFailed",
    ),
    Case(
        "template-too-large",
        _set_template("x" * (MAX_TEMPLATE_BYTES + 1)),
        "ConfigRenderFailed",
        f"spec.configTemplates['{TEMPLATE}']",
        mention=f"is {MAX_TEMPLATE_BYTES + 1} bytes",
        image_reason="ConfigRenderFailed",
    ),
    Case(
        "config-key-invalid",
        lambda image, task, names: image["spec"]["configTemplates"].update({"bad name!": "x"}),
        "InvalidAppImage",
        "spec.configTemplates['bad name!']",
        image_reason="InvalidAppImage",
    ),
    Case(
        "config-key-unicode",
        lambda image, task, names: image["spec"]["configTemplates"].update({"配置.conf": "x"}),
        "InvalidAppImage",
        "spec.configTemplates['配置.conf']",
        image_reason="InvalidAppImage",
    ),
    Case(
        "container-name-unicode",
        lambda image, task, names: _container(image).update(name="容器"),
        "InvalidAppImage",
        "spec.deployTemplates[0].spec.containers[0].name",
        image_reason="InvalidAppImage",
    ),
    Case(
        "container-name-upper",
        lambda image, task, names: _container(image).update(name="Main"),
        "InvalidAppImage",
        "spec.deployTemplates[0].spec.containers[0].name",
        image_reason="InvalidAppImage",
    ),
    Case(
        "dup-container-name",
        lambda image, task, names: _template(image)["spec"]["containers"].append({"name": "app"}),
        "InvalidAppImage",
        "spec.deployTemplates[0].spec.containers[1].name",
        image_reason="InvalidAppImage",
    ),
    Case(
        "dup-mount-path",
        lambda image, task, names: _container(image)["configVolumeMounts"].append(
            {"mountPath": "/etc/app/task.conf", "subPath": TEMPLATE}
        ),
        "InvalidAppImage",
        "spec.deployTemplates[0].spec.containers[0].configVolumeMounts[1].mountPath",
        image_reason="InvalidAppImage",
    ),
    Case(
        "port-name-unicode",
        lambda image, task, names: _container(image)["ports"][0].update(name="глобал"),
        "spec.deployTemplates[0].spec.containers[0].ports[0].name",
        "spec.deployTemplates[0].spec.containers[0].ports[0].name",
        admission="AppImage",
    ),
    Case(
        "port-name-digits",
        lambda image, task, names: _container(image)["ports"][0].update(name="8080"),
        "at least one letter",
        "spec.deployTemplates[0].spec.containers[0].ports[0].name",
        admission="AppImage",
    ),
    Case(
        "port-number-range",
        lambda image, task, names: _container(image)["ports"][0].update(port=70000),
        "should be less than or equal to 65535",
        "spec.deployTemplates[0].spec.containers[0].ports[0].port",
        admission="AppImage",
    ),
    Case(
        "empty-tag",
        lambda image, task, names: image["spec"]["image"].update(tag=""),
        "should be at least 1 chars long",
        "spec.image.tag",
        admission="AppImage",
    ),
    Case(
        "empty-image-name",
        lambda image, task, names: image["spec"]["image"].update(name=""),
        "InvalidAppImage",
        "spec.image.name",
        image_reason="InvalidAppImage",
    ),
    Case(
        "zero-replicas",
        lambda image, task, names: _template(image).update(replicas=0),
        "should be greater than or equal to 1",
        "spec.deployTemplates[0].replicas",
        admission="AppImage",
    ),
    Case(
        "ten-thousand-replicas",
        lambda image, task, names: _template(image).update(replicas=10_000),
        "TooManyPods",
        "spec.deployTemplates[0].replicas",
        image_reason="TooManyPods",
    ),
    Case(
        "nine-containers",
        lambda image, task, names: _template(image)["spec"].update(
            containers=[{"name": f"c{i}"} for i in range(9)]
        ),
        "Too many: 9",
        "spec.deployTemplates[0].spec.containers",
        admission="AppImage",
    ),
    Case(
        "deep-affinity",
        lambda image, task, names: _template(image)["spec"].update(
            affinity=_nested(MAX_NESTING + 8)
        ),
        "InvalidAppImage",
        "spec.deployTemplates[0].spec.affinity",
        image_reason="InvalidAppImage",
    ),
    Case(
        "deep-probe",
        lambda image, task, names: _container(image).update(readinessProbe=_nested(200)),
        "InvalidAppImage",
        "spec.deployTemplates[0].spec.containers[0].readinessProbe",
        image_reason="InvalidAppImage",
    ),
    Case(
        "deep-env-in-image",
        lambda image, task, names: _container(image).update(
            env=[{"name": "X", "valueFrom": _nested(MAX_NESTING + 1)}]
        ),
        "InvalidAppImage",
        "spec.deployTemplates[0].spec.containers[0].env[0]",
        image_reason="InvalidAppImage",
    ),
    # --- the task, or the task with its AppImage, is wrong -------------------------------
    Case(
        "scan-bomb",
        _scan_bomb,
        "ConfigRenderFailed",
        f"spec.configTemplates['{TEMPLATE}']",
        mention="JSON elements and bytes",
    ),
    Case(
        "deep-input-json",
        _deep_input_json,
        "ConfigRenderFailed",
        f"spec.configTemplates['{TEMPLATE}']",
        mention="nests too deeply",
    ),
    Case(
        "output-bomb",
        _output_bomb,
        "ConfigMapTooLarge",
        f"spec.configTemplates['{TEMPLATE}']",
        mention="would exceed 1048576 bytes",
    ),
    Case(
        "huge-input",
        _huge_input,
        "ConfigMapTooLarge",
        f"spec.configTemplates['{TEMPLATE}']",
        mention="would exceed 1048576 bytes",
    ),
    Case(
        "task-config-total",
        _task_config_total,
        "ConfigMapTooLarge",
        f"spec.configTemplates['{TEMPLATE}']",
        mention="the task's ConfigMaps together would exceed",
    ),
    Case(
        "input-over-request-limit",
        lambda image, task, names: task["spec"].update(taskInputConfig="x" * (3 * 1024 * 1024)),
        "too large",
        "",
        admission="KusciaTask",
    ),
    Case(
        "unknown-app-image",
        lambda image, task, names: [p.update(appImageRef="ghost") for p in task["spec"]["parties"]],
        "AppImageNotFound",
        "spec.parties[0].appImageRef",
        waits=True,
    ),
    Case(
        "missing-namespace",
        lambda image, task, names: task["spec"]["parties"][1].update(
            domainID=f"missing-{names.bob}"
        ),
        "NamespaceNotFound",
        "spec.parties[1].domainID",
        waits=True,
    ),
    Case(
        "dup-party",
        lambda image, task, names: task["spec"]["parties"][1].update(domainID=names.alice),
        "DuplicateParty",
        "spec.parties[1]",
    ),
    Case(
        "name-too-long",
        lambda image, task, names: task["metadata"].update(name="n" * 64),
        "NameTooLong",
        "metadata.name",
    ),
    Case(
        "task-name-unicode",
        lambda image, task, names: task["metadata"].update(name="задача"),
        "metadata.name",
        "metadata.name",
        admission="KusciaTask",
    ),
    Case(
        "role-unicode",
        lambda image, task, names: task["spec"]["parties"][0].update(role="服务端"),
        "InvalidName",
        "spec.parties[0].role",
    ),
    Case(
        "role-upper",
        lambda image, task, names: task["spec"]["parties"][0].update(role="Server"),
        "InvalidName",
        "spec.parties[0].role",
    ),
    Case(
        "domain-unicode",
        lambda image, task, names: task["spec"]["parties"][1].update(domainID="bób"),
        "InvalidName",
        "spec.parties[1].domainID",
    ),
    Case(
        "app-image-ref-unicode",
        lambda image, task, names: task["spec"]["parties"][0].update(appImageRef="образ"),
        "InvalidName",
        "spec.parties[0].appImageRef",
    ),
    Case(
        "app-image-ref-upper",
        lambda image, task, names: task["spec"]["parties"][0].update(appImageRef="MyImage"),
        "InvalidName",
        "spec.parties[0].appImageRef",
    ),
    Case(
        "thousand-parties",
        _thousand_parties,
        "TooManyParties",
        "spec.parties",
        mention=f"at most {MAX_PARTIES}",
    ),
    Case(
        "party-ten-thousand-replicas",
        lambda image, task, names: task["spec"]["parties"][0].update(template={"replicas": 10_000}),
        "TooManyPods",
        "spec.parties[0].template.replicas",
        mention=f"at most {MAX_PODS}",
    ),
    Case(
        "pods-over-total",
        lambda image, task, names: [
            p.update(template={"replicas": MAX_PODS // 2 + 1}) for p in task["spec"]["parties"]
        ],
        "TooManyPods",
        "spec.parties[0].template.replicas",
        mention=f"would run {MAX_PODS + 2} pods",
    ),
    Case(
        "min-reserved-over-replicas",
        lambda image, task, names: task["spec"]["parties"][1].update(minReservedPods=3),
        "InvalidTask",
        "spec.parties[1].minReservedPods",
    ),
    Case(
        "party-container-name",
        lambda image, task, names: _party_container(task).update(name="Bad_Name"),
        "InvalidTask",
        "spec.parties[0].template.spec.containers[0].name",
    ),
    Case(
        "deep-env-in-task",
        _deep_env_in_task,
        "InvalidTask",
        "spec.parties[0].template.spec.containers[0].env[0]",
    ),
    Case(
        "no-parties",
        lambda image, task, names: task["spec"].update(parties=[]),
        "should have at least 1 items",
        "spec.parties",
        admission="KusciaTask",
    ),
    Case(
        "empty-initiator",
        lambda image, task, names: task["spec"].update(initiator=""),
        "should be at least 1 chars long",
        "spec.initiator",
        admission="KusciaTask",
    ),
    Case(  # 0 is Kuscia's "the default"
        "negative-lifecycle",
        lambda image, task, names: task["spec"].update(scheduleConfig={"lifecycleSeconds": -1}),
        "should be greater than or equal to 0",
        "spec.scheduleConfig.lifecycleSeconds",
        admission="KusciaTask",
    ),
    Case(
        "negative-party-replicas",
        lambda image, task, names: task["spec"]["parties"][0].update(template={"replicas": -1}),
        "should be greater than or equal to 1",
        "spec.parties[0].template.replicas",
        admission="KusciaTask",
    ),
)

BY_ID = {case.id: case for case in CASES}
REACHING_THE_CONTROLLER = tuple(case for case in CASES if not case.admission)
REFUSED_AT_ADMISSION = tuple(case for case in CASES if case.admission)
