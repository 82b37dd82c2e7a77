"""Cliff–Lorimer quantification with first-order error propagation.

``C_i = k_i I_i / Σ_j k_j I_j`` (weight fractions; Cliff and Lorimer 1975,
J. Microsc. 103, 203). The Jacobian ``∂C_i/∂I_j = (δ_ij k_i − C_i k_j) / S``
with ``S = Σ_j k_j I_j`` carries the covariance of the intensities (e.g. the
fit covariance of the line areas) into the compositions: ``Σ_C = J Σ_I Jᵀ``.

Examples
--------
>>> import numpy as np
>>> c, dc = cliff_lorimer(np.array([100.0, 300.0]), [1.0, 1.0], np.diag([100.0, 300.0]))
>>> c.tolist()
[0.25, 0.75]
>>> round(float(dc[0]), 6)
0.021651
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidInputError

__all__ = ["cliff_lorimer"]


def cliff_lorimer(intensities: Any, kfactors: Any, covariance: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Weight fractions from line intensities, with standard errors.

    Parameters
    ----------
    intensities : array (L, ...)
        One row per line (any trailing navigation shape).
    kfactors : sequence of L floats
        Cliff–Lorimer k-factors, same order.
    covariance : array (L, L, ...), optional
        Covariance of the intensities at each position (None: std NaN).

    Returns
    -------
    composition, std : ndarray (L, ...)
        Fractions summing to 1 at every position (NaN where ``Σ k I`` is 0)
        and their standard errors.
    """
    intensities = np.asarray(intensities, dtype=float)
    k = np.asarray(kfactors, dtype=float)
    if intensities.ndim < 1 or k.shape != intensities.shape[:1]:
        raise InvalidInputError(f"`kfactors` must have one value per line ({intensities.shape[:1]}), "
                                f"got shape {k.shape}")
    kshape = (-1,) + (1,) * (intensities.ndim - 1)
    weighted = k.reshape(kshape) * intensities
    total = weighted.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        comp = np.where(total != 0, weighted / total, np.nan)
    if covariance is None:
        return comp, np.full_like(comp, np.nan)
    cov = np.asarray(covariance, dtype=float)
    L = intensities.shape[0]
    if cov.shape != (L, L) + intensities.shape[1:]:
        raise InvalidInputError(f"`covariance` must have shape {(L, L) + intensities.shape[1:]}, got {cov.shape}")
    # J[i, j] = (δ_ij k_i − C_i k_j) / S
    with np.errstate(divide="ignore", invalid="ignore"):
        eye = np.eye(L).reshape((L, L) + (1,) * (intensities.ndim - 1))
        jac = (eye * k.reshape(kshape)[:, None] - comp[:, None] * k.reshape((1, L) + (1,) * (intensities.ndim - 1))) / total
        var = np.einsum("ij...,jl...,il...->i...", jac, cov, jac)
    return comp, np.sqrt(np.clip(var, 0.0, None))
