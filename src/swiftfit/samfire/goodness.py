"""SAMFire's goodness-of-fit tests: is a fitted pixel good enough to propagate?

Each test reads the per-pixel results a fit writes (``model.fit_results``:
``chisq``, ``dof``, ``log_likelihood``, ``n_free``) at array-order navigation indices, so the same test runs in the
main process and in a worker on a copy of the model. The names, ``tolerance``,
``expected``, ``test(model, ind)`` and ``map(model, mask)`` are HyperSpy's.

The information criteria are the closed forms on the fit's log-likelihood
(the loss's true ln L: Gaussian with the noise variance for ``ls``, Poisson for
``ML-poisson``), with ``k`` the free parameters reaching the pixel and ``n``
the points in the signal range:

* AIC  = 2k − 2 ln L
* AICc = AIC + 2k(k + 1)/(n − k − 1)
* BIC  = k ln n − 2 ln L
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import InvalidInputError
from ..preferences import preferences
from ..problem.goodness import information_criteria as _criteria

__all__ = [
    "AIC_test",
    "AICc_test",
    "BIC_test",
    "information_criteria",
    "red_chisq_test",
]


def _check_tolerance(tolerance) -> float:
    if isinstance(tolerance, (bool, np.bool_)) or not isinstance(tolerance, numbers.Real) \
            or not np.isfinite(tolerance) or tolerance <= 0:
        raise InvalidInputError(f"`tolerance` must be a positive finite number, got {tolerance!r}")
    return float(tolerance)


def _index(model, ind):
    """An index (tuple of ints, or of index arrays) into the navigation maps."""
    if not model._nav_shape:
        return ()
    return tuple(ind)


def information_criteria(model, ind=None) -> dict:
    """AIC, AICc and BIC of the last fits at ``ind`` (all pixels when None).

    Parameters
    ----------
    model : BaseModel
        A fitted model.
    ind : tuple, optional
        Array-order navigation index (ints or index arrays).

    Returns
    -------
    dict
        ``{"AIC": ..., "AICc": ..., "BIC": ..., "lnL": ..., "k": ..., "n": ...}``;
        NaN where a pixel is not fitted.

    Examples
    --------
    >>> information_criteria(m, (0, 3))["AICc"]          # doctest: +SKIP
    """
    sel = Ellipsis if ind is None else _index(model, ind)
    results = model.fit_results
    lnl = np.asarray(results.log_likelihood[sel], dtype=float)
    k = np.asarray(results.n_free[sel], dtype=float)
    n = np.asarray(results.dof[sel], dtype=float) + k
    aic, aicc, bic = _criteria(lnl, k, n)
    return {"AIC": aic, "AICc": aicc, "BIC": bic, "lnL": lnl, "k": k, "n": n}


class _GoodnessTest:
    """Common part: a statistic per pixel and an acceptance rule."""

    name = ""

    def __init__(self, tolerance: float):
        self.tolerance = _check_tolerance(tolerance)
        self.expected = 0.0

    def __setattr__(self, key, value):
        if key == "tolerance":
            value = _check_tolerance(value)
        object.__setattr__(self, key, value)

    def statistic(self, model, ind):
        """The tested statistic at ``ind`` (array-order index)."""
        raise NotImplementedError

    def _passes(self, stat):
        raise NotImplementedError

    def _check(self, model, ind) -> np.ndarray:
        with np.errstate(all="ignore"):
            stat = np.asarray(self.statistic(model, ind), dtype=float)
            return np.isfinite(stat) & self._passes(stat)

    def test(self, model, ind) -> bool:
        """Whether the fit at the array-order index ``ind`` passes."""
        return bool(self._check(model, _index(model, ind)))

    def map(self, model, mask) -> np.ndarray:
        """The test at every navigation position where ``mask`` is True
        (False elsewhere), as a boolean array of the navigation shape.
        """
        mask = np.asarray(mask, dtype=bool)
        out = np.zeros(mask.shape, dtype=bool)
        if not model._nav_shape:
            return np.asarray(bool(mask) and self._check(model, ()))
        idx = np.nonzero(mask)
        if idx[0].size:
            out[idx] = self._check(model, idx)
        return out

    def __repr__(self) -> str:
        return f"<{self.name}, tolerance={self.tolerance:g}>"


class red_chisq_test(_GoodnessTest):
    """Reduced χ² test: passes when ``|χ²_ν − expected| < tolerance``
    (``expected`` = 1). The default of SAMFire is ``tolerance=1.0``: χ²_ν in (0, 2).

    Meaningful when the noise variance is set
    (``s.metadata.Signal.Noise_properties.variance``); otherwise χ²_ν is the
    residual variance and the tolerance must be chosen for it.

    Parameters
    ----------
    tolerance : float
        Allowed distance of the reduced χ² from ``expected``.

    Examples
    --------
    >>> samf.metadata.goodness_test = red_chisq_test(tolerance=0.3)   # doctest: +SKIP
    """

    name = "Reduced chi-squared test"

    def __init__(self, tolerance: float):
        super().__init__(tolerance)
        self.expected = 1.0

    def statistic(self, model, ind):
        # the model's red_chisq: chisq / (N - k), or HyperSpy's chisq / (N - k - 1)
        # with swiftfit.preferences.conventions = "hyperspy"
        dof = model.fit_results.dof[ind] - 1 if preferences.hyperspy else model.fit_results.dof[ind]
        with np.errstate(all="ignore"):
            return model.fit_results.chisq[ind] / dof

    def _passes(self, stat):
        return np.abs(stat - self.expected) < self.tolerance


class _CriterionTest(_GoodnessTest):
    """Passes when ``criterion − expected < tolerance`` (lower is better).

    HyperSpy compares a transformed criterion two-sidedly; an information
    criterion has no scale of its own, so here it is a plain upper bound
    (``expected`` shifts it, 0 by default).
    """

    criterion = ""

    def statistic(self, model, ind):
        return information_criteria(model, ind)[self.criterion]

    def _passes(self, stat):
        return stat - self.expected < self.tolerance


class AIC_test(_CriterionTest):
    """Akaike information criterion test, ``AIC = 2k − 2 ln L``.

    Parameters
    ----------
    tolerance : float
        Upper bound of ``AIC − expected``.

    Examples
    --------
    >>> samf.metadata.goodness_test = AIC_test(tolerance=500.0)   # doctest: +SKIP
    """

    name = "Akaike information criterion test"
    criterion = "AIC"


class AICc_test(_CriterionTest):
    """Akaike information criterion test with the small-sample correction,
    ``AICc = AIC + 2k(k + 1)/(n − k − 1)``.

    Examples
    --------
    >>> samf.metadata.goodness_test = AICc_test(tolerance=500.0)   # doctest: +SKIP
    """

    name = "Akaike information criterion (with a correction) test"
    criterion = "AICc"


class BIC_test(_CriterionTest):
    """Bayesian information criterion test, ``BIC = k ln n − 2 ln L``.

    Examples
    --------
    >>> samf.metadata.goodness_test = BIC_test(tolerance=500.0)   # doctest: +SKIP
    """

    name = "Bayesian information criterion test"
    criterion = "BIC"
