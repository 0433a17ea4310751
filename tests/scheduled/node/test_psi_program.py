"""The PSI demo program on its own, two processes on loopback: the protocol, and the
config file it reads as the AppImage renders it (JSON strings inside JSON)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from devcluster.cluster import free_port
from devcluster.node.node import BUILD_SCRIPT


@pytest.fixture(scope="module")
def psi_demo() -> Path:
    out = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "psi-demo"], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    return Path(out.strip().splitlines()[-1]) / "psi-demo"


def _configs(tmp_path: Path, sets: dict[str, list[str]]) -> list[Path]:
    ports = {name: free_port() for name in sets}
    parties = [
        {
            "name": name,
            "role": "",
            "services": [{"portName": "psi", "endpoints": [f"localhost:{ports[name]}"]}],
        }
        for name in sets
    ]
    paths = []
    for index, name in enumerate(sets):
        define = {"parties": parties, "selfPartyIdx": index, "selfEndpointIdx": 0}
        allocated = {
            "ports": [{"name": "psi", "port": ports[name], "scope": "Cluster", "protocol": "TCP"}]
        }
        config = {
            "task_id": "psi-task",
            "task_input_config": json.dumps({"psi_inputs": sets}),
            "task_cluster_def": json.dumps(define),
            "allocated_ports": json.dumps(allocated),
        }
        path = tmp_path / f"{name}.conf"
        path.write_text(json.dumps(config, indent=2))
        paths.append(path)
    return paths


def _result(stdout: str) -> dict[str, object]:
    (line,) = [line for line in stdout.splitlines() if line.startswith("PSI_RESULT ")]
    parsed: dict[str, object] = json.loads(line.removeprefix("PSI_RESULT "))
    return parsed


def test_two_parties_find_exactly_the_common_elements(psi_demo: Path, tmp_path: Path) -> None:
    sets = {"alice": ["a", "b", "c", "d", "b"], "bob": ["d", "c", "x", "y"]}
    first, second = _configs(tmp_path, sets)
    alice = subprocess.Popen(
        [str(psi_demo), "run", "-timeout=60s", str(first)], stdout=subprocess.PIPE, text=True
    )
    bob = subprocess.run(
        [str(psi_demo), "run", "-timeout=60s", str(second)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    alice_out, _ = alice.communicate(timeout=90)
    assert bob.returncode == 0, bob.stderr
    assert alice.returncode == 0
    assert _result(alice_out) == {"party": "alice", "peer": "bob", "intersection": ["c", "d"]}
    assert _result(bob.stdout) == {"party": "bob", "peer": "alice", "intersection": ["c", "d"]}
    # what crosses the wire is blinded: no element appears in either log
    for log in (alice_out, bob.stdout):
        assert '"a"' not in log.split("PSI_RESULT")[0]


def test_a_config_without_the_partys_set_is_an_error_naming_it(
    psi_demo: Path, tmp_path: Path
) -> None:
    first, _ = _configs(tmp_path, {"alice": ["a"], "bob": ["b"]})
    config = json.loads(first.read_text())
    config["task_input_config"] = json.dumps({"psi_inputs": {"bob": ["b"]}})
    first.write_text(json.dumps(config))
    result = subprocess.run(
        [str(psi_demo), "run", str(first)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "psi_inputs has no set for party alice" in result.stderr


def test_task_cluster_def_that_is_not_a_json_string_is_an_error(
    psi_demo: Path, tmp_path: Path
) -> None:
    first, _ = _configs(tmp_path, {"alice": ["a"], "bob": ["b"]})
    config = json.loads(first.read_text())
    config["task_cluster_def"] = "{parties"
    first.write_text(json.dumps(config))
    result = subprocess.run(
        [str(psi_demo), "inspect", str(first)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "task_cluster_def" in result.stderr
