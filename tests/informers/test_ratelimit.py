"""Rate limiters against the spec's vectors (RL-2 … RL-6), on a frozen clock."""

from __future__ import annotations

import pytest

from informers.clock import FakeClock
from informers.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    WithMaxWaitRateLimiter,
    default_controller_rate_limiter,
)


def test_rl5_same_item_backs_off_5ms_doubling_to_1000s_and_forget_resets() -> None:
    limiter: MaxOfRateLimiter[str] = default_controller_rate_limiter(FakeClock())
    delays = [limiter.when("k") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.010, 0.020, 0.040])
    assert delays[17] == pytest.approx(0.005 * 2**17)  # 655.36 s, the last below the cap
    assert delays[18:] == [1000.0, 1000.0]  # the 19th call and later
    assert limiter.num_requeues("k") == 20
    limiter.forget("k")
    assert limiter.num_requeues("k") == 0
    assert limiter.when("k") == pytest.approx(0.005)


def test_rl5_101_distinct_items_at_once_the_101st_waits_for_the_bucket() -> None:
    limiter: MaxOfRateLimiter[str] = default_controller_rate_limiter(FakeClock())
    delays = [limiter.when(f"item-{i}") for i in range(101)]
    assert delays[:100] == pytest.approx([0.005] * 100)
    assert delays[100] == pytest.approx(0.1)


def test_rl3_bucket_starts_full_refills_at_rate_and_never_exceeds_burst() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter[str](rate=10.0, burst=2, clock=clock)
    assert [bucket.when("x") for _ in range(2)] == [0.0, 0.0]
    assert bucket.when("x") == pytest.approx(0.1)
    assert bucket.when("x") == pytest.approx(0.2)  # reservations stack up, never cancelled
    clock.step(100)
    assert [bucket.when("x") for _ in range(3)] == pytest.approx([0.0, 0.0, 0.1])
    assert bucket.num_requeues("x") == 0


def test_rl4_max_of_asks_every_limiter_so_the_bucket_drains_even_when_exponential_wins() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter[str](rate=1.0, burst=1, clock=clock)
    limiter = MaxOfRateLimiter(ItemExponentialFailureRateLimiter[str](10.0, 100.0), bucket)
    assert limiter.when("a") == 10.0  # exponential wins, yet the token was taken
    assert bucket.when("b") == pytest.approx(1.0)
    assert limiter.num_requeues("a") == 1
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


def test_rl2_huge_failure_counts_return_the_max_without_overflow() -> None:
    limiter = ItemExponentialFailureRateLimiter[str](0.005, 1000.0)
    for _ in range(1100):
        delay = limiter.when("k")
    assert delay == 1000.0


def test_rl6_fast_slow_and_max_wait() -> None:
    fast_slow = ItemFastSlowRateLimiter[str](0.1, 5.0, 2)
    assert [fast_slow.when("k") for _ in range(4)] == [0.1, 0.1, 5.0, 5.0]
    clamped = WithMaxWaitRateLimiter(ItemExponentialFailureRateLimiter[str](1.0, 100.0), 3.0)
    assert [clamped.when("k") for _ in range(4)] == [1.0, 2.0, 3.0, 3.0]


def test_limiters_reject_nonsense_parameters() -> None:
    with pytest.raises(ValueError, match="base_delay"):
        ItemExponentialFailureRateLimiter[str](0, 1)
    with pytest.raises(ValueError, match="rate"):
        BucketRateLimiter[str](rate=0, burst=1)
    with pytest.raises(ValueError, match="at least one"):
        MaxOfRateLimiter[str]()
