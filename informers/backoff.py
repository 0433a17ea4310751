"""The reflector's jittered exponential backoff between relists and watch retries (RF-2).

The state resets on the first call more than `reset_after` seconds after the previous
reset: a periodic reset, not an idle one, exactly as client-go's DelayWithReset.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from informers.clock import Clock


@dataclass(frozen=True)
class BackoffPolicy:
    initial: float = 0.8
    factor: float = 2.0
    jitter: float = 1.0  # a delay d becomes d + U[0,1)·jitter·d
    cap: float = 30.0
    reset_after: float = 120.0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.factor < 1 or self.jitter < 0 or self.cap < self.initial:
            raise ValueError(f"invalid backoff policy: {self!r}")

    @property
    def steps(self) -> int:
        return math.ceil(self.cap / self.initial)


class Backoff:
    """One shared instance per reflector: relists, watch retries and 429s all step it."""

    def __init__(
        self, policy: BackoffPolicy, clock: Clock, rng: random.Random | None = None
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._rng = rng or random.Random()
        self._last_reset = clock.now()
        self._reset()

    def _reset(self) -> None:
        self._duration = self._policy.initial
        self._steps = self._policy.steps

    def next_delay(self) -> float:
        now = self._clock.now()
        if now - self._last_reset > self._policy.reset_after:
            self._last_reset = now
            self._reset()
        duration = self._duration
        if self._steps > 0:
            self._steps -= 1
            self._duration *= self._policy.factor
            if self._duration > self._policy.cap:
                self._duration = self._policy.cap
                self._steps = 0
        return duration + self._rng.random() * self._policy.jitter * duration
