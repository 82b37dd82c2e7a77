"""Exception and warning classes.

Every error subclasses ``ValueError`` or ``TypeError`` so that users may catch
either the specific class or the built-in one.
"""

from __future__ import annotations

__all__ = [
    "InvalidInputError",
    "InvalidTypeError",
    "ExpressionError",
    "OptimizerError",
    "FitWarning",
]


class InvalidInputError(ValueError):
    """A value entered the library that it cannot use (NaN data, bmin > bmax, ...)."""


class InvalidTypeError(TypeError):
    """An argument of the wrong type entered the library."""


class ExpressionError(ValueError):
    """A user expression contains something outside the whitelist, or does not parse."""


class OptimizerError(ValueError):
    """An optimizer was asked for something it cannot do (unknown name, no bounds, ...)."""


class FitWarning(UserWarning):
    """A fit finished but its result deserves attention (no convergence, stuck at a bound)."""
