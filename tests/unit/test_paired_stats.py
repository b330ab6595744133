"""McNemar's exact test and Newcombe's paired-difference interval against values computed
independently: binomial sums from their definition (math.comb) and a published table."""

from __future__ import annotations

import math

import pytest

from tunix_rt.evaluations.stats import mcnemar_exact_p, paired_diff_interval


def reference_mcnemar_p(b: int, c: int) -> float:
    """From the definition: 2 * P[X <= min(b, c)], X ~ Bin(b + c, 1/2), capped at 1."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        # (C(10,0) + C(10,1)) / 2^10 * 2 = 22 / 1024
        (1, 9, 22 / 1024),
        (9, 1, 22 / 1024),
        (0, 0, 1.0),
        # 2 * 638/1024 > 1: capped
        (5, 5, 1.0),
        (0, 1, 1.0),
        # one-sided 1/2^6, two-sided 2/64
        (0, 6, 2 / 64),
        # Cavo et al. 2012 (Fagerland, Lydersen & Laake, ch. 8): 2 * 110056 / 2^22
        (6, 16, 2 * 110056 / 2**22),
    ],
)
def test_mcnemar_exact_p_hand_computed(b: int, c: int, expected: float) -> None:
    assert mcnemar_exact_p(b, c) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_exact_p_literal_values() -> None:
    assert mcnemar_exact_p(1, 9) == pytest.approx(0.02148, abs=5e-6)
    assert mcnemar_exact_p(6, 16) == pytest.approx(0.05248, abs=5e-6)


@pytest.mark.parametrize(("b", "c"), [(0, 30), (3, 17), (40, 61), (250, 300), (7, 7)])
def test_mcnemar_exact_p_matches_the_definition(b: int, c: int) -> None:
    assert mcnemar_exact_p(b, c) == pytest.approx(reference_mcnemar_p(b, c), rel=1e-12)


def test_mcnemar_exact_p_stays_finite_for_large_counts() -> None:
    p = mcnemar_exact_p(5000, 5400)
    assert p == pytest.approx(reference_mcnemar_p(5000, 5400), rel=1e-9)
    assert 0.0 < p < 0.001


def test_mcnemar_exact_p_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="b >= 0"):
        mcnemar_exact_p(-1, 3)


def test_paired_interval_matches_published_cavo_table() -> None:
    """Cavo et al. 2012 as published by Fagerland, Lydersen & Laake (Statistical Analysis of
    Contingency Tables, ch. 8): table (59, 6 / 16, 80), Newcombe square-and-add
    estimate -0.0621 (95 % CI -0.1186 to -0.0046) for row minus column. Here the row is
    the baseline, so candidate - baseline is +0.0621 with the interval turned round."""
    low, high = paired_diff_interval(59, 6, 16, 80)
    assert low == pytest.approx(0.0046, abs=5e-5)
    assert high == pytest.approx(0.1186, abs=5e-5)
    assert low < (16 - 6) / 161 < high


def test_paired_interval_mirrors_when_flips_swap() -> None:
    low, high = paired_diff_interval(1, 1, 7, 12)
    mirrored = paired_diff_interval(1, 7, 1, 12)
    assert mirrored == pytest.approx((-high, -low), rel=1e-12)
    assert low < 6 / 21 < high


def test_paired_interval_uses_the_agreeing_pairs() -> None:
    # Same flips, same n: concordant pairs split differently change the correlation, so
    # the interval differs (a b, c, n form could not tell these apart).
    assert paired_diff_interval(40, 5, 10, 45) != paired_diff_interval(85, 5, 10, 0)


def test_paired_interval_without_flips_is_centred_on_zero() -> None:
    low, high = paired_diff_interval(0, 0, 0, 10)
    assert low == pytest.approx(-high) and low < 0 < high
    # Both proportions 0 of 10, so each lower distance is 0 and the Wilson upper bound
    # z^2/(n + z^2) of the other is the whole half-width (phi = 0: an empty margin).
    z2 = 1.959963984540054**2
    assert high == pytest.approx(z2 / (10 + z2), rel=1e-9)


def test_paired_interval_edges() -> None:
    assert paired_diff_interval(0, 0, 0, 0) == (-1.0, 1.0)
    low, high = paired_diff_interval(0, 10, 0, 0)
    assert low == -1.0 and high < 0
    with pytest.raises(ValueError, match="non-negative"):
        paired_diff_interval(1, -1, 0, 0)
