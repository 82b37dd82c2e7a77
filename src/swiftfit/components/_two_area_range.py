"""The range checks of ``PowerLaw.estimate_parameters`` (the two-area method).

The two-area estimate needs two stretches of the signal axis: either one range
``[x1, x2]`` (or one interval) that it splits in the middle, or exactly two
intervals ``(x1, x2), (x3, x4)`` in increasing order, each holding at least two
channels. These checks follow HyperSpy's (the same conditions, raised as
``InvalidInputError``, a ``ValueError``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidInputError


def interval_pairs(intervals: Any) -> list[tuple[float, float]]:
    """``[(x1, x2), ...]`` from a list/tuple of ``(x1, x2)`` pairs or SpanROIs
    (a bare ``(x1, x2)`` pair is one interval).

    Examples
    --------
    >>> interval_pairs((1.0, 2.0))
    [(1.0, 2.0)]
    >>> interval_pairs([(1, 2), (3, 4)])
    [(1.0, 2.0), (3.0, 4.0)]
    """
    if isinstance(intervals, str) or not isinstance(intervals, (list, tuple)):
        raise InvalidInputError(f"`intervals` must be a list of tuples or SpanROI objects, got {intervals!r}")
    if len(intervals) == 2 and all(isinstance(v, (int, float, np.number)) for v in intervals):
        intervals = [tuple(intervals)]
    pairs = []
    for item in intervals:
        pair = tuple(item) if hasattr(item, "left") or isinstance(item, (list, tuple)) else None
        if pair is None or len(pair) != 2:
            raise InvalidInputError(f"Invalid interval format: {item!r}; expected (x1, x2) or a SpanROI")
        pairs.append((float(pair[0]), float(pair[1])))
    return pairs


def _index(axis, value: float) -> int | None:
    try:
        return int(axis.value2index(value))
    except (ValueError, IndexError, TypeError, AttributeError):  # outside the axis: left to the later checks
        return None


def check_two_area_range(axis, x1, x2, intervals):
    """Validate the range of a two-area estimate; returns ``(x1, x2, intervals)``
    to pass on to the estimation.

    ``x1``/``x2`` are moved to the nearest channels, and ``x2`` out by one or two
    channels where fewer than three would remain (a range narrower than the
    channels still gives two areas, as in HyperSpy).

    Examples
    --------
    >>> s = hs.signals.Signal1D(np.ones(10))
    >>> check_two_area_range(s.axes_manager[-1], 2.2, 2.9, None)
    (2.0, 4.0, None)
    >>> check_two_area_range(s.axes_manager[-1], 5.0, 5.0, None)
    Traceback (most recent call last):
    ...
    swiftfit.errors.InvalidInputError: x2 must be greater than x1, got x1=5.0, x2=5.0
    """
    if intervals is not None:
        pairs = interval_pairs(intervals)
        if len(pairs) not in (1, 2):
            raise InvalidInputError(
                "the two-area power-law estimate requires exactly 2 intervals (or one, split in the middle), "
                f"got {len(pairs)}: {intervals!r}"
            )
        for n, (lo, hi) in enumerate(pairs):
            if hi <= lo:
                raise InvalidInputError(
                    f"x{2 * n + 2} must be greater than x{2 * n + 1} in `intervals`, got {intervals!r}"
                )
        if len(pairs) == 2:
            (a, b), (c, d) = pairs
            if c < b:
                raise InvalidInputError(
                    f"x3 must be greater than x2: the two intervals must not overlap, got {intervals!r}"
                )
            for lo, hi in pairs:
                i, j = _index(axis, lo), _index(axis, hi)
                if i is not None and j is not None and i == j:
                    raise InvalidInputError(
                        f"each estimation interval must contain at least 2 points of the axis, got ({lo}, {hi})"
                    )
        return x1, x2, intervals
    if x1 is not None and x2 is None:
        raise InvalidInputError(f"x2 must be provided when using x1 (got x1={x1!r}, x2=None), or give `intervals`")
    if x1 is None or x2 is None:
        return x1, x2, None
    if float(x2) <= float(x1):
        raise InvalidInputError(f"x2 must be greater than x1, got x1={x1!r}, x2={x2!r}")
    i1, i2 = _index(axis, float(x1)), _index(axis, float(x2))
    if i1 is None or i2 is None:
        return x1, x2, None
    values = np.asarray(axis.axis, dtype=float)
    i2 = min(max(i2, i1 + 2), values.size - 1)
    return float(values[i1]), float(values[i2]), None
