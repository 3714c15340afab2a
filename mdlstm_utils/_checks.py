"""Argument checks shared by the modules: one wording for every 'must be an int / a positive number' error."""

from __future__ import annotations

import math

import numpy as np


def check_int(name: str, value, minimum: int = 1) -> int:
    """``value`` as an ``int`` >= ``minimum``; ``TypeError`` for non-integers (bool included), ``ValueError`` below the minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_positive(name: str, value) -> float:
    """``value`` as a finite ``float`` > 0; ``TypeError`` for non-numbers, ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} ({value!r})")
    if not math.isfinite(float(value)) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)
