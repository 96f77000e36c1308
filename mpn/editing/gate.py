"""The calibrated gate (`silence_below`, both patch editors): how far a trained patch's
bias may fall before its own edit breaks."""
from __future__ import annotations

from typing import Callable

HALVINGS = 12  # bisection steps: the shift to about 1/4096 of the memory's excess


def largest_right_shift(excess: float, right: Callable[[float], bool]) -> float:
    """The largest bias shift in [0, excess] after which `right(shift)` still holds, by
    bisection: all of `excess` (what puts every memory row below the level) if the edit
    survives it, else the last shift found right. `right` sets the bias it is given."""
    if excess <= 0:
        return 0.0
    if right(excess):
        return excess
    low, high = 0.0, excess
    for _ in range(HALVINGS):
        middle = (low + high) / 2
        low, high = (middle, high) if right(middle) else (low, middle)
    return low
