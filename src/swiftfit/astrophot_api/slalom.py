"""Slalom: gradient descent with momentum and a parabolic line search
(AstroPhot's ``fit.slalom``).

Each iteration mixes the unit steepest-descent direction with the previous
direction (``momentum``), evaluates ``−2 ln L`` at ``0, S, 2S`` along it,
fits a parabola through the three values and steps to its vertex (or to the
best evaluated point when the vertex is worse). ``S`` adapts: it becomes the
length of the step taken, is doubled while the function keeps falling at
``2S`` and quartered when ``S`` already overshoots.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError
from .base import BaseOptimizer, _positive_float, _positive_int

__all__ = ["Slalom"]

_WINDOW = 5  # convergence: these many steps together improve by < relative_tolerance
_MAX_SHRINK = 30


class Slalom(BaseOptimizer):
    """Momentum gradient descent with a three-point parabolic line search.

    Parameters
    ----------
    model : Model1D, Model2D or JointModel
    initial_state : array_like (P,), optional
    S : float
        Initial trial step length, in the units of the parameters.
    likelihood : {"gaussian", "poisson"}
    report_freq : int
        A progress line every ``report_freq`` steps (``verbose ≥ 1``).
    relative_tolerance : float
        Converged when the last 5 steps together reduced ``−2 ln L`` by
        less than this fraction.
    momentum : float in [0, 1)
        Weight of the previous direction in the new one.
    max_iter : int
    **kwargs
        ``verbose``, ``save_steps``, ``fit_valid`` of :class:`BaseOptimizer`.

    Examples
    --------
    >>> fitter = Slalom(m, S=1e-2, verbose=0).fit()
    >>> bool(fitter.res_loss() < 140.0)      # from chi2 = 322.3 at the start (LM reaches 105.93)
    True
    """

    default_max_iter = 1000

    def __init__(self, model, initial_state=None, S: float = 1e-4, likelihood: str = "gaussian",
                 report_freq: int = 10, relative_tolerance: float = 1e-4, momentum: float = 0.5,
                 max_iter: int = 1000, **kwargs):
        super().__init__(model, initial_state=initial_state, likelihood=likelihood,
                         relative_tolerance=relative_tolerance, max_iter=max_iter, **kwargs)
        self.S = _positive_float("S", S)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise InvalidInputError(f"`momentum` must be a number in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)
        self.report_freq = _positive_int("report_freq", report_freq, allow_none=False)
        self._direction = None
        self._stuck = False

    def density(self, state) -> float:
        """``−2 ln L`` (up to a constant) at ``state``: what Slalom minimises."""
        return self.target.chi2(np.asarray(state, dtype=float))

    def _at(self, x, d, s):
        y = self._valid(x + s * d)
        return y, self._loss(y)

    def step(self, current_state=None) -> None:
        """One direction, one line search, one step."""
        if current_state is not None:
            self._record(self._valid(np.asarray(current_state, dtype=float)), self._loss(current_state))
        x, f0 = self.current_state, self.loss_history[-1]
        g = self.target.gradient(x)
        norm = np.linalg.norm(g)
        if not np.isfinite(norm) or norm == 0:
            self._stuck = True
            return
        d = -g / norm
        if self._direction is not None and self.momentum:
            mixed = (1 - self.momentum) * d + self.momentum * self._direction
            if mixed @ g < 0 and np.linalg.norm(mixed) > 0:  # still a descent direction
                d = mixed / np.linalg.norm(mixed)
        S = self.S
        for _ in range(_MAX_SHRINK):
            x1, f1 = self._at(x, d, S)
            if f1 < f0:
                break
            S /= 4.0
        else:
            self._stuck = True
            return
        x2, f2 = self._at(x, d, 2 * S)
        best_x, best_f, step = (x2, f2, 2 * S) if f2 < f1 else (x1, f1, S)
        curvature = f0 - 2 * f1 + f2
        if curvature > 0:
            t = S * (3 * f0 - 4 * f1 + f2) / (2 * curvature)  # vertex of the parabola through 0, S, 2S
            t = min(t, 8 * S)
            if t > 0 and not np.isclose(t, S) and not np.isclose(t, 2 * S):
                xt, ft = self._at(x, d, t)
                if ft < best_f:
                    best_x, best_f, step = xt, ft, t
        elif f2 < f1:
            step = 4 * S  # still falling: no vertex ahead; look further next time
        self.S = max(step, 1e-300)
        self._direction = d
        self._record(best_x, best_f)
        if self.verbose and len(self.loss_history) % self.report_freq == 0:
            self._say(f"iter {len(self.loss_history) - 1}: -2lnL/ndf {best_f / self.ndf:.8g}, S {self.S:.3g}")

    def _start_fit(self) -> None:
        self._stuck = False

    def _stop(self):
        """Stop when no step along the gradient improves, or 5 steps together
        improved ``−2 ln L`` by less than ``relative_tolerance``.
        """
        h = self.loss_history
        if self._stuck:
            return True, "success: no step along the gradient improves -2 ln L"
        if len(h) > _WINDOW and (h[-1 - _WINDOW] - h[-1]) <= self.relative_tolerance * abs(h[-1]):
            return True, f"success: {_WINDOW} steps improved -2 ln L by less than relative_tolerance"
        return None
