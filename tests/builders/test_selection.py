"""Deploy template selection and the party template merge (SPEC §2)."""

from __future__ import annotations

from typing import Any

import pytest

from builders import BuildError, selection
from builders.models import AppImage, Party
from tests.builders.examples import make_app_image


def _templates(*roles: str) -> AppImage:
    return make_app_image(
        deploy_templates=[
            {"name": f"t{i}", "role": role, "spec": {"containers": [{"name": "main"}]}}
            for i, role in enumerate(roles)
        ]
    )


def _party(role: str = "", **template: Any) -> Party:
    return Party.model_validate(
        {"domainID": "alice", "appImageRef": "img", "role": role, "template": template}
    )


def _merge(app_image: AppImage, party: Party) -> Any:
    return selection.select_and_merge(
        app_image, party, party_field="spec.parties[0]", task_name="t"
    )


@pytest.mark.parametrize(
    ("roles", "party_role", "chosen"),
    [
        (("guest", "host"), "host", 1),
        (("guest,host", "host"), "host", 0),
        (("guest, host", ""), "host", 0),
        (("guest", "", "host"), "host", 2),
        (("guest", "", ""), "other", 1),
        (("guest", "host"), "other", 0),
        (("guest", ""), "", 1),
        (("guest", "host"), "", 0),
    ],
)
def test_deploy_template_is_the_role_match_else_the_empty_role_else_the_first(
    roles: tuple[str, ...], party_role: str, chosen: int
) -> None:
    index, template = selection.select(_templates(*roles), party_role)
    assert index == chosen
    assert template.name == f"t{chosen}"


def test_an_app_image_without_deploy_templates_is_deploy_template_not_found() -> None:
    empty = make_app_image(deploy_templates=[])
    with pytest.raises(BuildError) as raised:
        selection.select(empty, "host")
    assert raised.value.reason == "DeployTemplateNotFound"


def _base() -> AppImage:
    return make_app_image(
        deploy_templates=[
            {
                "name": "d",
                "replicas": 1,
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "command": ["run"],
                            "args": ["--a"],
                            "env": [{"name": "A", "value": "1"}],
                            "resources": {
                                "limits": {"cpu": "1", "memory": "1Gi"},
                                "requests": {"cpu": "500m"},
                            },
                        },
                        {"name": "side", "command": ["side"]},
                    ],
                },
            }
        ]
    )


def test_party_template_replicas_and_restart_policy_replace() -> None:
    merged = _merge(_base(), _party(replicas=3, spec={"restartPolicy": "OnFailure"})).template
    assert merged.replicas == 3
    assert merged.spec.restart_policy == "OnFailure"


def test_containers_merge_by_index_and_name_replaces() -> None:
    merged = _merge(_base(), _party(spec={"containers": [{}, {"name": "helper"}]})).template
    assert [c.name for c in merged.spec.containers] == ["main", "helper"]


def test_command_and_args_replace_together_when_either_is_given() -> None:
    merged = _merge(_base(), _party(spec={"containers": [{"args": ["--b"]}]})).template
    main = merged.spec.containers[0]
    assert main.command is None
    assert main.args == ["--b"]


def test_env_is_appended() -> None:
    merged = _merge(_base(), _party(spec={"containers": [{"env": [{"name": "B", "value": "2"}]}]}))
    assert [(e.name, e.value) for e in merged.template.spec.containers[0].env] == [
        ("A", "1"),
        ("B", "2"),
    ]


def test_each_resources_key_replaces() -> None:
    party = _party(
        spec={
            "containers": [{"resources": {"limits": {"cpu": "2"}, "requests": {"memory": "1Gi"}}}]
        }
    )
    resources = _merge(_base(), party).template.spec.containers[0].resources
    assert resources is not None
    assert resources.limits == {"cpu": "2", "memory": "1Gi"}
    assert resources.requests == {"cpu": "500m", "memory": "1Gi"}


def test_without_a_party_template_the_deploy_template_is_used_as_is() -> None:
    base = _base()
    assert _merge(base, _party()).template == base.spec.deploy_templates[0]


