"""One goodness-of-fit function for every door.

``m.fit``/``m.multifit`` (the model write-back), joint fits, ``Fit``, the
AstroPhot-style fitters (they write back through the model) and the
lmfit-style :func:`~swiftfit.lmfit_api.minimize` all take their χ², degrees of
freedom, reduced χ², ln L, AIC, AICc and BIC from :func:`goodness`, and scale
their covariance with :func:`scale_covariance`.

Two conventions for the information criteria, because two user communities
compare numbers with their own packages:

* ``"likelihood"`` (HyperSpy, Gammapy, swiftfit's maps): ``AIC = 2k − 2 ln L``
  with the loss's full ln L (Gaussian with σ² profiled when no variance is set,
  Poisson, ...);
* ``"lmfit"``: lmfit's ``−2 ln L = n ln(χ²/n)`` (constants dropped), so
  ``AIC = n ln(χ²/n) + 2k`` and ``BIC = n ln(χ²/n) + k ln n``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Goodness", "dof_and_reduced", "goodness", "information_criteria", "scale_covariance"]

_TINY = 1e-250  # lmfit's floor on χ²/n, so a perfect fit has a finite AIC


def information_criteria(lnl, k, n):
    """``(AIC, AICc, BIC)`` from ``ln L``, ``k`` free parameters and ``n`` data
    points (arrays broadcast): ``2k − 2 ln L``, ``AIC + 2k(k+1)/(n − k − 1)``
    (NaN where ``n − k − 1 ≤ 0``) and ``k ln n − 2 ln L``.

    Examples
    --------
    >>> [float(v) for v in information_criteria(-10.0, 2, 20)]
    [24.0, 24.705882352941178, 25.99146454710798]
    """
    with np.errstate(all="ignore"):
        aic = 2 * k - 2 * lnl
        aicc = aic + np.where(n - k - 1 > 0, 2 * k * (k + 1) / np.maximum(n - k - 1, 1), np.nan)
        bic = k * np.log(n) - 2 * lnl
    return aic, aicc, bic


def dof_and_reduced(chisq, ndata, nfree):
    """``(dof, reduced χ²)``: ``ndata − nfree`` and ``chisq / dof``, NaN where
    ``dof ≤ 0`` (arrays broadcast; ``chisq`` as float).

    Examples
    --------
    >>> dof, red = dof_and_reduced(12.0, 10, 2)
    >>> int(dof), float(red)
    (8, 1.5)
    """
    dof = np.asarray(ndata) - np.asarray(nfree)
    positive = dof > 0
    if np.ndim(positive) == 1 and positive.all():
        # the common case: the same quotients, one pass; a divisor ≥ 1 raises no
        # floating-point warning, so no errstate (a fixed cost of every multifit call)
        return dof, np.asarray(chisq, dtype=float) / dof
    with np.errstate(all="ignore"):
        red = np.where(positive, np.asarray(chisq, dtype=float) / np.where(positive, dof, 1), np.nan)
    return dof, red


@dataclass(frozen=True)
class Goodness:
    """Goodness of fit, per pixel (arrays of shape ``(B,)``) or scalars.

    Attributes
    ----------
    chisq : weighted χ² (``Σ r²`` for a residual function)
    ndata, nfree : data points and free parameters (``k``)
    dof : ``ndata − nfree``
    red_chisq : ``chisq / dof``; NaN where ``dof ≤ 0``
    log_likelihood : ln L of the convention
    aic, aicc, bic : information criteria of the convention
    """

    chisq: np.ndarray
    ndata: np.ndarray
    nfree: np.ndarray
    dof: np.ndarray
    red_chisq: np.ndarray
    log_likelihood: np.ndarray
    aic: np.ndarray
    aicc: np.ndarray
    bic: np.ndarray


def goodness(chisq, ndata, nfree, log_likelihood=None, *, convention: str = "likelihood") -> Goodness:
    """The goodness of fit of every door.

    Parameters
    ----------
    chisq : array_like
        Weighted χ² at the answer.
    ndata, nfree : int or array_like
        Data points and free parameters that reach the model.
    log_likelihood : array_like, optional
        The loss's ln L (``"likelihood"`` convention); ignored by ``"lmfit"``.
    convention : {"likelihood", "lmfit"}
        See the module docstring.

    Returns
    -------
    Goodness

    Examples
    --------
    >>> g = goodness(12.0, 10, 2, convention="lmfit")
    >>> float(g.dof), float(g.red_chisq), round(float(g.aic), 4)
    (8.0, 1.5, 5.8232)
    """
    if convention not in ("likelihood", "lmfit"):
        raise ValueError(f"`convention` must be 'likelihood' or 'lmfit', got {convention!r}")
    chisq = np.asarray(chisq, dtype=float)
    n = np.asarray(ndata)
    k = np.asarray(nfree)
    dof, red = dof_and_reduced(chisq, n, k)
    with np.errstate(all="ignore"):
        if convention == "lmfit":
            lnl = -0.5 * n * np.log(np.maximum(chisq, _TINY * n) / n)
        else:
            lnl = np.full(np.shape(chisq), np.nan) if log_likelihood is None else np.asarray(log_likelihood, float)
    aic, aicc, bic = information_criteria(lnl, k, n)
    return Goodness(chisq, n, k, dof, red, lnl, aic, aicc, bic)


def scale_covariance(cov, red_chisq, rescale: bool):
    """The covariance rule of every door: the unscaled ``2·errordef·H⁻¹``,
    multiplied by the reduced χ² when ``rescale`` (least squares whose noise
    is unknown: HyperSpy's and lmfit's ``scale_covar``). ``cov`` is ``(B, P, P)``
    or ``(P, P)``, ``red_chisq`` ``(B,)`` or scalar; None stays None.

    Examples
    --------
    >>> scale_covariance(np.eye(2), 4.0, True)[0, 0]
    np.float64(4.0)
    """
    if cov is None or not rescale:
        return cov
    red = np.asarray(red_chisq, dtype=float)
    return cov * (red[..., None, None] if red.ndim else red)
