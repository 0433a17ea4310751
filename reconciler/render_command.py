"""`kuscia-reconciler render`: print every object a task would produce, without a cluster.

Like `helm template`: AppImage and KusciaTask YAML in (several documents per file),
multi-document YAML out on stdout, render warnings and errors on stderr. Exit 1
on bad input. Without `--namespaces` every party's domain counts as a local
namespace that exists.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from builders import BuildError, Cluster, plan
from builders.models import AppImage, KusciaTask

M = TypeVar("M", AppImage, KusciaTask)


class _InputError(Exception):
    pass


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (rendered config files) as literal blocks, so they read as written."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def run_render(
    files: Sequence[Path], namespaces: Sequence[str] | None, partners: Sequence[str] = ()
) -> int:
    try:
        app_images, tasks = _read(files)
    except _InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not tasks:
        print("error: no KusciaTask in the given files", file=sys.stderr)
        return 1
    if namespaces is None:
        existing = frozenset(p.domain_id for task in tasks for p in task.spec.parties)
    else:
        existing = frozenset(namespaces)
    cluster = Cluster(namespaces=existing | frozenset(partners), partners=frozenset(partners))
    objects: list[dict[str, Any]] = []
    for task in tasks:
        try:
            result = plan(task, app_images, cluster)
        except BuildError as error:
            print(f"error: {error.reason}: {error.message}", file=sys.stderr)
            return 1
        for warning in result.warnings:
            print(f"warning: {warning.message}", file=sys.stderr)
        for ignored in result.ignored_fields:
            print(f"warning: {ignored.message}", file=sys.stderr)
        objects.extend(result.objects)
    sys.stdout.write(
        yaml.dump_all(
            objects, Dumper=_Dumper, sort_keys=False, allow_unicode=True, explicit_start=True
        )
    )
    return 0


def _read(files: Sequence[Path]) -> tuple[dict[str, AppImage], list[KusciaTask]]:
    app_images: dict[str, AppImage] = {}
    tasks: list[KusciaTask] = []
    for path in files:
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as error:
            raise _InputError(f"{path}: cannot read: {error}") from None
        except yaml.YAMLError as error:
            raise _InputError(f"{path}: not valid YAML: {error}") from None
        for number, document in enumerate(documents, start=1):
            if document is None:
                continue
            where = f"{path} (document {number})"
            if not isinstance(document, dict):
                raise _InputError(f"{where}: expected an object, found {type(document).__name__}")
            kind = document.get("kind")
            if kind == "AppImage":
                app_image = _model(AppImage, document, where)
                app_images[app_image.metadata.name] = app_image
            elif kind == "KusciaTask":
                tasks.append(_model(KusciaTask, document, where))
            else:
                raise _InputError(f"{where}: kind {kind!r} is neither AppImage nor KusciaTask")
    return app_images, tasks


def _model(model: type[M], document: dict[str, Any], where: str) -> M:
    try:
        return model.model_validate(document)
    except ValidationError as error:
        name = (document.get("metadata") or {}).get("name", "?")
        problems = "; ".join(
            f"{_location(e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)
        )
        raise _InputError(f"{where}: {model.__name__} {name!r}: {problems}") from None


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
