"""Success rates with 95 % Wilson score intervals."""

from __future__ import annotations

import math


def wilson_interval(successes: int, trials: int, z: float = 1.959963984540054
                    ) -> tuple[float, float]:
    """Wilson score interval (low, high) of a binomial proportion; z = 1.96 gives 95 %.
    Trials must be positive and 0 <= successes <= trials."""
    if trials <= 0:
        raise ValueError(f"trials must be positive, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be within 0..{trials}, got {successes}")
    p = successes / trials
    z2 = z * z
    denom = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def rate_summary(successes: int, trials: int) -> dict:
    lo, hi = wilson_interval(successes, trials)
    return {"successes": int(successes), "trials": int(trials), "rate": successes / trials,
            "ci95": [lo, hi]}
