"""The reflector's backoff (RF-2): bases, jitter, cap and the periodic reset."""

from __future__ import annotations

import random

import pytest

from informers.backoff import Backoff, BackoffPolicy
from informers.clock import FakeClock


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def test_rf2_bases_double_from_0_8s_and_cap_at_30s() -> None:
    backoff = Backoff(BackoffPolicy(), FakeClock(), FixedRandom(0.0))
    delays = [backoff.next_delay() for _ in range(9)]
    assert delays == pytest.approx([0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0, 30.0])
    assert BackoffPolicy().steps == 38


def test_rf2_jitter_adds_up_to_one_base() -> None:
    backoff = Backoff(BackoffPolicy(), FakeClock(), FixedRandom(0.999))
    delays = [backoff.next_delay() for _ in range(8)]
    assert delays[0] == pytest.approx(0.8 * 1.999)
    assert delays[-1] == pytest.approx(30 * 1.999)  # capped delays are uniform in [30, 60)


def test_rf2_resets_on_the_first_call_more_than_120s_after_the_last_reset() -> None:
    clock = FakeClock()
    backoff = Backoff(BackoffPolicy(), clock, FixedRandom(0.0))
    for _ in range(5):
        backoff.next_delay()
        clock.step(20)  # 100 s so far: no reset yet
    assert backoff.next_delay() == pytest.approx(25.6)
    clock.step(21)  # 121 s after the construction-time reset
    assert backoff.next_delay() == pytest.approx(0.8)
    clock.step(119)  # 119 s after that reset, although busy all the time
    assert backoff.next_delay() == pytest.approx(1.6)


def test_invalid_backoff_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="invalid backoff policy"):
        BackoffPolicy(initial=0)