def test_template_restart_policy_beside_spec_is_the_partys_restart_policy() -> None:
    chosen = _merge(_base(), _party(restartPolicy="OnFailure", spec={}))
    assert chosen.template.spec.restart_policy == "OnFailure"
    assert chosen.ignored == ()


def test_spec_restart_policy_wins_over_the_one_beside_spec_which_is_reported() -> None:
    chosen = _merge(_base(), _party(restartPolicy="Always", spec={"restartPolicy": "OnFailure"}))
    assert chosen.template.spec.restart_policy == "OnFailure"
    assert [f.field for f in chosen.ignored] == ["spec.parties[0].template.restartPolicy"]


IGNORED_CONTAINER_FIELDS = {
    "workingDir": "/elsewhere",
    "configVolumeMounts": [{"mountPath": "/etc/x", "subPath": "x"}],
    "ports": [{"name": "extra", "port": 8080, "protocol": "TCP", "scope": "Cluster"}],
    "envFrom": [{"secretRef": {"name": "other"}}],
    "readinessProbe": {"exec": {"command": ["true"]}},
    "livenessProbe": {"httpGet": {"path": "/", "port": 80}},
    "startupProbe": {"tcpSocket": {"port": 80}},
    "metricProbe": {"path": "/metrics", "port": "extra"},
    "imagePullPolicy": "Always",
    "securityContext": {"runAsUser": 0},
}


@pytest.mark.parametrize(("field", "value"), sorted(IGNORED_CONTAINER_FIELDS.items()))
def test_a_container_field_kuscia_does_not_merge_is_ignored_and_reported(
    field: str, value: Any
) -> None:
    base = _base()
    chosen = _merge(base, _party(spec={"containers": [{field: value}]}))
    assert chosen.template == base.spec.deploy_templates[0]
    [ignored] = chosen.ignored
    assert ignored.field == f"spec.parties[0].template.spec.containers[0].{field}"
    assert ignored.container == "main"
    assert "alice/" in ignored.message
    assert "'main'" in ignored.message
    assert ignored.field in ignored.message


def test_a_party_template_repeating_the_deploy_template_is_merged_without_a_word() -> None:
    """What Kuscia's KusciaJob controller writes when a job sets resources: the whole
    deploy-template container list, copied."""
    base = _base()
    copied = [
        c.model_dump(by_alias=True, exclude_none=True)
        for c in base.spec.deploy_templates[0].spec.containers
    ]
    copied[0]["resources"] = {"limits": {"cpu": "2"}}
    chosen = _merge(base, _party(replicas=1, spec={"restartPolicy": "Never", "containers": copied}))
    assert chosen.ignored == ()
    resources = chosen.template.spec.containers[0].resources
    assert resources is not None
    assert resources.limits["cpu"] == "2"


def test_party_affinity_is_ignored_and_reported() -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}
    base = _base()
    chosen = _merge(base, _party(spec={"affinity": affinity}))
    assert chosen.template.spec.affinity is None
    assert [f.field for f in chosen.ignored] == ["spec.parties[0].template.spec.affinity"]


def test_resources_claims_are_ignored_and_reported_while_limits_merge() -> None:
    party = _party(
        spec={"containers": [{"resources": {"limits": {"cpu": "3"}, "claims": [{"name": "gpu"}]}}]}
    )
    chosen = _merge(_base(), party)
    resources = chosen.template.spec.containers[0].resources
    assert resources is not None
    assert resources.limits["cpu"] == "3"
    assert resources.claims == []
    assert [f.field for f in chosen.ignored] == [
        "spec.parties[0].template.spec.containers[0].resources.claims"
    ]


def test_more_party_containers_than_template_containers_are_ignored_and_reported() -> None:
    base = _base()
    chosen = _merge(base, _party(spec={"containers": [{}, {}, {"name": "third"}]}))
    assert [c.name for c in chosen.template.spec.containers] == ["main", "side"]
    [ignored] = chosen.ignored
    assert ignored.field == "spec.parties[0].template.spec.containers[2]"
    assert ignored.container == "third"
    assert "the deploy template has fewer containers" in ignored.message
