"""``m.fit_results``: the per-pixel results of a model's fits, as one public object.

Every fit of a model — ``m.fit`` at one pixel, ``m.multifit``, a joint fit,
``Fit``, the AstroPhot-style fitters, SAMFire — writes its results into the
model through :meth:`~swiftfit.problem.fittable.Fittable.write_back`; this
object is how anything outside the model reads them (SAMFire's goodness
tests, the plots, the command line report, ``m.multifit_output``), instead
of the model's private arrays.

It is a live view: its arrays are the model's own (navigation-shaped, array
order, as the parameter maps), so they always describe the latest fits, and
writing into one (``fit_results.goodness_failed[...] = True``) writes the
model's. ``m.multifit_output`` is its read-only snapshot as signals
(:meth:`FitResults.as_signals`), the form a HyperSpy user plots.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from ..errors import InvalidInputError
from ..problem.solution import STATUS_MESSAGES, Status
from ..problem.solution import message as _message

__all__ = ["FitResults", "STORED"]

#: the stored per-pixel arrays: public name -> the model's attribute
STORED = MappingProxyType({
    "status": "_status", "nfev": "_nfev", "chisq": "_chisq", "dof": "_dof",
    "log_likelihood": "_lnl", "n_free": "_nfree",
})


class FitResults:
    """The per-pixel results of a model's fits (a live view of the model's arrays).

    Every array has the model's navigation shape (array order; shape ``()``
    without navigation axes). Pixels never fitted have status 0 and NaN
    statistics.

    Attributes
    ----------
    values, std : dict of str to ndarray
        Each parameter's map of values / standard errors, keyed
        ``"Component.parameter"`` (the maps themselves: writing changes them).
    status : ndarray of int
        The status code of each pixel's last fit (:class:`~swiftfit.problem.solution.Status`;
        :meth:`message` says what it means).
    success : ndarray of bool
        ``status > 0``: converged and verified (:mod:`swiftfit.problem.verify`).
    nfev : ndarray of int
        Model evaluations.
    chisq, dof, red_chisq : ndarray of float
        The weighted χ², the degrees of freedom (points in range minus free
        parameters that reach the model) and χ²/dof.
    log_likelihood : ndarray of float
        ln L of the last fit (Gaussian for ls, Poisson for ML-poisson; NaN for others).
    n_free : ndarray of float
        Free parameters that reach the model at the pixel.
    aic, aicc, bic : ndarray of float
        Information criteria from ``log_likelihood``, ``n_free`` and the points.
    slow_path : ndarray of bool
        Fitted pixels whose last fit did not run wholly in a compiled kernel.
    varpro : ndarray of bool
        Fitted pixels finished by variable projection.
    refitted : ndarray of bool
        Pixels whose failed fit was replaced by a refit from their neighbours
        in the last multifit.
    goodness_failed : ndarray of bool
        Pixels whose best fit failed SAMFire's goodness test (kept and flagged).
    time : float or None
        Seconds taken by the last multifit.

    Examples
    --------
    >>> _ = m.fit()
    >>> r = m.fit_results
    >>> bool(r.success), int(r.dof), round(float(r.red_chisq), 3)
    (True, 96, 1.103)
    >>> round(float(r.values["Gaussian.centre"]), 3) == round(m[0].centre.value, 3)
    True
    >>> r.message(int(r.status))
    'converged: relative reduction of the objective below ftol'
    """

    messages = MappingProxyType(dict(STATUS_MESSAGES))

    def __init__(self, model) -> None:
        object.__setattr__(self, "_model", model)

    def __setattr__(self, name, value) -> None:
        raise AttributeError(f"fit_results is a view of the model's results; write into its arrays "
                             f"(fit_results.{name}[...] = ...) or fit again, not set {name!r}")

    # ------------------------------------------------------------- stored
    @property
    def status(self) -> np.ndarray:
        return self._model._status

    @property
    def nfev(self) -> np.ndarray:
        return self._model._nfev

    @property
    def chisq(self) -> np.ndarray:
        return self._model._chisq

    @property
    def dof(self) -> np.ndarray:
        return self._model._dof

    @property
    def log_likelihood(self) -> np.ndarray:
        return self._model._lnl

    @property
    def n_free(self) -> np.ndarray:
        return self._model._nfree

    @property
    def values(self) -> dict:
        return {f"{c.name}.{p.name}": p._map["values"] for c in self._model for p in c.parameters}

    @property
    def std(self) -> dict:
        return {f"{c.name}.{p.name}": p._map["std"] for c in self._model for p in c.parameters}

    def _flags(self, attribute: str) -> np.ndarray:
        """A navigation-shaped bool array of the model (created, all False, when missing)."""
        model = self._model
        nav = tuple(model._nav_shape)
        flags = getattr(model, attribute, None)
        if flags is None or np.shape(flags) != nav:
            flags = np.zeros(nav, dtype=bool)
            setattr(model, attribute, flags)
        return flags

    @property
    def refitted(self) -> np.ndarray:
        return self._flags("_multifit_refitted")

    @property
    def goodness_failed(self) -> np.ndarray:
        return self._flags("_goodness_failed")

    @property
    def compiled(self) -> np.ndarray:
        """Pixels fitted wholly by a compiled kernel (see :attr:`slow_path`)."""
        return self._flags("_compiled")

    @property
    def time(self):
        return getattr(self._model, "_multifit_time", None)

    # ------------------------------------------------------------ derived
    @property
    def success(self) -> np.ndarray:
        return np.asarray(self.status) > 0

    @property
    def red_chisq(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(self.chisq, dtype=float) / np.asarray(self.dof, dtype=float)

    @property
    def slow_path(self) -> np.ndarray:
        return (np.asarray(self.status) != 0) & ~np.asarray(self.compiled, dtype=bool)

    @property
    def varpro(self) -> np.ndarray:
        return (np.asarray(self.status) != 0) & np.asarray(self._flags("_varpro"), dtype=bool)

    @property
    def aic(self) -> np.ndarray:
        return 2 * self.n_free - 2 * self.log_likelihood

    @property
    def aicc(self) -> np.ndarray:
        k = self.n_free
        n = self.dof + k
        with np.errstate(all="ignore"):
            return 2 * k - 2 * self.log_likelihood + 2 * k * (k + 1) / (n - k - 1)

    @property
    def bic(self) -> np.ndarray:
        k = self.n_free
        with np.errstate(all="ignore"):
            return k * np.log(self.dof + k) - 2 * self.log_likelihood

    # ------------------------------------------------------------- writes
    def rows(self, index) -> dict:
        """Copies of the stored arrays (:data:`STORED`) at ``index`` (an
        array-order index: a tuple of ints or of index arrays), keyed by name.

        Examples
        --------
        >>> saved = m.fit_results.rows(())
        >>> sorted(saved)
        ['chisq', 'dof', 'log_likelihood', 'n_free', 'nfev', 'status']
        """
        return {name: np.array(getattr(self._model, attr)[index], copy=True) for name, attr in STORED.items()}

    def set_rows(self, index, rows: dict) -> None:
        """Put back the stored arrays at ``index`` from ``rows`` (as :meth:`rows` gives)."""
        unknown = set(rows) - set(STORED)
        if unknown:
            raise InvalidInputError(f"`rows` holds {sorted(unknown)}; the stored arrays are {list(STORED)}")
        for name, value in rows.items():
            getattr(self._model, STORED[name])[index] = value

    def mark_failed(self, pixel, status) -> None:
        """Record that ``pixel`` (an array-order index tuple) was not fitted
        because of its data: status ``status`` (e.g. ``Status.BAD_DATA``), χ² NaN.
        """
        status = Status(int(status))
        if status > 0:
            raise InvalidInputError(f"`status` must be a failure (<= 0), got {int(status)}")
        self._model._mark_failed(pixel, int(status))

    # ----------------------------------------------------------- reading
    @staticmethod
    def message(code: int) -> str:
        """The message of a status code."""
        return _message(code)

    def as_signals(self):
        """A read-only snapshot of these results as navigation signals:
        ``m.multifit_output`` (:class:`~swiftfit.model.multifit_output.MultifitOutput`).
        """
        from .multifit_output import MultifitOutput

        return MultifitOutput(self._model)

    def __repr__(self) -> str:
        status = np.asarray(self.status)
        fitted = int((status != 0).sum())
        ok = int((status > 0).sum())
        return f"<FitResults: {status.size} pixels, {fitted} fitted, {ok} converged, {fitted - ok} failed>"
