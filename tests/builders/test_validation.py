"""An AppImage's own problems (SPEC §7), each named by reason and field path."""

from __future__ import annotations

from typing import Any

import pytest

from builders import Problem, validate_app_image
from tests.builders import examples
from tests.builders.examples import make_app_image


def _reasons(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.reason, p.field) for p in problems]


@pytest.mark.parametrize("name", ["secretflow-image", "secretflow-image-updated", "app-template"])
def test_the_example_app_images_are_valid(name: str) -> None:
    assert validate_app_image(examples.app_image(name)) == []


def test_no_deploy_template_is_reported() -> None:
    assert _reasons(validate_app_image(make_app_image(deploy_templates=[]))) == [
        ("DeployTemplateNotFound", "spec.deployTemplates")
    ]


def test_duplicate_port_names_across_containers_are_reported() -> None:
    image = make_app_image(
        [
            {"name": "a", "ports": [{"name": "grpc"}]},
            {"name": "b", "ports": [{"name": "grpc"}]},
        ]
    )
    assert _reasons(validate_app_image(image)) == [
        ("DuplicatePortName", "spec.deployTemplates[0].spec.containers[1].ports[0].name")
    ]


def test_duplicate_fixed_port_numbers_are_reported() -> None:
    image = make_app_image(
        [{"name": "a", "ports": [{"name": "x", "port": 80}, {"name": "y", "port": 80}]}]
    )
    assert _reasons(validate_app_image(image)) == [
        ("DuplicatePortNumber", "spec.deployTemplates[0].spec.containers[0].ports[1].port")
    ]


def test_a_sub_path_with_no_such_config_template_is_reported() -> None:
    image = make_app_image(
        [{"name": "a", "configVolumeMounts": [{"mountPath": "/etc/x.conf", "subPath": "x.conf"}]}],
        config_templates={"y.conf": "y"},
    )
    problems = validate_app_image(image)
    assert _reasons(problems) == [
        (
            "ConfigTemplateNotFound",
            "spec.deployTemplates[0].spec.containers[0].configVolumeMounts[0].subPath",
        )
    ]
    assert "'x.conf'" in problems[0].message
    assert "AppImage 'img'" in problems[0].message


def _with_policy(
    ingresses: list[dict[str, Any]], *, roles: tuple[str, ...] = ("server", "client")
) -> Any:
    return make_app_image(
        deploy_templates=[
            {
                "role": role,
                "networkPolicy": {"ingresses": ingresses} if i == 0 else None,
                "spec": {
                    "containers": [{"name": "a", "ports": [{"name": "global", "scope": "Cluster"}]}]
                },
            }
            for i, role in enumerate(roles)
        ]
    )


def test_a_network_policy_naming_an_unknown_port_is_reported() -> None:
    image = _with_policy([{"from": {"roles": ["client"]}, "ports": [{"port": "nope"}]}])
    assert _reasons(validate_app_image(image)) == [
        ("InvalidNetworkPolicy", "spec.deployTemplates[0].networkPolicy.ingresses[0].ports[0].port")
    ]


def test_a_network_policy_naming_an_unknown_role_is_reported() -> None:
    image = _with_policy([{"from": {"roles": ["client", "ghost"]}, "ports": [{"port": "global"}]}])
    assert _reasons(validate_app_image(image)) == [
        ("InvalidNetworkPolicy", "spec.deployTemplates[0].networkPolicy.ingresses[0].from.roles[1]")
    ]


def test_any_role_may_be_named_when_a_deploy_template_serves_every_role() -> None:
    image = _with_policy(
        [{"from": {"roles": ["anyone"]}, "ports": [{"port": "global"}]}], roles=("server", "")
    )
    assert validate_app_image(image) == []


def test_an_unparsable_template_is_config_render_failed_with_file_and_position() -> None:
    image = make_app_image(config_templates={"app.conf": "ok\n{{ oops }}"})
    problems = validate_app_image(image)
    assert _reasons(problems) == [("ConfigRenderFailed", "spec.configTemplates['app.conf']")]
    assert "line 2 column 1" in problems[0].message


@pytest.mark.parametrize(
    ("containers", "field"),
    [
        ([{"name": "Main"}], "spec.deployTemplates[0].spec.containers[0].name"),
        ([{"name": "a"}, {"name": "a"}], "spec.deployTemplates[0].spec.containers[1].name"),
        (
            [{"name": "a", "ports": [{"name": "Bad_Name"}]}],
            "spec.deployTemplates[0].spec.containers[0].ports[0].name",
        ),
        (
            [
                {
                    "name": "a",
                    "configVolumeMounts": [
                        {"mountPath": "/x", "subPath": "c"},
                        {"mountPath": "/x", "subPath": "c"},
                    ],
                }
            ],
            "spec.deployTemplates[0].spec.containers[0].configVolumeMounts[1].mountPath",
        ),
    ],
)
def test_containers_that_could_not_run_in_a_pod_are_invalid(
    containers: list[dict[str, Any]], field: str
) -> None:
    image = make_app_image(containers, config_templates={"c": ""})
    assert _reasons(validate_app_image(image)) == [("InvalidAppImage", field)]


def test_an_image_without_a_name_is_invalid() -> None:
    image = make_app_image(image={"name": "", "tag": "v1"})
    assert _reasons(validate_app_image(image)) == [("InvalidAppImage", "spec.image.name")]


def test_a_config_template_name_that_is_no_config_map_key_is_invalid() -> None:
    image = make_app_image(config_templates={"etc/app.conf": "x"})
    assert _reasons(validate_app_image(image)) == [
        ("InvalidAppImage", "spec.configTemplates['etc/app.conf']")
    ]


def test_every_problem_is_reported_not_only_the_first() -> None:
    image = make_app_image(
        [
            {
                "name": "a",
                "ports": [{"name": "x"}, {"name": "x"}],
                "configVolumeMounts": [{"mountPath": "/m", "subPath": "gone"}],
            }
        ],
        config_templates={"bad": "{{"},
    )
    assert {p.reason for p in validate_app_image(image)} == {
        "DuplicatePortName",
        "ConfigTemplateNotFound",
        "ConfigRenderFailed",
    }


def test_a_metric_probe_naming_a_port_the_template_lacks_is_invalid_app_image() -> None:
    image = make_app_image([{"name": "m", "metricProbe": {"path": "/metrics", "port": "nope"}}])
    [problem] = validate_app_image(image)
    assert problem.reason == "InvalidAppImage"
    assert problem.field == "spec.deployTemplates[0].spec.containers[0].metricProbe.port"
