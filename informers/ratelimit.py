"""How long a failed item waits before it is retried: client-go's rate limiters (RL-2 … RL-6).

The token bucket reserves a token on every call, even when another limiter's longer
delay wins in a MaxOf, and never gives one back, exactly as golang.org/x/time/rate.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from informers.clock import Clock, RealClock

T = TypeVar("T", bound=Hashable)
T_contra = TypeVar("T_contra", bound=Hashable, contravariant=True)


class RateLimiter(Protocol[T_contra]):
    def when(self, item: T_contra) -> float:
        """Seconds the item should wait now; counts as one more failure of it."""
        ...

    def forget(self, item: T_contra) -> None:
        """The item succeeded: its failure history is dropped."""
        ...

    def num_requeues(self, item: T_contra) -> int: ...


class ItemExponentialFailureRateLimiter(Generic[T]):
    """base·2ⁿ for the n-th failure (from 0) of one item, capped at max_delay (RL-2)."""

    def __init__(self, base_delay: float, max_delay: float) -> None:
        if base_delay <= 0 or max_delay < base_delay:
            raise ValueError(f"need 0 < base_delay <= max_delay, got {base_delay}, {max_delay}")
        self._base = base_delay
        self._max = max_delay
        self._failures: dict[T, int] = {}

    def when(self, item: T) -> float:
        exponent = self._failures.get(item, 0)
        self._failures[item] = exponent + 1
        if exponent >= 1024:  # 2.0**1024 overflows; long past max anyway
            return self._max
        return min(self._base * 2.0**exponent, self._max)

    def num_requeues(self, item: T) -> int:
        return self._failures.get(item, 0)

    def forget(self, item: T) -> None:
        self._failures.pop(item, None)


class ItemFastSlowRateLimiter(Generic[T]):
    """`fast` for an item's first max_fast_attempts failures, `slow` after (RL-6)."""

    def __init__(self, fast_delay: float, slow_delay: float, max_fast_attempts: int) -> None:
        self._fast = fast_delay
        self._slow = slow_delay
        self._max_fast = max_fast_attempts
        self._failures: dict[T, int] = {}

    def when(self, item: T) -> float:
        attempts = self._failures.get(item, 0) + 1
        self._failures[item] = attempts
        return self._fast if attempts <= self._max_fast else self._slow

    def num_requeues(self, item: T) -> int:
        return self._failures.get(item, 0)

    def forget(self, item: T) -> None:
        self._failures.pop(item, None)


class BucketRateLimiter(Generic[T]):
    """One bucket for all items, full at the start: `burst` at once, then `rate`/s (RL-3)."""

    def __init__(self, rate: float, burst: int, clock: Clock | None = None) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"need rate > 0 and burst >= 1, got {rate}, {burst}")
        self._rate = rate
        self._burst = burst
        self._clock = clock or RealClock()
        self._tokens = float(burst)
        self._last = self._clock.now()

    def when(self, item: T) -> float:
        now = self._clock.now()
        elapsed = max(0.0, now - self._last)
        tokens = min(float(self._burst), self._tokens + elapsed * self._rate) - 1.0
        self._tokens = tokens
        self._last = now
        return -tokens / self._rate if tokens < 0 else 0.0

    def num_requeues(self, item: T) -> int:
        return 0

    def forget(self, item: T) -> None:
        return None


class MaxOfRateLimiter(Generic[T]):
    """Asks every limiter (so each records the failure) and waits the longest (RL-4)."""

    def __init__(self, *limiters: RateLimiter[T]) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self._limiters = limiters

    def when(self, item: T) -> float:
        return max([limiter.when(item) for limiter in self._limiters])

    def num_requeues(self, item: T) -> int:
        return max(limiter.num_requeues(item) for limiter in self._limiters)

    def forget(self, item: T) -> None:
        for limiter in self._limiters:
            limiter.forget(item)


class WithMaxWaitRateLimiter(Generic[T]):
    """Another limiter's delay, clamped to max_delay (RL-6)."""

    def __init__(self, limiter: RateLimiter[T], max_delay: float) -> None:
        self._limiter = limiter
        self._max = max_delay

    def when(self, item: T) -> float:
        return min(self._limiter.when(item), self._max)

    def num_requeues(self, item: T) -> int:
        return self._limiter.num_requeues(item)

    def forget(self, item: T) -> None:
        self._limiter.forget(item)


def default_controller_rate_limiter(clock: Clock | None = None) -> MaxOfRateLimiter[T]:
    """RL-5: per item 5 ms·2ⁿ up to 1000 s, and overall 10 per second after a burst of 100."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(rate=10.0, burst=100, clock=clock),
    )
