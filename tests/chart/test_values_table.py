"""The chart README's values table says what values.yaml and values.schema.json
say: every value, its type, default and description."""

from __future__ import annotations

import json

from tests.chart import values_table
from tests.chart.chart import CHART, load_values


def test_readme_values_table_matches_the_schema_and_defaults() -> None:
    readme = values_table.README.read_text()
    assert values_table.with_table(readme) == readme, (
        "the values table is stale: run `.venv/bin/python -m tests.chart.values_table`"
    )


def test_every_default_value_is_described_by_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = load_values(CHART / "values.yaml")
    described = {key.split(".")[0] for key, *_ in values_table.rows(schema, values)}
    assert described == set(values)
    for key, _, _, description in values_table.rows(schema, values):
        assert description.strip(), f"{key} has no description"
