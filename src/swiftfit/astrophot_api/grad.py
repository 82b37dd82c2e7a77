"""Grad: first-order gradient descent (AstroPhot's ``fit.gradient``).

AstroPhot hands the step to a PyTorch optimizer; swiftfit does not use
PyTorch, so the update rules of Adam (Kingma & Ba 2015), NAdam (Dozat 2016,
Nesterov momentum in Adam) and SGD (with optional momentum) are written here
in NumPy, on the analytic gradient of ``−2 ln L``.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError, InvalidTypeError
from .base import BaseOptimizer, _positive_int

__all__ = ["Grad"]

METHODS = ("Adam", "NAdam", "SGD")
_DEFAULTS = {
    "Adam": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8},
    "NAdam": {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8},
    "SGD": {"lr": 1e-3, "momentum": 0.0, "nesterov": False},
}


class Grad(BaseOptimizer):
    """Gradient descent on ``−2 ln L`` with Adam, NAdam or SGD updates.

    Parameters
    ----------
    model : Model1D, Model2D or JointModel
    initial_state : array_like (P,), optional
    likelihood : {"gaussian", "poisson"}
    method : {"NAdam", "Adam", "SGD"}
    optim_kwargs : dict
        The update's settings: ``lr`` (all), ``betas`` and ``eps`` (Adam,
        NAdam), ``momentum`` and ``nesterov`` (SGD). Defaults as PyTorch's
        (``lr`` 1e-3; 2e-3 for NAdam).
    patience : int
        Stop when the best ``−2 ln L`` improved by less than
        ``relative_tolerance`` (relative) over the last ``patience`` steps.
    report_freq : int
        Print a progress line every ``report_freq`` steps (``verbose ≥ 1``).
    **kwargs
        ``relative_tolerance``, ``verbose``, ``max_iter`` (default 1000),
        ``save_steps``, ``fit_valid`` of :class:`BaseOptimizer`.

    Examples
    --------
    >>> fitter = Grad(m, method="Adam", optim_kwargs={"lr": 0.05}, verbose=0).fit()
    >>> bool(fitter.res_loss() < 140.0)      # from chi2 = 322.3 at the start (LM reaches 105.93)
    True
    """

    default_max_iter = 1000

    def __init__(self, model, initial_state=None, likelihood: str = "gaussian", method: str = "NAdam",
                 optim_kwargs: dict | None = None, patience: int = 10, report_freq: int = 10, **kwargs):
        if method not in METHODS:
            raise InvalidInputError(f"`method` must be one of {METHODS}, got {method!r}")
        optim_kwargs = {} if optim_kwargs is None else optim_kwargs
        if not isinstance(optim_kwargs, dict):
            raise InvalidTypeError(f"`optim_kwargs` must be a dict, got {type(optim_kwargs).__name__}")
        unknown = set(optim_kwargs) - set(_DEFAULTS[method])
        if unknown:
            raise InvalidInputError(
                f"`optim_kwargs` for method {method!r} takes {sorted(_DEFAULTS[method])}, got {sorted(unknown)}")
        super().__init__(model, initial_state=initial_state, likelihood=likelihood, **kwargs)
        self.method = method
        self.optim_kwargs = {**_DEFAULTS[method], **optim_kwargs}
        lr = self.optim_kwargs["lr"]
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not np.isfinite(lr) or lr <= 0:
            raise InvalidInputError(f"`optim_kwargs['lr']` must be a positive number, got {lr!r}")
        if method != "SGD":
            b1, b2 = self.optim_kwargs["betas"]
            if not (0 <= b1 < 1 and 0 <= b2 < 1):
                raise InvalidInputError(f"`optim_kwargs['betas']` must be two numbers in [0, 1), got {(b1, b2)!r}")
        elif not 0 <= self.optim_kwargs["momentum"] < 1:
            raise InvalidInputError(f"`optim_kwargs['momentum']` must be in [0, 1), got {self.optim_kwargs['momentum']!r}")
        self.patience = _positive_int("patience", patience, allow_none=False)
        self.report_freq = _positive_int("report_freq", report_freq, allow_none=False)
        self._m = np.zeros(self.target.P)
        self._v = np.zeros(self.target.P)
        self._t = 0
        self._best: list[float] = []

    def density(self, state) -> float:
        """``−2 ln L`` (up to a constant) at ``state``: what Grad minimises."""
        return self.target.chi2(np.asarray(state, dtype=float))

    def step(self, current_state=None) -> None:
        """One update from the gradient at the current state."""
        x = self.current_state if current_state is None else self._valid(np.asarray(current_state, dtype=float))
        g = self.target.gradient(x)
        if not np.isfinite(g).all():
            self._bad_gradient = True
            return
        o = self.optim_kwargs
        self._t += 1
        t = self._t
        if self.method == "SGD":
            mu = o["momentum"]
            self._m = mu * self._m + g if mu else g
            d = g + mu * self._m if o["nesterov"] else self._m
            xn = x - o["lr"] * d
        else:
            b1, b2 = o["betas"]
            self._m = b1 * self._m + (1 - b1) * g
            self._v = b2 * self._v + (1 - b2) * g * g
            vhat = self._v / (1 - b2 ** t)
            if self.method == "Adam":
                mhat = self._m / (1 - b1 ** t)
            else:  # NAdam: the momentum of the next step, plus the current gradient
                mhat = b1 * self._m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1 ** t)
            xn = x - o["lr"] * mhat / (np.sqrt(vhat) + o["eps"])
        xn = self._valid(xn)
        self._record(xn, self._loss(xn))
        if self.verbose and len(self.loss_history) % self.report_freq == 0:
            self._say(f"iter {len(self.loss_history) - 1}: -2lnL/ndf {self.loss_history[-1] / self.ndf:.8g}")

    def _start_fit(self) -> None:
        self._best = [min(self.loss_history)]  # the best −2 ln L after each step
        self._bad_gradient = False

    def _stop(self):
        """Stop when ``patience`` steps brought no relative improvement above
        ``relative_tolerance`` (or the gradient is not finite).
        """
        if self._bad_gradient:
            return False, "fail: the gradient of -2 ln L is not finite"
        best = self._best
        best.append(min(best[-1], self.loss_history[-1]))
        if len(best) > self.patience and (best[-1 - self.patience] - best[-1]) <= self.relative_tolerance * abs(best[-1]):
            return True, f"success: no improvement above relative_tolerance in {self.patience} steps"
        return None
