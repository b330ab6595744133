"""Wilson intervals against published values (Newcombe 1998, Stat. Med. 17:857, Table I,
method 3 "score without continuity correction")."""

from __future__ import annotations

import math

import pytest

from tunix_rt.evaluations.stats import wilson_interval


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # 81/263: p = 0.30798, z^2/n = 0.014606, centre = (p + z^2/2n)/(1 + z^2/n) = 0.31075,
        # half = z*sqrt(p(1-p)/n + z^2/4n^2)/(1 + z^2/n) = 0.05546 -> 0.2553 .. 0.3662
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_published_values(
    successes: int, n: int, low: float, high: float
) -> None:
    got_low, got_high = wilson_interval(successes, n)
    assert got_low == pytest.approx(low, abs=5e-5)
    assert got_high == pytest.approx(high, abs=5e-5)


def test_wilson_interval_with_no_trials_is_uninformative() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_interval_bounds_are_exact_at_zero_and_all() -> None:
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    # x = 0: the upper bound is z^2 / (n + z^2) = 3.8415 / 13.8415
    assert high == pytest.approx(3.841458820694124 / 13.841458820694124, rel=1e-12)
    low, high = wilson_interval(10, 10)
    assert high == 1.0
    assert low == pytest.approx(10 / 13.841458820694124, rel=1e-12)


def test_wilson_interval_is_symmetric_and_contains_the_estimate() -> None:
    low, high = wilson_interval(3, 7)
    mirrored = wilson_interval(4, 7)
    assert math.isclose(low, 1 - mirrored[1]) and math.isclose(high, 1 - mirrored[0])
    assert low < 3 / 7 < high


def test_wilson_interval_narrows_with_a_smaller_z() -> None:
    assert wilson_interval(5, 10, z=1.0)[0] > wilson_interval(5, 10)[0]


@pytest.mark.parametrize(("successes", "n"), [(-1, 5), (6, 5), (0, -1)])
def test_wilson_interval_rejects_impossible_counts(successes: int, n: int) -> None:
    with pytest.raises(ValueError):
        wilson_interval(successes, n)
