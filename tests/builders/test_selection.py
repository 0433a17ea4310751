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


def test_more_party_containers_than_template_containers_is_invalid_task() -> None:
    with pytest.raises(BuildError) as raised:
        _merge(_base(), _party(spec={"containers": [{}, {}, {"name": "third"}]}))
    assert raised.value.reason == "InvalidTask"
    assert "spec.parties[0].template.spec.containers" in raised.value.message
