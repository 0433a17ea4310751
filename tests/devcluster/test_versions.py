"""The Kubernetes minors the local cluster builds: one wrapper module each, pinned to
one release; KUBE_VERSION picks one and nothing else; kube-controller-manager is told
only of controllers its release has."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from devcluster import versions
from devcluster.assets import BUILD_SCRIPT, find_assets
from devcluster.scheduled import UNWANTED_CONTROLLERS, ScheduledCluster, known_controllers


def test_the_supported_minors_are_1_31_to_1_37_with_none_missing() -> None:
    assert versions.supported() == tuple(f"1.{minor}" for minor in range(31, 38))
    assert (versions.oldest(), versions.newest()) == ("1.31", "1.37")


@pytest.mark.parametrize(
    ("given", "minor"), [("v1.31.14", "1.31"), ("1.37", "1.37"), ("v1.34.0-rc.1", "1.34")]
)
def test_minor_of_reads_releases_and_minors(given: str, minor: str) -> None:
    assert versions.minor_of(given) == minor


def test_minor_of_names_what_is_no_version() -> None:
    with pytest.raises(ValueError, match="'latest'"):
        versions.minor_of("latest")


def test_kube_version_picks_a_supported_minor_and_refuses_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(versions.ENV, "1.31")
    assert versions.requested() == "1.31"
    monkeypatch.delenv(versions.ENV)
    assert versions.requested() == versions.newest()
    monkeypatch.setenv(versions.ENV, "1.29")
    with pytest.raises(ValueError, match=r"supported: 1\.31, 1\.32"):
        versions.requested()


def test_the_build_script_refuses_a_minor_without_a_wrapper_module() -> None:
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "kube-apiserver"],
        env={**os.environ, versions.ENV: "1.29"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "KUBE_VERSION=1.29 has no wrapper module" in result.stderr


@pytest.mark.parametrize("minor", versions.supported())
def test_each_wrapper_module_pins_one_release_and_its_staging_modules(minor: str) -> None:
    go_mod = (versions.KUBE_MODULES / minor / "go.mod").read_text()
    releases = set(re.findall(r"k8s\.io/kubernetes (v1\.\d+\.\d+)", go_mod))
    assert len(releases) == 1
    assert versions.minor_of(releases.pop()) == minor
    staging = re.findall(r"^replace (k8s\.io/[a-z0-9-]+) => \1 (v\S+)$", go_mod, re.M)
    assert len(staging) > 20
    assert {version.split(".")[1] for _, version in staging} == {minor.split(".")[1]}


# Whether a release's kube-controller-manager has the serving-cert trust bundle
# publisher (read from the binaries' --help); naming a controller a release does not
# know stops kube-controller-manager at start.
HAS_PUBLISHER = {"1.31": False, "1.37": True}


def test_the_controller_manager_is_asked_to_leave_out_only_controllers_it_has(
    tmp_path: Path,
) -> None:
    assets = find_assets(("kube-controller-manager",))
    known = known_controllers(assets["kube-controller-manager"])
    assert {"namespace-controller", "garbage-collector-controller"} <= known
    flag = ScheduledCluster(tmp_path, assets=assets)._controllers_flag()
    name, _, listed = flag.partition("=")
    left_out = [item.removeprefix("-") for item in listed.split(",")[1:]]
    assert (name, listed.split(",")[0]) == ("--controllers", "*")
    assert left_out == [c for c in UNWANTED_CONTROLLERS if c in known]
    publisher = "kube-apiserver-serving-clustertrustbundle-publisher-controller"
    if versions.requested() in HAS_PUBLISHER:
        assert (publisher in left_out) == HAS_PUBLISHER[versions.requested()]
