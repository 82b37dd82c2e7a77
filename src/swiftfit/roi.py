"""Regions of interest usable as signal ranges (HyperSpy's ``hs.roi`` names).

Only the geometry is kept (no widgets): a :class:`SpanROI` is an ``(x1, x2)``
range of a signal axis, accepted by ``estimate_parameters(intervals=...)`` and
``set_signal_range``; a :class:`RectangularROI` is a ``(left, right, top,
bottom)`` box of a 2-D signal.

Examples
--------
>>> roi = SpanROI(1.0, 3.0)
>>> tuple(roi)
(1.0, 3.0)
"""

from __future__ import annotations

import math

from .errors import InvalidInputError, InvalidTypeError

__all__ = ["RectangularROI", "SpanROI"]


def _coordinate(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise InvalidTypeError(f"`{name}` must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidInputError(f"`{name}` must be finite, got {value!r}")
    return value


class SpanROI:
    """A span ``left <= x <= right`` of one signal axis.

    Examples
    --------
    >>> SpanROI(105, 110)
    SpanROI(left=105.0, right=110.0)
    """

    def __init__(self, left: float, right: float):
        self.left, self.right = _coordinate("left", left), _coordinate("right", right)
        if self.left >= self.right:
            raise InvalidInputError(f"SpanROI needs left < right, got left={left!r}, right={right!r}")

    def __iter__(self):
        return iter((self.left, self.right))

    def __repr__(self) -> str:
        return f"SpanROI(left={self.left!r}, right={self.right!r})"


class RectangularROI:
    """A box ``left <= x <= right``, ``top <= y <= bottom`` of a 2-D signal.

    Examples
    --------
    >>> tuple(RectangularROI(0, 0, 2, 3))
    (0.0, 2.0, 0.0, 3.0)
    """

    def __init__(self, left: float, top: float, right: float, bottom: float):
        self.left, self.right = _coordinate("left", left), _coordinate("right", right)
        self.top, self.bottom = _coordinate("top", top), _coordinate("bottom", bottom)
        if self.left >= self.right or self.top >= self.bottom:
            raise InvalidInputError(
                f"RectangularROI needs left < right and top < bottom, got {left!r}, {top!r}, {right!r}, {bottom!r}"
            )

    def __iter__(self):
        return iter((self.left, self.right, self.top, self.bottom))

    def __repr__(self) -> str:
        return f"RectangularROI(left={self.left!r}, top={self.top!r}, right={self.right!r}, bottom={self.bottom!r})"
