"""Solution: what a solver returns, per pixel, and the one table of status messages."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Solution", "Status", "STATUS_MESSAGES", "SUCCESS_CODES", "message"]


class Status(enum.IntEnum):
    """Every status a fit can end with, one name per code of :data:`STATUS_MESSAGES`.

    Positive: the solver converged *and* the answer was verified
    (:mod:`swiftfit.problem.verify`); zero: not fitted; negative: failed, the
    name says why. Members are ints, so ``status == -3`` and
    ``STATUS_MESSAGES[-3]`` keep working; compiled kernels return plain
    integers and are converted with ``Status(code)`` at their boundary.

    Examples
    --------
    >>> Status(-3).name, Status.SINGULAR == -3
    ('SINGULAR', True)
    >>> message(Status.TOO_FEW_POINTS)[:40]
    'failed: not determined: fewer data point'
    """

    FTOL = 1
    XTOL = 2
    FTOL_XTOL = 3
    GTOL = 4
    CLOSED_FORM = 5
    OPTIMIZER_SUCCESS = 6
    NOT_FITTED = 0
    MAX_NFEV = -1
    NONFINITE = -2
    SINGULAR = -3
    BAD_DATA = -4
    OPTIMIZER_FAILURE = -5
    STALLED_AT_BOUND = -6
    NOT_A_MINIMUM = -7
    NO_SIGNAL = -8
    TOO_FEW_POINTS = -9
    ZERO_MODEL = -10
    UNDERFLOW = -11
    OVERFLOW = -12
    NO_PROGRESS = -13

    @property
    def success(self) -> bool:
        return self > 0

    @property
    def message(self) -> str:
        return STATUS_MESSAGES[self]


# One table of status codes for every solver (scipy's TERMINATION_MESSAGES idea).
# ``success`` means the solver verified convergence, never merely "it stopped".
# Keyed by plain ints (a Status looks up the same entry), so it prints and
# serialises as before.
_MESSAGES: dict[Status, str] = {
    Status.FTOL: "converged: relative reduction of the objective below ftol",
    Status.XTOL: "converged: relative step size below xtol",
    Status.FTOL_XTOL: "converged: both objective reduction and step size below tolerance",
    Status.GTOL: "converged: gradient below gtol (or the residual is exactly zero)",
    Status.CLOSED_FORM: "converged: solved in closed form",
    Status.OPTIMIZER_SUCCESS: "converged: the optimizer reported success",
    Status.MAX_NFEV: "failed: the iteration or function-evaluation limit was reached",
    Status.NONFINITE: "failed: the model or its Jacobian produced non-finite values",
    Status.SINGULAR: "failed: the Jacobian is singular; some parameters are not determined by the data",
    Status.BAD_DATA: "failed: data or weights at this pixel are not finite",
    Status.OPTIMIZER_FAILURE: "failed: the optimizer reported failure",
    Status.STALLED_AT_BOUND: "failed: stalled at a bound it could not leave",
    Status.NOT_A_MINIMUM: "failed: the optimizer reported success, but its answer is not a minimum "
                          "(a Newton step from it is not small)",
    Status.NO_SIGNAL: "failed: no signal: the data are zero everywhere in the signal range (multifit)",
    Status.TOO_FEW_POINTS: "failed: not determined: fewer data points than free parameters (dof <= 0)",
    Status.ZERO_MODEL: "failed: the model is zero (or negative) where Poisson counts are positive, so "
                       "ln L is -inf; start the model where it is positive (e.g. an Offset above 0)",
    Status.UNDERFLOW: "failed: the data, the model and their derivatives are below ~1e-150, where their "
                      "squares underflow double precision; rescale the data (and variance)",
    Status.OVERFLOW: "failed: the noise variance is below ~1e-290 (or subnormal), so the weights "
                     "1/sigma and the chi-square overflow; check the variance (or rescale data and variance)",
    Status.NO_PROGRESS: "failed: no progress: in three windows of 50 evaluations in a row the objective fell by "
                        "less than 1e-5 of itself while a parameter kept growing (a degenerate valley, e.g. a "
                        "peak spreading into the offset); stopped before the evaluation limit",
    Status.NOT_FITTED: "not fitted",
}
STATUS_MESSAGES: dict[int, str] = {int(k): v for k, v in _MESSAGES.items()}
SUCCESS_CODES = frozenset(int(k) for k in STATUS_MESSAGES if k > 0)


def message(status: int) -> str:
    """The message for a status code."""
    return STATUS_MESSAGES.get(int(status), f"unknown status {status}")


@dataclass(frozen=True)
class Solution:
    """Per-pixel result of a solver.

    Attributes
    ----------
    theta : ndarray (B, P)
        Fitted free-parameter values.
    status : ndarray (B,) of int
        Codes of :data:`STATUS_MESSAGES`.
    nfev : ndarray (B,) of int
        Model evaluations per pixel.
    covariance : ndarray (B, P, P) or None
        Unscaled covariance ``(JᵀWJ)⁻¹`` where the method gives one.
    objective : ndarray (B,)
        Final value of the loss (for ``ls``: the weighted χ²).
    info : dict
        Solver-specific extras (e.g. scipy's OptimizeResult for one pixel).
    """

    theta: np.ndarray
    status: np.ndarray
    nfev: np.ndarray
    objective: np.ndarray
    covariance: np.ndarray | None = None
    njev: np.ndarray | None = None
    nit: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def success(self) -> np.ndarray:
        return np.isin(self.status, list(SUCCESS_CODES))

    @property
    def messages(self) -> list[str]:
        return [message(s) for s in self.status]
