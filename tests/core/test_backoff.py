"""backoff_delay: how long the status bar says the next reconnect is away."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comfytui.core.comfy.stream import backoff_delay
from comfytui.core.config import ReconnectSettings

SETTINGS = ReconnectSettings(base_delay_s=0.5, max_delay_s=30.0)


def test_delay_doubles_from_the_base_and_stops_at_the_cap() -> None:
    top = [backoff_delay(n, SETTINGS, rng=lambda: 1.0) for n in range(1, 10)]
    assert top == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    bottom = [backoff_delay(n, SETTINGS, rng=lambda: 0.0) for n in range(1, 4)]
    assert bottom == [0.25, 0.5, 1.0], "equal jitter: never below half the nominal delay"


@given(attempt=st.integers(min_value=-3, max_value=10_000), jitter=st.floats(0.0, 1.0),
       base=st.floats(0.01, 5.0), cap=st.floats(0.01, 120.0))
def test_delay_is_always_within_half_cap_and_cap(attempt: int, jitter: float, base: float, cap: float) -> None:
    settings = ReconnectSettings(base_delay_s=base, max_delay_s=cap)
    delay = backoff_delay(attempt, settings, rng=lambda: jitter)
    nominal = cap if attempt > 60 else min(cap, base * 2 ** max(0, attempt - 1))
    assert nominal / 2 - 1e-9 <= delay <= nominal + 1e-9
    assert 0 < delay <= cap + 1e-9


def test_a_server_down_for_days_still_gets_a_capped_delay() -> None:
    # With max_attempts = 0 (the dashboard) attempts keep counting: 2**1024 once overflowed a float.
    assert backoff_delay(5000, SETTINGS, rng=lambda: 1.0) == 30.0


@pytest.mark.parametrize("attempt", [1, 2, 5, 50])
def test_small_test_delays_stay_small(attempt: int) -> None:
    fast = ReconnectSettings(base_delay_s=0.1, max_delay_s=0.5)
    assert 0.05 <= backoff_delay(attempt, fast) <= 0.5
