"""The container image, as far as a machine with no container engine can check
it: the Dockerfile's shape, what it sends to the build, and the one thing it
does, installing the package's wheel into a clean virtualenv and running it."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.chart.chart import CHART, load_values
from tests.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def test_dockerfile_is_multi_stage_and_ships_only_the_virtualenv() -> None:
    stages = [rest for word, rest in _instructions() if word == "FROM"]
    assert len(stages) >= 2
    assert stages[0].endswith(" AS build")
    copies = [rest for word, rest in _final_stage() if word == "COPY"]
    assert copies == ["--from=build /opt/kuscia-reconciler /opt/kuscia-reconciler"]
    build = " ".join(rest for word, rest in _instructions() if word == "RUN")
    assert "pip wheel" in build
    assert "--no-index --find-links /wheels kuscia-reconciler" in build


def test_both_stages_stand_on_the_base_image_argument() -> None:
    """A local base (devcluster.images.controller) replaces the slim Python image in
    both stages, so the virtualenv's interpreter is the runtime's."""
    instructions = _instructions()
    assert ("ARG", "BASE_IMAGE=python:${PYTHON_VERSION}-slim") in instructions
    stages = [rest for word, rest in instructions if word == "FROM"]
    assert stages == ["${BASE_IMAGE} AS build", "${BASE_IMAGE}"]
    build = " ".join(rest for word, rest in instructions if word == "RUN")
    # WHEELHOUSE set: pip takes every wheel from there; unset: from the package index.
    assert '${WHEELHOUSE:+--no-index --find-links "$WHEELHOUSE"}' in build


def test_image_runs_the_controller_as_the_charts_non_root_user() -> None:
    final = dict(_final_stage())
    assert json.loads(final["ENTRYPOINT"]) == ["kuscia-reconciler", "run"]
    user, _, group = final["USER"].partition(":")
    assert user.isdigit()
    assert int(user) != 0
    assert int(group or user) != 0
    pod = load_values(CHART / "values.yaml")["podSecurityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(user), int(group or user))


def test_build_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def sent(path: str) -> bool:
        included = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            bare = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, bare) or path.startswith(bare + "/"):
                included = negated
        return included

    for word, rest in _instructions():
        if word == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert sent(source.rstrip("/")), f"COPY {source} is excluded by .dockerignore"
    for unwanted in (".venv", ".git", "tests", "charts", "bench", ".local"):
        assert not sent(unwanted), f"{unwanted} would be sent to the build"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        check=True,
        timeout=600,
    )
    (found,) = out.glob("kuscia_reconciler-*.whl")
    return found


def test_wheel_holds_the_three_packages_and_their_type_markers(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names if not name.split("/")[0].endswith("-info")}
    assert packages == {"builders", "informers", "reconciler"}
    for package in packages:
        assert f"{package}/py.typed" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "kuscia-reconciler = reconciler.commands.cli:main" in text


def test_wheel_installs_in_a_clean_virtualenv_and_its_command_runs(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
        timeout=600,
    )
    command = venv / "bin" / "kuscia-reconciler"
    top = subprocess.run([str(command), "--help"], capture_output=True, text=True, timeout=60)
    assert top.returncode == 0, top.stderr
    assert "run" in top.stdout
    run = subprocess.run(
        [str(command), "run", "--help"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    for flag in ("--leader-elect", "--metrics-bind-address", "--health-probe-bind-address"):
        assert flag in run.stdout
