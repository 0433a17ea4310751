"""What a reconcile returns: look again at a given time, or only when the caches change."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    """A reconcile's answer, as controller-runtime's `Result`: `requeue_after` seconds
    from now the key is reconciled again (a deadline the caches cannot announce, such
    as lifecycleSeconds running out); None means only a change in the caches brings it
    back. A reconcile that raises is retried with backoff instead; one that succeeds
    is forgotten by the rate limiter."""

    requeue_after: float | None = None
