"""Statistics for evaluation records: intervals and tests on exact-match proportions."""

from __future__ import annotations

import math

Z_95 = 1.959963984540054  # the standard normal's 97.5 % quantile: two-sided 95 %


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion successes/n (Wilson 1927).

    Unlike the normal approximation it stays inside [0, 1] and is not degenerate at 0/n or
    n/n. With no trials nothing is known: (0.0, 1.0).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return (low, high)


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar test on the discordant pairs of a paired comparison.

    b counts pairs right under the baseline and wrong under the candidate, c the reverse.
    Under the null hypothesis (no difference) each of the b + c discordant pairs falls
    either way with probability 1/2, so p = min(1, 2 * P[X <= min(b, c)]) with
    X ~ Binomial(b + c, 1/2). With no discordant pair there is no evidence: 1.0.
    Computed in exact integers, so it stays exact for large counts.
    """
    if b < 0 or c < 0:
        raise ValueError(f"need b >= 0 and c >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    term = 1  # comb(n, k), built up term by term
    tail = 0
    for k in range(min(b, c) + 1):
        tail += term
        term = term * (n - k) // (k + 1)
    return min(1.0, 2 * tail / (1 << n))


def paired_diff_interval(
    both_right: int, right_to_wrong: int, wrong_to_right: int, both_wrong: int, z: float = Z_95
) -> tuple[float, float]:
    """Confidence interval for the difference of paired proportions, candidate - baseline
    = (wrong_to_right - right_to_wrong) / n, by Newcombe's hybrid score ("square-and-add")
    method for paired data (Newcombe 1998, Stat. Med. 17:2635, method 10).

    It combines the Wilson intervals of the two marginal proportions and corrects for their
    correlation with phi = (ad - bc) / sqrt(efgh) over the 2x2 table (a = both right,
    b = right to wrong, c = wrong to right, d = both wrong; e..h its margins), taken as
    0 when a margin is empty, and shrunk by n/2 towards 0 when positive (0 when
    0 <= ad - bc <= n/2), as in the published method. It needs all four cells: pairs
    that agree change phi. With no pair nothing is known: (-1.0, 1.0).
    """
    cells = (both_right, right_to_wrong, wrong_to_right, both_wrong)
    if min(cells) < 0:
        raise ValueError(f"need non-negative counts, got {cells}")
    a, b, c, d = cells
    n = a + b + c + d
    if n == 0:
        return (-1.0, 1.0)
    # Newcombe's orientation: p1 = baseline right, p2 = candidate right, theta = p1 - p2.
    p1 = (a + b) / n
    p2 = (a + c) / n
    l1, u1 = wilson_interval(a + b, n, z)
    l2, u2 = wilson_interval(a + c, n, z)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    phi = 0.0
    if margins:
        excess = a * d - b * c
        if excess > n / 2:
            phi = (excess - n / 2) / math.sqrt(margins)
        elif excess < 0:
            phi = excess / math.sqrt(margins)
    theta = p1 - p2
    below = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    above = math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    low, high = theta - below, theta + above
    # candidate - baseline is -theta: the interval turns round.
    return (max(-1.0, -high), min(1.0, -low))
