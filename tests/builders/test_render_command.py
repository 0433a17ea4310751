"""`kuscia-reconciler render`: multi-document YAML on stdout, errors on stderr with exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.render_command import run_render
from tests.conftest import EXAMPLES

IMAGE = EXAMPLES / "app-template.yaml"
TASK = EXAMPLES / "app-task.yaml"


def _run(
    capsys: pytest.CaptureFixture[str],
    files: list[Path],
    namespaces: list[str] | None = None,
    partners: tuple[str, ...] = (),
) -> tuple[int, str, str]:
    code = run_render(files, namespaces, partners)
    out, err = capsys.readouterr()
    return code, out, err


def test_prints_every_object_as_multi_document_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, [IMAGE, TASK])
    assert (code, err) == (0, "")
    kinds = [doc["kind"] for doc in yaml.safe_load_all(out)]
    assert kinds.count("Pod") == 3
    assert set(kinds) == {"NetworkPolicy", "ConfigMap", "Service", "Pod"}


def test_several_documents_in_one_file_are_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    combined = tmp_path / "both.yaml"
    combined.write_text(IMAGE.read_text() + "\n---\n" + TASK.read_text())
    code, out, _ = _run(capsys, [combined])
    assert code == 0
    assert out == _run(capsys, [IMAGE, TASK])[1]


def test_only_the_given_namespaces_exist(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, [IMAGE, TASK], namespaces=["alice"])
    assert (code, out) == (1, "")
    assert "NamespaceNotFound" in err
    assert "'bob'" in err


def test_partner_parties_produce_no_objects(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, [IMAGE, TASK], namespaces=["alice"], partners=("bob",))
    assert code == 0
    assert {doc["metadata"]["namespace"] for doc in yaml.safe_load_all(out)} == {"alice"}


def test_a_missing_app_image_is_an_error_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, [TASK])
    assert (code, out) == (1, "")
    assert "AppImageNotFound" in err
    assert "'app-template'" in err


def test_a_schema_error_names_the_file_object_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    raw = yaml.safe_load(IMAGE.read_text())
    raw["spec"]["deployTemplates"][0]["spec"]["containers"][0]["ports"][0]["scope"] = "Galaxy"
    bad.write_text(yaml.safe_dump(raw))
    code, out, err = _run(capsys, [bad, TASK])
    assert (code, out) == (1, "")
    assert str(bad) in err
    assert "AppImage 'app-template'" in err
    assert "spec.deployTemplates[0].spec.containers[0].ports[0].scope" in err


def test_unreadable_or_unparsable_files_are_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [unclosed")
    assert _run(capsys, [broken])[0] == 1
    assert _run(capsys, [tmp_path / "absent.yaml"])[0] == 1
    other = tmp_path / "other.yaml"
    other.write_text("kind: ConfigMap\n")
    code, _, err = _run(capsys, [other])
    assert code == 1
    assert "neither AppImage nor KusciaTask" in err


def test_unknown_template_variables_are_warned_on_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    image = yaml.safe_load(IMAGE.read_text())
    image["spec"]["configTemplates"]["extra.conf"] = "{{.NOT_A_VARIABLE}}"
    path = tmp_path / "image.yaml"
    path.write_text(yaml.safe_dump(image))
    code, out, err = _run(capsys, [path, TASK])
    assert code == 0
    assert out
    assert err.count("warning:") == 3  # one per pod
    assert "'NOT_A_VARIABLE'" in err


def test_output_is_identical_across_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, [IMAGE, TASK])[1] == _run(capsys, [IMAGE, TASK])[1]


def test_party_template_fields_not_taken_are_warned_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    kuscia = EXAMPLES / "kuscia"
    files = [IMAGE, kuscia / "14-task-template-reference-full.yaml"]
    code, out, err = _run(capsys, files)
    assert code == 0
    assert out
    assert "spec.parties[0].template.spec.containers[0].ports is ignored" in err
