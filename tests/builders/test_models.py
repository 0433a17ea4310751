"""The typed models read every example object, give it back unchanged, and
declare exactly the fields the CRD schemas declare."""

from __future__ import annotations

import typing
from pathlib import Path
from types import UnionType
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from builders.models import AppImage, KusciaTask
from tests.conftest import EXAMPLES, REPO

CRD_DIR = REPO / "charts" / "kuscia-reconciler" / "crds"
MODELS: dict[str, type[BaseModel]] = {"AppImage": AppImage, "KusciaTask": KusciaTask}


def _crd_schema(kind: str) -> dict[str, Any]:
    for path in CRD_DIR.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            return schema
    raise AssertionError(f"no CRD for {kind}")


def _model_in(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    """('object'|'array'|'map'|'leaf', model) for a field annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _model_in(args[0]) if len(args) == 1 else ("leaf", None)
    if origin is list:
        _, model = _model_in(typing.get_args(annotation)[0])
        return ("array", model) if model else ("leaf", None)
    if origin is dict:
        _, model = _model_in(typing.get_args(annotation)[1])
        return ("map", model) if model else ("leaf", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object", annotation
    return "leaf", None


def _drift(model: type[BaseModel], schema: dict[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    crd_fields = set(schema.get("properties", {}))
    model_fields = {f.alias or name: f for name, f in model.model_fields.items()}
    for name in sorted(crd_fields ^ set(model_fields)):
        side = "the CRD" if name in crd_fields else f"model {model.__name__}"
        problems.append(f"{path}.{name} exists only in {side}")
    for name in sorted(crd_fields & set(model_fields)):
        kind, sub = _model_in(model_fields[name].annotation)
        prop = schema["properties"][name]
        if kind == "object" and sub:
            problems += _drift(sub, prop, f"{path}.{name}")
        elif kind == "array" and sub:
            problems += _drift(sub, prop["items"], f"{path}.{name}[]")
        elif kind == "map" and sub:
            problems += _drift(sub, prop["additionalProperties"], f"{path}.{name}{{}}")
    return problems


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_models_and_crds_declare_the_same_fields(kind: str) -> None:
    schema = _crd_schema(kind)
    model = MODELS[kind]
    problems = []
    for part in ("spec", "status"):
        sub = model.model_fields[part].annotation
        assert isinstance(sub, type)
        problems += _drift(sub, schema["properties"][part], part)
    assert problems == []


def _examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml")) + sorted((EXAMPLES / "kuscia").glob("*.yaml"))


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.name)
def test_every_example_round_trips_through_its_model(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    model = MODELS[raw["kind"]].model_validate(raw)
    dumped = model.model_dump(by_alias=True, exclude_unset=True, mode="json")
    assert dumped == raw
