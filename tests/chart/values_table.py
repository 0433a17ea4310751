"""The chart README's values table, made from values.schema.json (types and
descriptions) and values.yaml (defaults), so the three cannot drift apart.
`python -m tests.chart.values_table` rewrites the table in the README."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from tests.chart.chart import CHART

README = CHART / "README.md"
START, END = "<!-- values-table:start -->", "<!-- values-table:end -->"

Schema = Mapping[str, Any]


def _resolve(node: Schema, root: Schema) -> Schema:
    ref = node.get("$ref")
    if not ref:
        return node
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def _type(node: Schema) -> str:
    if "oneOf" in node:
        return " or ".join(str(option["type"]) for option in node["oneOf"])
    kind = node.get("type", "any")
    if kind == "array" and "items" in node and "type" in node["items"]:
        return f"list of {node['items']['type']}"
    return str(kind)


def _is_group(node: Schema) -> bool:
    """An object whose every key is described gets one row per key, not one for itself."""
    properties = node.get("properties") or {}
    return bool(properties) and all("description" in p for p in properties.values())


def rows(schema: Schema, values: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """(key, type, default, description) for every value, depth first, in schema order."""

    def walk(node: Schema, defaults: Any, prefix: str) -> Iterator[tuple[str, str, str, str]]:
        for key, raw in node["properties"].items():
            child = _resolve(raw, schema)
            path = f"{prefix}{key}"
            present = isinstance(defaults, Mapping) and key in defaults
            if not present and key != "global":
                raise KeyError(f"values.yaml has no default for {path}")
            if not present:
                continue
            if _is_group(child):
                yield from walk(child, defaults[key], f"{path}.")
            else:
                default = json.dumps(defaults[key], separators=(", ", ": "))
                yield path, _type(child), default, str(child["description"])

    yield from walk(schema, values, "")


def table() -> str:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    lines = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for key, kind, default, description in rows(schema, values):
        cell, text = default.replace("|", "\\|"), description.replace("|", "\\|")
        lines.append(f"| `{key}` | {kind} | `{cell}` | {text} |")
    return "\n".join(lines)


def with_table(readme: str) -> str:
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(readme):
        raise ValueError(f"{README} has no {START} ... {END} section")
    return pattern.sub(lambda _: f"{START}\n{table()}\n{END}", readme)


def main() -> int:
    text = README.read_text()
    updated = with_table(text)
    if updated != text:
        README.write_text(updated)
        print(f"rewrote the values table in {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
