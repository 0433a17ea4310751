"""The examples rendered by `kuscia-reconciler render` match the reviewed golden files,
and every rendered `task-config.conf` is JSON whose cluster define is right for its pod.

Regenerate after an intended change with `UPDATE_GOLDEN=1 pytest tests/builders/test_golden.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.commands.render import run_render
from tests.builders.examples import EXAMPLE_PAIRS
from tests.conftest import EXAMPLES

GOLDEN = Path(__file__).parent / "golden"


def _render(image: str, task: str, capsys: pytest.CaptureFixture[str]) -> str:
    code = run_render([EXAMPLES / f"{image}.yaml", EXAMPLES / f"{task}.yaml"], None)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""
    return captured.out


@pytest.mark.parametrize(("image", "task"), EXAMPLE_PAIRS, ids=[t for _, t in EXAMPLE_PAIRS])
def test_rendered_examples_match_the_golden_files(
    image: str, task: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rendered = _render(image, task, capsys)
    golden = GOLDEN / f"{task}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize(("image", "task"), EXAMPLE_PAIRS, ids=[t for _, t in EXAMPLE_PAIRS])
def test_every_pods_task_config_is_json_with_its_own_cluster_define(
    image: str, task: str, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = list(yaml.safe_load_all(_render(image, task, capsys)))
    task_spec = yaml.safe_load((EXAMPLES / f"{task}.yaml").read_text())["spec"]
    pods = [o for o in objects if o["kind"] == "Pod"]
    services = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o
        for o in objects
        if o["kind"] == "Service"
    }
    config_maps = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o
        for o in objects
        if o["kind"] == "ConfigMap"
    }
    assert pods
    for pod in pods:
        namespace = pod["metadata"]["namespace"]
        volume = pod["spec"]["volumes"][0]["configMap"]["name"]
        config = json.loads(config_maps[(namespace, volume)]["data"]["task-config.conf"])
        assert config["task_id"] == task
        assert config["task_input_config"] == task_spec["taskInputConfig"]
        define_key = (
            "task_cluster_def" if "task_cluster_def" in config else "task_input_cluster_def"
        )
        define = json.loads(config[define_key])
        assert [(p["name"], p["role"]) for p in define["parties"]] == [
            (p["domainID"], p.get("role", "")) for p in task_spec["parties"]
        ]
        me = define["parties"][define["selfPartyIdx"]]
        assert me["name"] == namespace
        assert me["role"] == pod["metadata"]["labels"]["kuscia.secretflow/pod-role"]
        own_ports = json.loads(config["allocated_ports"])["ports"]
        for service in me["services"]:
            endpoint = service["endpoints"][define["selfEndpointIdx"]]
            host, port = endpoint.rsplit(":", 1)
            name, domain, suffix = host.split(".")
            assert (domain, suffix) == (namespace, "svc")
            svc: dict[str, Any] = services[(namespace, name)]
            assert svc["spec"]["selector"] == {
                "kuscia.secretflow/pod-identity": pod["metadata"]["labels"][
                    "kuscia.secretflow/pod-identity"
                ]
            }
            assert int(port) == svc["spec"]["ports"][0]["port"]
            assert {"name": service["portName"], "port": int(port)}.items() <= next(
                p for p in own_ports if p["name"] == service["portName"]
            ).items()
