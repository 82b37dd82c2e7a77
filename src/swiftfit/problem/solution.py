"""Solution: what a solver returns, per pixel, and the one table of status messages."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Solution", "STATUS_MESSAGES", "SUCCESS_CODES", "message"]

# One table of status codes for every solver (scipy's TERMINATION_MESSAGES idea).
# ``success`` means the solver verified convergence, never merely "it stopped".
STATUS_MESSAGES: dict[int, str] = {
    1: "converged: relative reduction of the objective below ftol",
    2: "converged: relative step size below xtol",
    3: "converged: both objective reduction and step size below tolerance",
    4: "converged: gradient below gtol (or the residual is exactly zero)",
    5: "converged: solved in closed form",
    6: "converged: the optimizer reported success",
    -1: "failed: the iteration or function-evaluation limit was reached",
    -2: "failed: the model or its Jacobian produced non-finite values",
    -3: "failed: the Jacobian is singular; some parameters are not determined by the data",
    -4: "failed: data or weights at this pixel are not finite",
    -5: "failed: the optimizer reported failure",
    -6: "failed: stalled at a bound it could not leave",
    -7: "failed: the optimizer reported success, but its answer is not a minimum (a Newton step from it is not small)",
    -8: "failed: no signal: the data are zero everywhere in the signal range (multifit)",
    0: "not fitted",
}
SUCCESS_CODES = frozenset(k for k in STATUS_MESSAGES if k > 0)


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
