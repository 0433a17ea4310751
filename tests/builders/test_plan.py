"""What a task produces per local party (SPEC §2, §3, §4) and how bad input is refused (§7)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from builders import BuildError, Cluster, Plan, plan
from builders.configmap import MAX_CONFIG_MAP_BYTES
from builders.models import AppImage, KusciaTask
from tests.builders import examples
from tests.builders.examples import (
    ALICE_AND_BOB,
    TASK_UID,
    make_app_image,
    make_task,
    objects_of,
    party,
)


def _app_task(cluster: Cluster = ALICE_AND_BOB, **task_kwargs: Any) -> Plan:
    image = examples.app_image("app-template", uid="img-uid", resource_version="7")
    return plan(examples.task("app-task", **task_kwargs), {"app-template": image}, cluster)


def _psi(cluster: Cluster = ALICE_AND_BOB) -> Plan:
    image = examples.app_image("secretflow-image")
    return plan(examples.task("secretflow-task-psi"), {"secretflow-image": image}, cluster)


def _named(result: Plan, kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects_of(kind, result.objects) if o["metadata"]["name"] == name)


def _first_pod(task: KusciaTask, image: AppImage) -> dict[str, Any]:
    return objects_of("Pod", plan(task, {"img": image}, ALICE_AND_BOB).objects)[0]


def _build_error(
    task: KusciaTask, images: dict[str, AppImage], cluster: Cluster = ALICE_AND_BOB
) -> BuildError:
    with pytest.raises(BuildError) as raised:
        plan(task, images, cluster)
    return raised.value


# --- names and counts -----------------------------------------------------------------


def test_each_local_party_gets_a_network_policy_and_per_pod_config_maps_services_and_pods() -> None:
    result = _app_task()
    names = [(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in result.objects]
    assert names == [
        ("NetworkPolicy", "alice", "app-task-server"),
        ("ConfigMap", "alice", "app-task-server-0-config"),
        ("Service", "alice", "app-task-server-0-global"),
        ("Pod", "alice", "app-task-server-0"),
        ("NetworkPolicy", "bob", "app-task-client"),
        ("ConfigMap", "bob", "app-task-client-0-config"),
        ("ConfigMap", "bob", "app-task-client-1-config"),
        ("Service", "bob", "app-task-client-0-global"),
        ("Service", "bob", "app-task-client-1-global"),
        ("Pod", "bob", "app-task-client-0"),
        ("Pod", "bob", "app-task-client-1"),
    ]


def test_a_party_without_a_role_is_named_task_index() -> None:
    result = _psi()
    pods = [o["metadata"]["name"] for o in objects_of("Pod", result.objects)]
    assert pods == ["secretflow-task-psi-0", "secretflow-task-psi-0"]
    assert (
        _named(result, "NetworkPolicy", "secretflow-task-psi")["metadata"]["namespace"] == "alice"
    )


def test_services_exist_for_cluster_and_domain_ports_never_local_ones() -> None:
    image = make_app_image(
        [
            {
                "name": "main",
                "ports": [
                    {"name": "c", "scope": "Cluster"},
                    {"name": "d", "scope": "Domain"},
                    {"name": "l", "scope": "Local"},
                    {"name": "default"},
                ],
            }
        ]
    )
    result = plan(make_task([party("alice")]), {"img": image}, ALICE_AND_BOB)
    assert [o["metadata"]["name"] for o in objects_of("Service", result.objects)] == [
        "t1-0-c",
        "t1-0-d",
    ]


def test_no_config_map_when_the_app_image_has_no_config_templates() -> None:
    result = plan(make_task([party("alice")]), {"img": make_app_image()}, ALICE_AND_BOB)
    assert objects_of("ConfigMap", result.objects) == []
    assert "volumes" not in objects_of("Pod", result.objects)[0]["spec"]


# --- labels and annotations ---------------------------------------------------------


def test_every_object_carries_the_task_labels_and_annotations() -> None:
    for obj in _app_task().objects:
        meta = obj["metadata"]
        assert meta["labels"]["kuscia.secretflow/controller"] == "kusciatask"
        assert meta["labels"]["kuscia.secretflow/task-uid"] == TASK_UID
        assert meta["labels"]["kuscia.secretflow/task-id"] == "app-task"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "kuscia-reconciler"
        assert meta["annotations"]["kuscia.secretflow/initiator"] == "alice"
        assert meta["annotations"]["kuscia.secretflow/task-id"] == "app-task"
        assert meta["annotations"]["kuscia.secretflow/image-id"] == "adlipoidu8yuahd6"


def test_pods_carry_role_and_identity_labels() -> None:
    labels = _named(_app_task(), "Pod", "app-task-client-1")["metadata"]["labels"]
    assert labels["kuscia.secretflow/pod-role"] == "client"
    assert labels["kuscia.secretflow/pod-identity"] == f"{TASK_UID}-client-1"


def test_services_carry_port_labels_and_protocol_and_access_domain_annotations() -> None:
    svc = _named(_app_task(), "Service", "app-task-server-0-global")
    assert svc["metadata"]["labels"]["kuscia.secretflow/port-name"] == "global"
    assert svc["metadata"]["labels"]["kuscia.secretflow/port-scope"] == "Cluster"
    assert svc["metadata"]["annotations"]["kuscia.secretflow/protocol"] == "TCP"
    # The server template admits role client only; bob is the client.
    assert svc["metadata"]["annotations"]["kuscia.secretflow/access-domain"] == "bob"


def test_image_id_annotation_only_when_the_image_has_an_id() -> None:
    result = plan(make_task([party("alice")]), {"img": make_app_image()}, ALICE_AND_BOB)
    assert all(
        "kuscia.secretflow/image-id" not in o["metadata"]["annotations"] for o in result.objects
    )


# --- pods -------------------------------------------------------------------------------


def test_pod_container_has_image_allocated_ports_port_env_and_config_mount() -> None:
    pod = _named(_app_task(), "Pod", "app-task-server-0")
    assert pod["spec"]["restartPolicy"] == "Never"
    [container] = pod["spec"]["containers"]
    assert container["image"] == "app-image:v1.0.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["ports"] == [{"name": "global", "containerPort": 20000, "protocol": "TCP"}]
    assert {"name": "KUSCIA_PORT_GLOBAL_NUMBER", "value": "20000"} in container["env"]
    assert container["volumeMounts"] == [
        {
            "name": "config-template",
            "mountPath": "/work/kuscia/task-config.conf",
            "subPath": "task-config.conf",
        }
    ]
    assert pod["spec"]["volumes"] == [
        {"name": "config-template", "configMap": {"name": "app-task-server-0-config"}}
    ]


def test_pod_copies_the_containers_command_env_probes_and_resources() -> None:
    pod = _named(_app_task(), "Pod", "app-task-client-0")
    [container] = pod["spec"]["containers"]
    assert container["command"] == ["sh"]
    assert container["args"][-1].endswith("--task_config_path=/etc/kuscia/task-config.conf")
    assert container["workingDir"] == "/work"
    assert container["envFrom"] == [{"configMapRef": {"name": "config-template"}}]
    assert container["readinessProbe"]["exec"]["command"] == ["cat", "/tmp/healthy"]
    assert container["livenessProbe"]["httpGet"]["port"] == "global"
    assert container["resources"]["limits"] == {"cpu": "100m", "memory": "100Mi"}
    # bob's party template appends EXTRA after the template's env.
    names = [e["name"] for e in container["env"]]
    assert names == ["APP_NAME", "EXTRA", "KUSCIA_PORT_GLOBAL_NUMBER"]


def test_pod_defaults_are_restart_never_and_pull_if_not_present() -> None:
    pod = _first_pod(make_task([party("alice")]), make_app_image([{"name": "main"}]))
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert pod["spec"]["containers"][0]["image"] == "repo/app:v1"


def test_a_repeated_env_name_keeps_one_entry_with_the_later_value() -> None:
    env = [{"name": "A", "value": "1"}, {"name": "B", "value": "x"}]
    image = make_app_image([{"name": "main", "env": env}])
    override = {"spec": {"containers": [{"env": [{"name": "A", "value": "2"}]}]}}
    pod = _first_pod(make_task([party("alice", template=override)]), image)
    assert pod["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "2"},
        {"name": "B", "value": "x"},
    ]


def test_env_value_from_passes_through() -> None:
    value_from = {"fieldRef": {"fieldPath": "status.podIP"}}
    image = make_app_image([{"name": "main", "env": [{"name": "IP", "valueFrom": value_from}]}])
    pod = _first_pod(make_task([party("alice")]), image)
    assert pod["spec"]["containers"][0]["env"][0] == {"name": "IP", "valueFrom": value_from}


def test_returned_objects_share_nothing_with_the_app_image() -> None:
    image = examples.app_image("app-template")
    first = plan(examples.task("app-task"), {"app-template": image}, ALICE_AND_BOB)
    probe = objects_of("Pod", first.objects)[0]["spec"]["containers"][0]["readinessProbe"]
    probe["exec"]["command"].append("mutated")
    second = plan(examples.task("app-task"), {"app-template": image}, ALICE_AND_BOB)
    probe = objects_of("Pod", second.objects)[0]["spec"]["containers"][0]["readinessProbe"]
    assert "mutated" not in probe["exec"]["command"]


# --- services ------------------------------------------------------------------------------


def test_services_are_headless_and_select_their_pod_by_identity() -> None:
    svc = _named(_app_task(), "Service", "app-task-client-1-global")
    assert svc["spec"] == {
        "type": "ClusterIP",
        "clusterIP": "None",
        "publishNotReadyAddresses": True,
        "selector": {"kuscia.secretflow/pod-identity": f"{TASK_UID}-client-1"},
        "ports": [{"name": "global", "port": 20000, "targetPort": "global", "protocol": "TCP"}],
    }


def test_party_plans_list_pods_and_services_with_endpoints() -> None:
    result = _app_task()
    bob = result.parties[1]
    assert (bob.domain_id, bob.role, bob.local, bob.namespace) == ("bob", "client", True, "bob")
    assert (bob.replicas, bob.min_reserved_pods, bob.app_image) == (2, 1, "app-template")
    assert bob.pods == ("app-task-client-0", "app-task-client-1")
    assert [s.endpoint for s in bob.services] == [
        "app-task-client-0-global.bob.svc:20000",
        "app-task-client-1-global.bob.svc:20000",
    ]
    assert result.parties[0].min_reserved_pods == 1  # defaults to replicas


# --- config maps and template variables ------------------------------------------------


def _config(result: Plan, pod: str) -> dict[str, Any]:
    data = _named(result, "ConfigMap", f"{pod}-config")["data"]
    parsed: dict[str, Any] = json.loads(data["task-config.conf"])
    return parsed


def test_task_config_has_task_id_and_input_config_as_given() -> None:
    task = examples.task("app-task")
    config = _config(_app_task(), "app-task-client-0")
    assert config["task_id"] == "app-task"
    assert config["task_input_config"] == task.spec.task_input_config


def test_cluster_define_lists_every_party_with_one_endpoint_per_replica_and_self_indexes() -> None:
    result = _app_task()
    for pod, party_index, endpoint_index in (
        ("app-task-server-0", 0, 0),
        ("app-task-client-0", 1, 0),
        ("app-task-client-1", 1, 1),
    ):
        define = json.loads(_config(result, pod)["task_input_cluster_def"])
        assert define == {
            "parties": [
                {
                    "name": "alice",
                    "role": "server",
                    "services": [
                        {
                            "portName": "global",
                            "endpoints": ["app-task-server-0-global.alice.svc:20000"],
                        }
                    ],
                },
                {
                    "name": "bob",
                    "role": "client",
                    "services": [
                        {
                            "portName": "global",
                            "endpoints": [
                                "app-task-client-0-global.bob.svc:20000",
                                "app-task-client-1-global.bob.svc:20000",
                            ],
                        }
                    ],
                },
            ],
            "selfPartyIdx": party_index,
            "selfEndpointIdx": endpoint_index,
        }


def test_allocated_ports_variable_lists_the_pods_ports() -> None:
    ports = json.loads(_config(_psi(), "secretflow-task-psi-0")["allocated_ports"])
    assert ports == {
        "ports": [
            {"name": "spu", "port": 20000, "scope": "Cluster", "protocol": "GRPC"},
            {"name": "fed", "port": 20001, "scope": "Cluster", "protocol": "GRPC"},
            {"name": "global", "port": 20002, "scope": "Domain", "protocol": "GRPC"},
        ]
    }


def test_domain_id_env_values_and_port_numbers_are_template_variables() -> None:
    image = make_app_image(
        [
            {
                "name": "main",
                "ports": [{"name": "grpc-api"}],
                "env": [{"name": "mode", "value": "fast"}],
            },
            {
                "name": "side",
                "env": [{"name": "MODE", "value": "slow"}, {"name": "TASK_ID", "value": "spoof"}],
            },
        ],
        config_templates={
            "c": "{{.KUSCIA_DOMAIN_ID}} {{.MODE}} {{.KUSCIA_PORT_GRPC_API_NUMBER}} {{.TASK_ID}}"
        },
    )
    result = plan(make_task([party("alice")]), {"img": image}, ALICE_AND_BOB)
    assert objects_of("ConfigMap", result.objects)[0]["data"] == {"c": "alice fast 20000 t1"}


def test_unknown_variables_render_empty_and_are_warned_per_pod() -> None:
    image = make_app_image(config_templates={"c": "[{{.GHOST}}]"})
    result = plan(
        make_task([party("alice", template={"replicas": 2})]), {"img": image}, ALICE_AND_BOB
    )
    assert [o["data"]["c"] for o in objects_of("ConfigMap", result.objects)] == ["[]", "[]"]
    assert [(w.file, w.variable, w.pod, w.namespace) for w in result.warnings] == [
        ("c", "GHOST", "t1-0", "alice"),
        ("c", "GHOST", "t1-1", "alice"),
    ]
    assert "'GHOST'" in result.warnings[0].message


def test_a_config_map_over_one_mebibyte_is_config_map_too_large() -> None:
    image = make_app_image(config_templates={"big": "{{.TASK_INPUT_CONFIG}}" * 64})
    task = make_task([party("alice")], task_input_config="x" * (MAX_CONFIG_MAP_BYTES // 64 + 1))
    error = _build_error(task, {"img": image})
    assert error.reason == "ConfigMapTooLarge"
    assert "t1-0-config" in error.message
    assert not error.waiting


def test_a_config_map_just_under_the_limit_is_built() -> None:
    image = make_app_image(config_templates={"big": "{{.TASK_INPUT_CONFIG}}"})
    task = make_task([party("alice")], task_input_config="x" * (MAX_CONFIG_MAP_BYTES - len("big")))
    assert objects_of("ConfigMap", plan(task, {"img": image}, ALICE_AND_BOB).objects)


# --- local and partner parties ------------------------------------------------------------


def test_only_local_parties_get_objects_but_every_party_is_planned() -> None:
    cluster = Cluster(namespaces=frozenset({"alice", "bob"}), partners=frozenset({"bob"}))
    result = _app_task(cluster)
    assert {o["metadata"]["namespace"] for o in result.objects} == {"alice"}
    assert [(p.domain_id, p.local) for p in result.parties] == [("alice", True), ("bob", False)]
    # The partner still appears in the cluster define the local party reads.
    define = json.loads(_config(result, "app-task-server-0")["task_input_cluster_def"])
    assert [p["name"] for p in define["parties"]] == ["alice", "bob"]


def test_a_partner_namespace_counts_as_existing() -> None:
    cluster = Cluster(namespaces=frozenset({"alice"}), partners=frozenset({"bob"}))
    assert [p.local for p in _app_task(cluster).parties] == [True, False]


# --- binding ---------------------------------------------------------------------------------


def test_bound_app_image_revisions_are_recorded_per_party() -> None:
    image = examples.app_image("app-template", uid="img-uid", resource_version="42")
    image = image.model_copy(
        update={"metadata": image.metadata.model_copy(update={"generation": 3})}
    )
    result = plan(examples.task("app-task"), {"app-template": image}, ALICE_AND_BOB)
    assert [b.model_dump(by_alias=True) for b in result.bound_app_images] == [
        {
            "domainID": d,
            "role": r,
            "appImageRef": "app-template",
            "uid": "img-uid",
            "resourceVersion": "42",
            "generation": 3,
        }
        for d, r in (("alice", "server"), ("bob", "client"))
    ]


def test_a_missing_app_image_makes_the_task_wait_naming_it() -> None:
    error = _build_error(examples.task("app-task"), {})
    assert error.reason == "AppImageNotFound"
    assert error.waiting
    assert "'app-template'" in error.message
    assert "spec.parties[0].appImageRef" in error.message
    assert error.app_image is None


def test_a_missing_namespace_makes_the_task_wait_naming_it() -> None:
    error = _build_error(
        examples.task("app-task"),
        {"app-template": examples.app_image("app-template")},
        Cluster(namespaces=frozenset({"alice"})),
    )
    assert error.reason == "NamespaceNotFound"
    assert error.waiting
    assert "'bob'" in error.message
    assert "spec.parties[1].domainID" in error.message


def test_an_invalid_app_image_fails_the_task_and_names_the_app_image() -> None:
    image = make_app_image([{"name": "a", "ports": [{"name": "x"}, {"name": "x"}]}])
    error = _build_error(make_task([party("alice", "host")]), {"img": image})
    assert error.reason == "DuplicatePortName"
    assert not error.waiting
    assert error.app_image == "img"
    assert "party alice/host" in error.message
    assert "spec.deployTemplates[0].spec.containers[0].ports[1].name" in error.message


def test_a_certain_failure_is_reported_before_a_wait() -> None:
    bad = make_app_image(name="bad", config_templates={"c": "{{ nope }}"})
    task = make_task([party("alice", "a", "missing"), party("bob", "b", "bad")])
    assert _build_error(task, {"bad": bad}).reason == "ConfigRenderFailed"


# --- bad tasks ---------------------------------------------------------------------------------


def test_two_parties_with_the_same_domain_and_role_are_duplicate_party() -> None:
    task = make_task([party("alice", "a"), party("alice", "a")])
    error = _build_error(task, {"img": make_app_image()})
    assert error.reason == "DuplicateParty"
    assert "spec.parties[0]" in error.message


def test_one_domain_may_take_two_roles() -> None:
    task = make_task([party("alice", "a"), party("alice", "b")])
    assert len(plan(task, {"img": make_app_image()}, ALICE_AND_BOB).parties) == 2


def test_a_task_name_over_63_characters_is_name_too_long() -> None:
    error = _build_error(make_task([party("alice")], name="t" * 64), {"img": make_app_image()})
    assert (error.reason, error.field) == ("NameTooLong", "metadata.name")


def test_a_pod_name_over_63_characters_is_kept_whole_and_its_services_are_hashed() -> None:
    image = make_app_image([{"name": "m", "ports": [{"name": "fed", "scope": "Cluster"}]}])
    task = make_task([party("alice", "r" * 40)], name="t" * 60)
    result = plan(task, {"img": image}, ALICE_AND_BOB)
    [pod] = objects_of("Pod", result.objects)
    assert pod["metadata"]["name"] == f"{'t' * 60}-{'r' * 40}-0"  # 103 characters, not refused
    [svc] = objects_of("Service", result.objects)
    assert len(svc["metadata"]["name"]) == 63
    identity = pod["metadata"]["labels"]["kuscia.secretflow/pod-identity"]
    assert svc["spec"]["selector"] == {"kuscia.secretflow/pod-identity": identity}


def test_a_pod_identity_over_63_characters_is_shortened_to_a_label_value() -> None:
    task = make_task([party("alice", "r" * 30)], name="t")
    [pod] = objects_of("Pod", plan(task, {"img": make_app_image()}, ALICE_AND_BOB).objects)
    identity = pod["metadata"]["labels"]["kuscia.secretflow/pod-identity"]
    assert len(identity) <= 63
    assert identity.startswith(TASK_UID)
    assert identity.endswith("-0")


def test_a_role_that_cannot_be_part_of_a_pod_name_is_invalid_name() -> None:
    error = _build_error(make_task([party("alice", "Host")]), {"img": make_app_image()})
    assert (error.reason, error.field) == ("InvalidName", "spec.parties[0].role")


def test_long_service_names_are_hashed_to_63_characters() -> None:
    image = make_app_image(
        [{"name": "m", "ports": [{"name": "longportname12", "scope": "Cluster"}]}]
    )
    task = make_task([party("alice", "role")], name="n" * 50)
    [svc] = objects_of("Service", plan(task, {"img": image}, ALICE_AND_BOB).objects)
    assert len(svc["metadata"]["name"]) == 63
    assert svc["metadata"]["name"].startswith("svc-nnn")
    assert svc["metadata"]["name"].endswith("-longportname12")


def test_min_reserved_pods_above_replicas_is_invalid_task() -> None:
    task = make_task([party("alice", minReservedPods=2)])
    error = _build_error(task, {"img": make_app_image()})
    assert (error.reason, error.field) == ("InvalidTask", "spec.parties[0].minReservedPods")


def test_two_parties_that_would_make_the_same_object_are_name_conflict() -> None:
    # Kuscia's names join parts with '-': pod t1-r-0 with port p-0-a and pod t1-r-0-p-0
    # with port a both want Service t1-r-0-p-0-a.
    ports = [{"name": "p-0-a", "scope": "Domain"}, {"name": "a", "scope": "Domain"}]
    image = make_app_image([{"name": "m", "ports": ports}])
    task = make_task([party("alice", "r"), party("alice", "r-0-p")])
    error = _build_error(task, {"img": image})
    assert error.reason == "NameConflict"
    assert "Service alice/t1-r-0-p-0-a" in error.message


# --- determinism -------------------------------------------------------------------------------


def test_the_same_input_gives_byte_identical_output() -> None:
    first, second = _app_task(), _app_task()
    assert json.dumps(first.objects) == json.dumps(second.objects)
    assert first == second


# --- Kuscia's fields ----------------------------------------------------------------------


def test_bandwidth_limits_annotate_each_of_the_partys_services() -> None:
    image = make_app_image(
        [
            {
                "name": "m",
                "ports": [{"name": "fed", "scope": "Cluster"}, {"name": "g", "scope": "Domain"}],
            }
        ]
    )
    limits = [
        {"destinationID": "bob", "limitKBps": 100},
        {"destinationID": "carol", "limitKBps": 5},
    ]
    task = make_task([party("alice", bandwidthLimits=limits), party("bob")])
    result = plan(task, {"img": image}, ALICE_AND_BOB)
    services = objects_of("Service", result.objects)
    for svc in services:
        annotations = svc["metadata"]["annotations"]
        bandwidth = {k: v for k, v in annotations.items() if "bandwidth-limit" in k}
        if svc["metadata"]["namespace"] == "alice":
            assert bandwidth == {
                "kuscia.secretflow/bandwidth-limit-bob": "100",
                "kuscia.secretflow/bandwidth-limit-carol": "5",
            }
        else:
            assert bandwidth == {}
    assert len(services) == 4


def test_a_bandwidth_destination_that_cannot_be_an_annotation_key_is_invalid_task() -> None:
    limits = [{"destinationID": "Bob_Domain", "limitKBps": 1}]
    error = _build_error(
        make_task([party("alice", bandwidthLimits=limits)]), {"img": make_app_image()}
    )
    assert (error.reason, error.field) == (
        "InvalidTask",
        "spec.parties[0].bandwidthLimits[0].destinationID",
    )


def test_a_metric_probe_puts_kuscias_scrape_annotations_on_the_pod() -> None:
    image = make_app_image(
        [
            {
                "name": "m",
                "ports": [{"name": "metrics", "port": 9091}],
                "metricProbe": {"path": "/metrics", "port": "metrics"},
            }
        ]
    )
    pod = _first_pod(make_task([party("alice")]), image)
    annotations = pod["metadata"]["annotations"]
    assert annotations["kuscia.secretflow/should_be_scraped"] == "true"
    assert annotations["kuscia.secretflow/metric_path"] == "/metrics"
    assert annotations["kuscia.secretflow/metric_port"] == "9091"
    assert "metricProbe" not in pod["spec"]["containers"][0]


def test_an_image_id_of_null_is_no_image_id() -> None:
    image = make_app_image(image={"name": "repo/app", "tag": "v1", "id": None})  # type: ignore[dict-item]
    pod = _first_pod(make_task([party("alice")]), image)
    assert "kuscia.secretflow/image-id" not in pod["metadata"]["annotations"]


def test_resource_claims_are_copied_into_the_container() -> None:
    image = make_app_image([{"name": "m", "resources": {"claims": [{"name": "gpu"}]}}])
    pod = _first_pod(make_task([party("alice")]), image)
    assert pod["spec"]["containers"][0]["resources"] == {"claims": [{"name": "gpu"}]}


def test_ignored_party_template_fields_are_listed_in_the_plan() -> None:
    template = {"spec": {"containers": [{"workingDir": "/elsewhere"}]}}
    result = plan(
        make_task([party("alice", template=template)]), {"img": make_app_image()}, ALICE_AND_BOB
    )
    assert [f.field for f in result.ignored_fields] == [
        "spec.parties[0].template.spec.containers[0].workingDir"
    ]
    assert "workingDir" not in objects_of("Pod", result.objects)[0]["spec"]["containers"][0]
