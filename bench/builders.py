"""How fast the builders turn the example tasks into objects, on one core.

Prints a table: per example, tasks built per second (plan(): every object of
both parties, config templates rendered per pod) over 1,000 distinct tasks, and
how many times the AppImage's templates were compiled in the row; the last row
is the same task with an AppImage that cannot be cached, for comparison. Run:
`.venv/bin/python bench/builders.py [--seconds 5] [--rounds 5]` (or `-m bench.builders`).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

# Run as a file, this script's own directory comes first on sys.path, and this
# file's name would hide the `builders` package it measures: the repository root
# takes its place.
if not __package__:
    _here = Path(__file__).resolve().parent
    sys.path[:] = [str(_here.parent) if Path(p or ".").resolve() == _here else p for p in sys.path]

from builders import Cluster, RevisionCache, plan
from builders.models import AppImage, KusciaTask
from builders.validation import check

EXAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "examples"
PAIRS = (("secretflow-image", "secretflow-task-psi"), ("app-template", "app-task"))
CLUSTER = Cluster.of({"alice", "bob"})


def _load(name: str, **metadata: str) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    raw["metadata"].update(metadata)
    return raw


def _tasks(task: str, count: int) -> list[KusciaTask]:
    """Distinct tasks (names and uids), as a controller sees them, from one example."""
    raw = _load(task)
    return [
        KusciaTask.model_validate(
            {**raw, "metadata": {**raw["metadata"], "name": f"t{i}", "uid": f"uid-{i}"}}
        )
        for i in range(count)
    ]


def _measure(
    image: str, task: str, seconds: float, *, rounds: int, revision: bool
) -> tuple[list[float], int, int, int]:
    """(tasks/s per round, tasks built, objects per task, template compiles)."""
    metadata = {"uid": "bench-image", "resourceVersion": "1"} if revision else {}
    app_image = AppImage.model_validate(_load(image, **metadata))
    images = {app_image.metadata.name: app_image}
    tasks = _tasks(task, 1000)
    cache = RevisionCache()
    objects = len(plan(tasks[0], images, CLUSTER, cache=cache).objects)
    rates: list[float] = []
    built = 0
    for _ in range(rounds):
        gc.collect()
        count = 0
        start = time.perf_counter()
        deadline = start + seconds / rounds
        while time.perf_counter() < deadline:
            for one in tasks[count % 1000 : count % 1000 + 100]:
                plan(one, images, CLUSTER, cache=cache)
            count += 100
        rates.append(count / (time.perf_counter() - start))
        built += count
    return rates, built, objects, cache.builds[check.__qualname__]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per row")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per row")
    args = parser.parse_args()
    header = (
        "example task",
        "AppImage",
        "objects/task",
        "tasks built",
        "median tasks/s",
        "best tasks/s",
        "µs/task",
        "compiles",
    )
    rows = []
    cases = [(image, task, True) for image, task in PAIRS] + [(*PAIRS[1], False)]
    for image, task, revision in cases:
        rates, built, objects, compiles = _measure(
            image, task, args.seconds, rounds=args.rounds, revision=revision
        )
        median = statistics.median(rates)
        rows.append(
            (
                task,
                "one revision" if revision else "no uid/rv",
                str(objects),
                f"{built:,}",
                f"{median:,.0f}",
                f"{max(rates):,.0f}",
                f"{1e6 / median:,.0f}",
                f"{compiles:,}",
            )
        )
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    print(
        "\none core, one process. compiles: how often the AppImage's config templates were"
        "\ncompiled in the row: once per AppImage revision however many tasks use it; an"
        "\nAppImage without uid/resourceVersion (a file) is compiled for every task."
        "\nTarget: >= 2,000 tasks/s."
    )


if __name__ == "__main__":
    main()
