"""Per-pixel checks of a chunk's data that read it once and allocate nothing
of its size (a spectrum image's chunk is tens of MB: every temporary array of
that size costs as much as the linear solve itself).
"""

from __future__ import annotations

import numpy as np

__all__ = ["finite_rows"]


def finite_rows(a: np.ndarray) -> np.ndarray:
    """``np.isfinite(a).all(axis=1)`` for a 2-D float array, without its
    ``a``-sized temporary: a row is finite where its sum is (a NaN or an
    infinity makes the sum non-finite); the rows whose sum overflowed or is
    not finite are checked element by element.

    Examples
    --------
    >>> finite_rows(np.array([[1.0, 2.0], [np.nan, 0.0], [1e308, 1e308], [np.inf, -np.inf]]))
    array([ True, False,  True, False])
    """
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"`a` must be 2-D (pixels, points), got shape {a.shape}")
    with np.errstate(all="ignore"):
        ok = np.isfinite(a.sum(axis=1))
    suspect = np.flatnonzero(~ok)
    if suspect.size:
        ok[suspect] = np.isfinite(a[suspect]).all(axis=1)
    return ok
