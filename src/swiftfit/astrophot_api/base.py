"""BaseOptimizer: what every seed-002 fitter shares (AstroPhot's ``fit.base``).

A fitter holds a :class:`~swiftfit.astrophot_api._target.FitTarget` (the model at
its current position as functions of the free vector), a ``current_state``,
and the history of the states it visited with their ``−2 ln L``. It ends by
writing its best state back into the model, as ``m.fit`` does, so
``m.red_chisq``, ``m.chisq``, every parameter's ``value`` and ``std`` are set.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np

from ..errors import InvalidInputError, InvalidTypeError
from ..problem.solution import Status
from ._target import FitTarget

__all__ = ["BaseOptimizer"]


def _positive_int(name: str, value, allow_none: bool = True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise InvalidInputError(f"`{name}` must be a positive integer{' or None' if allow_none else ''}, got {value!r}")
    return int(value)


def _positive_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value) or value <= 0:
        raise InvalidInputError(f"`{name}` must be a positive finite number, got {value!r}")
    return float(value)


class BaseOptimizer:
    """The part of every fitter of the seed-002 family that does not depend on the algorithm.

    Parameters
    ----------
    model : Model1D, Model2D or JointModel
        Its free parameters at the current navigation position are fitted.
    initial_state : array_like (P,), optional
        Starting values of the free parameters, in the order of
        ``FitTarget(model).names``; default the model's current values.
    relative_tolerance : float
        Convergence when the relative improvement of ``−2 ln L`` is below it
        (each fitter says over what).
    verbose : int
        0: silent; 1: a line per reported step and a final message; 2: more.
    max_iter : int, optional
        Most iterations (default: each fitter's own, ``100·P`` here).
    save_steps : str, optional
        Path with ``{step}`` (e.g. ``"model_step_{step}.h5"``): the model,
        at the state of each step, is saved there in swiftfit's HDF5 format
        (reload with ``swiftfit.load(path).models.restore("step")``). For a
        joint model each file holds the state: datasets ``names`` and
        ``values``, attributes ``step`` and ``loss`` (its datasets may share
        parameters, which a one-model file cannot store).
    fit_valid : bool
        Keep the parameters inside their ``bmin``/``bmax`` (trial points are
        projected onto the box); ``False`` lets them go anywhere.
    likelihood : {"gaussian", "poisson"}
        ``−2 ln L`` is χ² (gaussian) or ``2 Σ (m − d ln m)`` (poisson).

    Attributes
    ----------
    current_state : ndarray (P,)
    loss_history : list of float
        ``−2 ln L`` (χ² for gaussian data) at each recorded state.
    lambda_history : list of ndarray
        The recorded states (AstroPhot's name: ``lambda`` is its word for the
        parameter vector).
    message : str
        How the fit ended ("success: ..." or "fail: ...").
    iteration : int

    Examples
    --------
    >>> from swiftfit.astrophot_api import LM
    >>> fitter = LM(m, relative_tolerance=1e-8, verbose=0).fit()
    >>> fitter.message[:8], round(float(fitter.chi2min()), 4)
    ('success:', 1.1034)
    """

    default_max_iter: int | None = None

    def __init__(self, model, initial_state=None, relative_tolerance: float = 1e-3, verbose: int = 1,
                 max_iter: int | None = None, save_steps: str | None = None, fit_valid: bool = True,
                 likelihood: str = "gaussian"):
        # an internal FitTarget (a restricted one, from Iter/IterParam) is used as given
        self.target = model if isinstance(model, FitTarget) else FitTarget(model, likelihood=likelihood)
        self.model = self.target.model
        self.likelihood = self.target.likelihood
        self.relative_tolerance = _positive_float("relative_tolerance", relative_tolerance)
        if isinstance(verbose, bool) or not isinstance(verbose, Integral):
            raise InvalidTypeError(f"`verbose` must be an integer (0, 1, 2), got {verbose!r}")
        self.verbose = int(verbose)
        default = self.default_max_iter if self.default_max_iter is not None else 100 * self.target.P
        self.max_iter = default if max_iter is None else _positive_int("max_iter", max_iter)
        if save_steps is not None and (not isinstance(save_steps, (str, os.PathLike))
                                       or "{step}" not in os.fspath(save_steps)):
            raise InvalidInputError(
                f"`save_steps` must be a path containing '{{step}}' (e.g. 'model_step_{{step}}.h5'), got {save_steps!r}")
        self.save_steps = None if save_steps is None else os.fspath(save_steps)
        if not isinstance(fit_valid, (bool, np.bool_)):
            raise InvalidTypeError(f"`fit_valid` must be True or False, got {fit_valid!r}")
        self.fit_valid = bool(fit_valid)
        if initial_state is None:
            x0 = self.target.x0.copy()
        else:
            x0 = np.array(initial_state, dtype=float).reshape(-1)
            if x0.shape != (self.target.P,) or not np.isfinite(x0).all():
                raise InvalidInputError(
                    f"`initial_state` must hold {self.target.P} finite values (for {self.target.names}), "
                    f"got {np.asarray(initial_state)!r}")
        self.current_state = self._valid(x0)
        self.loss_history: list[float] = []
        self.lambda_history: list[np.ndarray] = []
        self.message = ""
        self.iteration = 0
        self.success = False
        self.status = 0

    # ----------------------------------------------------------- helpers
    def _valid(self, x) -> np.ndarray:
        """``x`` projected onto the bounds when ``fit_valid``."""
        x = np.asarray(x, dtype=float)
        return self.target.clip(x) if self.fit_valid else x.copy()

    def _bounds(self):
        """(lower, upper) the fitter respects: the parameters' or ``±inf``."""
        if self.fit_valid:
            return self.target.lower, self.target.upper
        inf = np.full(self.target.P, np.inf)
        return -inf, inf

    def _loss(self, x) -> float:
        """The objective at ``x``: ``−2 ln L`` (χ² for gaussian data)."""
        return self.target.chi2(x)

    @property
    def ndf(self) -> int:
        """Degrees of freedom (data points − free parameters), at least 1."""
        ndf = getattr(self, "_ndf", None)
        return max(self.target.ndf if ndf is None else ndf, 1)

    def _record(self, x, loss: float) -> None:
        """Remember a state (and save it when ``save_steps``)."""
        self.current_state = np.array(x, dtype=float)
        self.loss_history.append(float(loss))
        self.lambda_history.append(self.current_state.copy())
        if self.save_steps is not None and self.target.writable:
            self._save_step(self.current_state, len(self.loss_history) - 1)

    def _save_step(self, x, step: int) -> None:
        from ..io.hdf5_model import save_model

        path = self.save_steps.replace("{step}", str(step))
        if self.target.joint:
            # a joint model's datasets may share parameters across models, which one
            # model file cannot hold: the state itself is written instead
            import h5py

            with h5py.File(path, "w") as f:
                f.attrs["swiftfit_fitter_state"] = np.int64(1)
                f.attrs["step"] = np.int64(step)
                f.attrs["loss"] = float(self.loss_history[step])
                f.create_dataset("names", data=np.array(self.target.names, dtype=h5py.string_dtype()))
                f.create_dataset("values", data=np.asarray(x, dtype=float))
        else:
            self.target.set_values(x)
            save_model(self.model, path, name="step")

    def _say(self, text: str, level: int = 1) -> None:
        if self.verbose >= level:
            print(text)

    def _finish(self, x, success: bool, message: str, covariance=None, status=None) -> None:
        """Set the outcome and write ``x`` back into the model (full targets only);
        ``status``: the optimizer's own code, when it gives one.
        """
        self.success = bool(success)
        self.message = message
        self.status = (Status(int(status)) if status is not None else Status.OPTIMIZER_SUCCESS if success else
                       Status.MAX_NFEV if message.startswith("fail: max") else Status.OPTIMIZER_FAILURE)
        self.current_state = np.array(x, dtype=float)
        if self.target.writable:
            # the verdict of every door (swiftfit.problem.verify): a fitter's "success" must
            # survive the same check; with constraints the optimum is of the penalised loss
            stats = self.target.write_back(self.current_state, covariance=covariance, status=self.status,
                                           verify=not getattr(self, "constraints", None))
            verified = Status(int(stats["status"][0]))
            if self.success and not verified.success:
                self.success, self.status = False, verified
                self.message = message = f"fail: {verified.message} (the fitter said: {message})"
        self._say(message)

    # ------------------------------------------------------------ API
    def fit(self) -> BaseOptimizer:
        """Iterate :meth:`step` until converged or ``max_iter``; returns ``self``."""
        success, message = self._iterate()
        self._finish(self.res(), success, message)
        return self

    def _iterate(self) -> tuple[bool, str]:
        """The loop every iterative fitter runs: :meth:`step` until :meth:`_stop`
        gives an outcome or ``max_iter`` steps; returns ``(success, message)``.
        """
        if not self.loss_history:
            self._record(self.current_state, self._loss(self.current_state))
        self._start_fit()
        while self.iteration < self.max_iter:
            self.step()
            self.iteration += 1
            outcome = self._stop()
            if outcome is not None:
                return outcome
        return False, f"fail: max iterations ({self.max_iter}) reached"

    def _start_fit(self) -> None:
        """Reset what a fitter's stopping test keeps between steps (before the loop)."""

    def _stop(self):
        """After each step: ``None`` to go on, or the outcome ``(success, message)``."""
        return (True, "success") if self._converged() else None

    def _converged(self) -> bool:
        h = self.loss_history
        if len(h) < 2:
            return False
        return 0 <= (h[-2] - h[-1]) / max(abs(h[-1]), 1e-300) < self.relative_tolerance

    def step(self, current_state=None) -> None:
        """One iteration of the algorithm (each fitter defines it)."""
        raise NotImplementedError(f"{type(self).__name__} does not define step()")

    def res(self) -> np.ndarray:
        """The state with the lowest loss seen (the current one before any step)."""
        if not self.loss_history:
            return self.current_state.copy()
        return self.lambda_history[int(np.nanargmin(self.loss_history))].copy()

    def res_loss(self) -> float:
        """The lowest ``−2 ln L`` in :attr:`loss_history`."""
        if not self.loss_history:
            return self._loss(self.current_state)
        return float(np.nanmin(self.loss_history))

    def chi2min(self) -> float:
        """The lowest ``−2 ln L`` per degree of freedom (χ²/ndf for gaussian data)."""
        return self.res_loss() / self.ndf
