"""The verification of a least-squares answer from the kernel's checks, compiled.

:func:`swiftfit.problem.verify.verify` judges every answer; when the compiled
kernel hands over its checks at the answer (the Gram matrix ``JwᵀJw``,
``Σ (w·model)²`` and the Newton gap), what is left is a few comparisons per
pixel and parameter — but as NumPy operations on ``(B, P)`` arrays that is
some 60 calls of a few µs each, ~0.3 ms per ``multifit`` call whatever the
pixel count. :func:`gram_verdict` makes the same decisions in one loop over
the pixels, the same arithmetic on the same numbers (the data's ``‖w·d‖²`` is
passed in, summed by NumPy as before), so the statuses and gaps are the
NumPy code's bit for bit (``tests/problem/test_verdict.py``). It handles the
common case; where a pixel needs what only the NumPy code computes (the model
for the underflow check, a Newton gap over other columns than the kernel's)
it says so and :func:`~swiftfit.problem.verify.verify` runs the NumPy code for
the whole call.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["gram_verdict"]


@njit(cache=True, nogil=True)
def gram_verdict(status, gap, theta, p0, gram, model_sq, gap_in, kernel_rel, rel, wd2, N, over, keep, under_limit,
                 dead_column, singular, too_few, overflow, nonfinite, not_a_minimum, closed_form,
                 closed_form_exact):  # pragma: no cover - compiled (its twin is verify.verify's NumPy code)
    """Statuses and Newton gaps of ``verify``'s ``gram`` branch, in place.

    ``status`` (B,) int64 and ``gap`` (B,), NaN-filled, are written in place;
    returns False when some pixel needs the NumPy code (then nothing in
    ``status`` or ``gap`` may be used), else True. ``over`` (B,) bool: weights above the largest
    representable or not finite; ``keep`` (K,) the status codes left as they
    are; ``under_limit`` ``N·_UNDERFLOW²``.
    """
    B, P = theta.shape
    raw = np.empty(P)
    col = np.empty(P)
    for b in range(B):
        s = status[b]
        kept = False
        for k in range(keep.shape[0]):
            if s == keep[k]:
                kept = True
        if kept:
            continue
        nrel = 0
        for j in range(P):
            if rel[b, j]:
                nrel += 1
        if N - nrel <= 0:
            status[b] = too_few
            continue
        if over[b]:
            status[b] = overflow
            continue
        if not (wd2[b] >= under_limit):
            return False  # a tiny (or zero, or NaN) ‖w·d‖²: the underflow check needs max |w·d| and the model
        if s <= 0 or P == 0:
            continue
        finite = True
        for j in range(P):
            for i in range(P):
                if not np.isfinite(gram[b, i, j]):
                    finite = False
            raw[j] = np.sqrt(gram[b, j, j])
            if not np.isfinite(raw[j]):
                finite = False
        if not finite:
            status[b] = nonfinite
            continue
        # the column each parameter moves over its own size, max(|θ|, |p0|) (1 where 0 or not finite)
        ref = np.sqrt(max(wd2[b], model_sq[b])) if not (np.isnan(wd2[b]) or np.isnan(model_sq[b])) else np.nan
        top_col = 0.0
        top_raw = 0.0
        for j in range(P):
            size = max(abs(theta[b, j]), abs(p0[b, j]))
            if np.isnan(abs(theta[b, j])) or np.isnan(abs(p0[b, j])):
                size = np.nan
            if not (size > 0 and np.isfinite(size)):
                size = 1.0
            col[j] = raw[j] * size
            if rel[b, j]:
                if np.isnan(col[j]) or np.isnan(top_col):
                    top_col = np.nan
                elif col[j] > top_col:
                    top_col = col[j]
                if raw[j] > top_raw:
                    top_raw = raw[j]
        if np.isnan(ref) or np.isnan(top_col):
            ref = np.nan
        elif top_col > ref:
            ref = top_col
        dead = False
        for j in range(P):
            if rel[b, j] and not (col[j] > dead_column * ref) and not (raw[j] > dead_column * top_raw):
                dead = True
        if dead:
            status[b] = singular
            continue
        if closed_form_exact and s == closed_form:
            continue
        for j in range(P):
            if kernel_rel[b, j] != rel[b, j]:
                return False  # the kernel's gap is over other columns: newton_gaps here
        gap[b] = gap_in[b]
        if gap_in[b] > 1:
            status[b] = not_a_minimum
    return True
