"""The user document's AppImage walk-through (tests/fixtures/AppImage.md), run
command by command with the control plane's own kubectl, output compared."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from devcluster.cluster import ControlPlane
from tests.conftest import SEED_DOC


@dataclass
class Step:
    kind: str  # "file" (a yaml block the reader saves) or "shell"
    text: str


def _walkthrough_steps() -> list[Step]:
    """The fenced blocks of the create/update/delete sections, in document order."""
    doc = SEED_DOC.read_text()
    doc = doc.split("## 参考")[0]
    return [
        Step("file" if lang == "yaml" else "shell", body)
        for lang, body in re.findall(r"```(yaml|shell)\n(.*?)```", doc, flags=re.S)
    ]


def _run(plane: ControlPlane, cwd: Path, command: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KUBECONFIG=str(plane.kubeconfig))
    env["PATH"] = f"{plane.kubectl.parent}:{env['PATH']}"
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_seed_walkthrough_commands_behave_as_the_document_shows(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    steps = _walkthrough_steps()
    assert [s.kind for s in steps] == ["file"] + ["shell"] * 3 + ["file"] + ["shell"] * 4
    last_file = ""
    for step in steps:
        if step.kind == "file":
            last_file = step.text
            (tmp_path / "secretflow-image.yaml").write_text(step.text)
            continue
        command, *shown = step.text.rstrip("\n").split("\n")
        result = _run(control_plane, tmp_path, command)
        output = (result.stdout + result.stderr).rstrip("\n").split("\n")
        if shown and shown[0].startswith("Error from server"):
            assert result.returncode != 0
            assert output == shown
        elif "grep" in command:
            assert result.returncode == 0, result.stderr
            # grep -A 3 also prints the line after the port's two fields (the
            # container's next field); the document's excerpt stops before it.
            assert output == [*shown, "        workingDir: /work"]
        elif command.endswith("-o yaml"):
            assert result.returncode == 0, result.stderr
            stored = yaml.safe_load(result.stdout)
            assert stored["spec"] == yaml.safe_load(last_file)["spec"]
            assert stored["metadata"]["name"] == "secretflow-image"
        elif command.startswith("kubectl get"):
            assert result.returncode == 0, result.stderr
            header, row = output
            assert header.split() == ["NAME", "IMAGE", "TAG", "VALID", "AGE"]
            assert row.split()[:3] == [
                "secretflow-image",
                "secretflow/secretflow-lite-anolis8",
                "latest",
            ]
        else:
            assert result.returncode == 0, result.stderr
            expected = (
                r'appimage\.kuscia\.secretflow "secretflow-image" deleted'
                if " delete " in command
                else r"appimage\.kuscia\.secretflow/secretflow-image (configured|created)"
            )
            assert re.fullmatch(expected, output[0]), output
