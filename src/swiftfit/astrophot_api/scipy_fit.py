"""ScipyFit: a registered ``scipy.optimize.minimize`` method on the loss (AstroPhot's ``fit.scipy_fit``).

The minimisation is the registered optimizer's (:mod:`swiftfit.optimizers.scipy_min`,
reached through :func:`~swiftfit.problem.request.make_request`), exactly as
``m.fit(optimizer=method)`` runs it: same objective, gradient, Hessian,
status and Newton check. What is AstroPhot's here is around it: the
per-iteration record (a ``callback``), ``max_iter``, ``tol``, the likelihood
choice and the write-back.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from scipy import optimize

from ..errors import InvalidInputError, InvalidTypeError
from ..problem.request import make_request
from ..problem.solution import Status
from .base import BaseOptimizer

__all__ = ["ScipyFit"]

METHODS = ("Nelder-Mead", "L-BFGS-B", "TNC", "SLSQP", "Powell", "trust-constr")


class ScipyFit(BaseOptimizer):
    """Minimise ``−2 ln L`` with one of scipy's bounded minimizers.

    Parameters
    ----------
    model : Model1D, Model2D or JointModel
    initial_state : array_like (P,), optional
    method : {"Nelder-Mead", "L-BFGS-B", "TNC", "SLSQP", "Powell", "trust-constr"}
        The registered optimizer of that name runs the fit: the gradient-based
        ones get the loss's analytic gradient, ``trust-constr`` also the
        Gauss–Newton / Fisher Hessian. It minimises the loss as ``m.fit``
        does (χ² for gaussian data, ``−ln L`` for poisson: half of
        :meth:`density`, the same minimum); a success scipy reports must pass
        the Newton check of every door (else :attr:`status` is ``-7``).
    likelihood : {"gaussian", "poisson"}
    ndf : int, optional
        Degrees of freedom for :meth:`chi2min`; default ``N − P``.
    options : dict, optional
        Passed to ``scipy.optimize.minimize`` as ``options`` (``maxiter``
        defaults to ``max_iter``).
    tol : float, optional
        ``scipy.optimize.minimize``'s ``tol``.
    **kwargs
        ``relative_tolerance`` (unused by scipy: give ``tol``/``options``),
        ``verbose``, ``max_iter`` (default 1000), ``save_steps`` (one file per
        scipy iteration), ``fit_valid`` (pass the parameters' bounds to
        scipy; ``False`` fits unbounded) of :class:`BaseOptimizer`.

    Attributes
    ----------
    scipy_res : scipy.optimize.OptimizeResult
        scipy's own answer, after :meth:`fit`.
    status : Status
        The registered optimizer's verdict (verified), after :meth:`fit`.

    Examples
    --------
    >>> fitter = ScipyFit(m, method="L-BFGS-B", verbose=0).fit()
    >>> bool(fitter.scipy_res.success), np.round(fitter.res(), 1)
    (True, array([1050.6,    5. ,   50. ,   10.4]))
    """

    default_max_iter = 1000

    def __init__(self, model, initial_state=None, method: str = "Nelder-Mead", likelihood: str = "gaussian",
                 ndf=None, options: dict | None = None, tol: float | None = None, **kwargs):
        if method not in METHODS:
            raise InvalidInputError(f"`method` must be one of {METHODS}, got {method!r}")
        if options is not None and not isinstance(options, dict):
            raise InvalidTypeError(f"`options` must be a dict or None, got {type(options).__name__}")
        if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol > 0):
            raise InvalidInputError(f"`tol` must be a positive number or None, got {tol!r}")
        if ndf is not None and (isinstance(ndf, bool) or not isinstance(ndf, Integral) or ndf < 1):
            raise InvalidInputError(f"`ndf` must be a positive integer or None, got {ndf!r}")
        super().__init__(model, initial_state=initial_state, likelihood=likelihood, **kwargs)
        # the one request (swiftfit.problem.request): the registered scipy method, checked
        # against the loss and the bounds as at every other door
        self.request = make_request(method, self.target.loss, bounded=self.fit_valid, options={"backend": "numpy"})
        self.method = method
        self.options = {} if options is None else dict(options)
        self.tol = tol
        self._ndf = None if ndf is None else int(ndf)
        self.scipy_res = None

    def density(self, state) -> float:
        """``−2 ln L`` (up to a constant) at ``state``: what is minimised."""
        return self.target.chi2(np.asarray(state, dtype=float))

    def numpy_bounds(self):
        """The bounds as scipy wants them: a list of ``(low, high)`` with None
        for an open side, or None when no parameter is bounded (or ``fit_valid`` is False).
        """
        lower, upper = self._bounds()
        if not (np.isfinite(lower).any() or np.isfinite(upper).any()):
            return None
        return [(float(lo) if np.isfinite(lo) else None, float(hi) if np.isfinite(hi) else None)
                for lo, hi in zip(lower, upper)]

    def fit(self) -> ScipyFit:
        """Run the registered scipy optimizer once; record each iteration; write back."""
        t = self.target
        if not self.loss_history:
            self._record(self.current_state, self._loss(self.current_state))

        def callback(xk, *args):
            x = self._valid(np.array(getattr(xk, "x", xk), dtype=float))
            self.iteration += 1
            self._record(x, self._loss(x))
            if self.verbose >= 2:
                self._say(f"iter {self.iteration}: -2lnL/ndf {self.loss_history[-1] / self.ndf:.8g}", 2)

        bounded = self.numpy_bounds() is not None
        options = {"maxiter": self.max_iter, **self.options}
        if self.method == "TNC":
            options.setdefault("maxfun", options.pop("maxiter"))
        kw = {"options": options, "callback": callback}
        if self.tol is not None:
            kw["tol"] = self.tol
        if bounded and self.method == "trust-constr":
            # trust-constr may step outside bounds unless told to keep feasible
            kw["bounds"] = optimize.Bounds(*self._bounds(), keep_feasible=True)
        problem = t.problem.take([0])  # the target's one pixel, started at the current state
        problem.p0 = np.array(self.current_state, dtype=float)[None, :]
        solution = self.request.optimizer.solve(problem, self.request.loss, bounded=bounded, **kw)
        res = solution.info["scipy_result"]
        self.scipy_res = res
        t.nfev += int(solution.nfev[0])
        status = Status(int(solution.status[0]))
        x = np.asarray(solution.theta[0], dtype=float)
        if bounded:  # scipy may end a rounding error outside
            x = self._valid(x)
        self._record(x, self._loss(x))
        if status.success:
            message = f"success: {res.message}"
        elif res.success:  # scipy's success, refused by the Newton check
            message = f"fail: {status.message} (scipy said: {res.message})"
        else:
            message = f"fail: {res.message}"
        self._finish(self.res(), status.success, message, status=status)
        return self
