"""How big each scenario is. `make bench` uses sizes that fit a few minutes on two
cores; BENCH_FULL=1 uses the full ones; each size can also be set on its own:

    BENCH_BURST_TASKS       tasks created at once, on both clusters (full: 1000)
    BENCH_TRICKLE_RATE      tasks per second                 (full: 50)
    BENCH_TRICKLE_SECONDS   seconds of trickle               (full: 60)
    BENCH_IDLE_SECONDS      seconds of steady-state idle     (full: 300)
    BENCH_MEMORY_TASKS      settled task counts, comma-sep.  (full: 0,1000,10000)
    BENCH_SCENARIOS         which to run: burst,steady,trickle,memory,scheduled (memory
                            includes cold start; scheduled: the burst on the scheduled cluster)

A trickle rate the machine cannot sustain measures a growing backlog, not latency:
unless BENCH_TRICKLE_RATE is given, the rate is capped at half the ceiling's burst
throughput measured in the same run, and the table says so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

SCENARIOS = ("burst", "steady", "trickle", "memory", "scheduled")

DEFAULT = {
    "burst_tasks": "300",
    "trickle_rate": "50",
    "trickle_seconds": "20",
    "idle_seconds": "30",
    "memory_tasks": "0,1000,2000",
}
FULL = {
    "burst_tasks": "1000",
    "trickle_rate": "50",
    "trickle_seconds": "60",
    "idle_seconds": "300",
    "memory_tasks": "0,1000,10000",
}


@dataclass(frozen=True)
class Sizes:
    burst_tasks: int
    trickle_rate: float
    trickle_rate_given: bool  # set explicitly: never capped
    trickle_seconds: float
    idle_seconds: float
    memory_tasks: tuple[int, ...]
    scenarios: tuple[str, ...]
    full: bool

    @property
    def trickle_tasks(self) -> int:
        return round(self.trickle_rate * self.trickle_seconds)


def from_env(env: Mapping[str, str] | None = None) -> Sizes:
    env = os.environ if env is None else env
    full = env.get("BENCH_FULL", "") not in ("", "0")
    base = FULL if full else DEFAULT

    def get(name: str) -> str:
        return env.get(f"BENCH_{name.upper()}") or base[name]

    scenarios = tuple(s for s in env.get("BENCH_SCENARIOS", ",".join(SCENARIOS)).split(",") if s)
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"BENCH_SCENARIOS: unknown {sorted(unknown)}; known: {SCENARIOS}")
    memory = tuple(sorted({int(n) for n in get("memory_tasks").split(",") if n.strip()}))
    sizes = Sizes(
        burst_tasks=int(get("burst_tasks")),
        trickle_rate=float(get("trickle_rate")),
        trickle_rate_given=bool(env.get("BENCH_TRICKLE_RATE")),
        trickle_seconds=float(get("trickle_seconds")),
        idle_seconds=float(get("idle_seconds")),
        memory_tasks=memory,
        scenarios=scenarios,
        full=full,
    )
    if sizes.burst_tasks < 1 or sizes.trickle_rate <= 0 or sizes.trickle_seconds <= 0:
        raise SystemExit("BENCH_BURST_TASKS, BENCH_TRICKLE_RATE and _SECONDS must be positive")
    return sizes
