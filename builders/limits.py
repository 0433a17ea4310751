"""How much one task or AppImage may ask the controller to build, in one place.

Each bound is far above what a real Kuscia job uses and far below what would let one
object exhaust the controller: every pod of a task is built (and its ConfigMap
rendered) in memory on every reconcile. The opaque fields (affinity, probes, ...)
are copied and serialised recursively, so their nesting is bounded too; the walk
that measures it is iterative, so measuring cannot itself overflow the stack.
"""

from __future__ import annotations

from typing import Any

MAX_PARTIES = 128  # parties of one task
MAX_PODS = 512  # pods of one task, all parties together
MAX_TASK_CONFIG_BYTES = 64 * 1024 * 1024  # rendered ConfigMaps of one task, together
MAX_NESTING = 32  # depth of an opaque field (affinity, probes, securityContext, env, ...)


def nesting(value: Any) -> int:
    """How deeply `value` nests lists and mappings: 0 for a scalar, 1 for a flat list."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            return deepest  # enough to refuse; no need to walk the rest
        stack.extend((child, depth) for child in children)
    return deepest
