"""Percentiles in milliseconds, rounded for the JSON."""

from __future__ import annotations

import math
import statistics


def percentile_ms(seconds: list[float], percent: float) -> float | None:
    """Nearest-rank percentile of ``seconds``, in milliseconds; None without samples."""
    if not seconds:
        return None
    ordered = sorted(seconds)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return round(ordered[rank - 1] * 1000, 1)


def median_ms(seconds: list[float]) -> float | None:
    return round(statistics.median(seconds) * 1000, 1) if seconds else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 2)
