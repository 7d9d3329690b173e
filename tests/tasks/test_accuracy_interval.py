"""The accuracy's Wilson interval is scipy's `binomtest(...).proportion_ci(method="wilson")`, without scipy.stats."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from headstart.tasks.metrics import accuracy_interval


@pytest.mark.parametrize("n", [1, 2, 7, 80, 99, 250])
def test_the_interval_is_scipy_s_wilson_interval(n: int) -> None:
    for k in range(n + 1):
        expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert accuracy_interval(k / n, n) == pytest.approx((expected.low, expected.high), abs=1e-12)
    assert accuracy_interval(0.5, 80, confidence=0.9)[0] > accuracy_interval(0.5, 80)[0]
