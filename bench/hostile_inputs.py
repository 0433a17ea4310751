"""What hostile input costs the controller: time and peak memory until it is refused.

Prints a table with one row per hostile template and per bad-input corpus case
that reaches the controller: wall time to compile the AppImage's templates and
run plan() until the refusal (best of `--rounds`), the peak memory traced while
doing so, and the reason given. The same steps run on every reconcile of such a
task, so these figures bound what one bad object can make the controller spend.
Run: `.venv/bin/python bench/hostile_inputs.py [--rounds 3] [--only ID]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

# Run as a file, this script's directory comes first on sys.path and would hide the
# `builders` package: the repository root takes its place.
if not __package__:
    _here = Path(__file__).resolve().parent
    sys.path[:] = [str(_here.parent) if Path(p or ".").resolve() == _here else p for p in sys.path]

from builders import BuildError, Cluster, RevisionCache, plan, rendering
from builders.models import AppImage, KusciaTask
from tests.security.corpus import REACHING_THE_CONTROLLER, Case, Names

LIMIT = 1024 * 1024
ROWS = json.dumps({"rows": [{"k": i, "v": f"row-{i}"} for i in range(100_000)]})


def _render(text: str, values: dict[str, str]) -> Callable[[], str]:
    def run() -> str:
        try:
            compiled = rendering.compile_template("hostile.conf", text)
            rendering.render(compiled, values, limit=LIMIT)
        except (rendering.TemplateRefused, rendering.TemplateSyntaxError) as error:
            return type(error).__name__
        except rendering.OutputTooLarge:
            return "OutputTooLarge"
        return "rendered"

    return run


def _query(path: str) -> str:
    return "{{{" + path + "}}}"


TEMPLATES: dict[str, Callable[[], str]] = {
    "10,000 actions (compile + render)": _render("x{{.A}}" * 10_000, {"A": "1"}),
    "10,001 actions": _render("x{{.A}}" * 10_001, {"A": "1"}),
    "template of 1 MiB + 1": _render("x" * (LIMIT + 1), {}),
    "index chain 100,000 deep": _render(_query(".J[" * 100_000 + ".J.a" + "]" * 100_000), {}),
    "500 filters x 100,000 rows": _render(
        "".join(_query(f".J.rows[k={-i}].v") for i in range(500)), {"J": ROWS}
    ),
    "one filter repeated 10,000x": _render(_query(".J.rows[k=99999].v") * 10_000, {"J": ROWS}),
    "10,000 copies of 1 MB": _render("{{.X}}" * 10_000, {"X": "x" * 1_000_000}),
    "10,000 copies of a 2 MB query": _render(_query(".J.rows") * 10_000, {"J": ROWS}),
    "JSON nested 100,000 deep": _render(_query(".J[0]"), {"J": "[" * 100_000 + "]" * 100_000}),
    "jinja loop of 10^12 (as text)": _render("{% for i in range(10**12) %}x{% endfor %}", {}),
}


def _plan(case: Case) -> Callable[[], str]:
    names = Names()
    raw_images, raw_task = case.build(names)
    images = {raw["metadata"]["name"]: AppImage.model_validate(raw) for raw in raw_images}
    task = KusciaTask.model_validate(raw_task)
    cluster = Cluster.of({names.alice, names.bob})

    def run() -> str:
        try:
            plan(task, images, cluster, cache=RevisionCache())
        except BuildError as error:
            return error.reason
        return "planned"

    return run


def _measure(run: Callable[[], str], rounds: int) -> tuple[float, float, str]:
    best = float("inf")
    outcome = ""
    for _ in range(rounds):
        started = time.perf_counter()
        outcome = run()
        best = min(best, time.perf_counter() - started)
    tracemalloc.start()
    try:
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return best * 1000, peak / 2**20, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="run only rows whose name contains this")
    args = parser.parse_args()
    rows: list[tuple[str, str, str, str]] = [("input", "ms (best)", "peak MiB", "outcome")]
    work = {f"template: {name}": run for name, run in TEMPLATES.items()}
    work.update({f"corpus: {case.id}": _plan(case) for case in REACHING_THE_CONTROLLER})
    for name, run in work.items():
        if args.only and args.only not in name:
            continue
        millis, peak, outcome = _measure(run, args.rounds)
        rows.append((name, f"{millis:.1f}", f"{peak:.1f}", outcome))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(
            "  ".join(
                cell.ljust(width) if i in (0, 3) else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )


if __name__ == "__main__":
    main()
