"""What the verification needs at a fit's end, from the kernel's last
evaluation (:func:`_check_point`: ``JwᵀJw``, the model's norm, the Newton
gap), and the per-block work arrays of :func:`.kernels._fit_rows`
(:func:`_work`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import model2d as _m2
from . import newton as _newton


@njit(cache=True, error_model="numpy")
def _check_point(G, g, cost, f, J, jlo, jhi, grid, bs, y, w, use_w, theta, rel, lo, hi, H, grad, colnorm,
                 out_gram, out_check, gfree, gvecs, gmats, pre_inv, pre_ok):
    """What :func:`swiftfit.problem.verify.verify` needs at the answer, from
    this point's evaluation (no second one): ``out_gram`` ← ``JwᵀJw``,
    ``out_check[0]`` ← ``Σ (w·model)²`` and ``out_check[1]`` ← the Newton gap
    (:func:`.newton.gap` with the least-squares derivatives ``χ²``,
    ``−2 Jwᵀr``, ``2 JwᵀJw``, the unweighted columns' norms and the data's norm).
    ``G``/``g`` are ``JwᵀJw``/``Jwᵀr`` as :func:`.gram.gram_grid` made them;
    on a large 2-D raster (``grid[6] > 0``) a column's range is a box
    (:mod:`.model2d`) and its norm is summed over the box. ``H``, ``grad``,
    ``colnorm`` are scratch (from :func:`_work`), and so are ``gfree``,
    ``gvecs``, ``gmats`` (:func:`.newton.gap_into`'s). With ``pre_ok``,
    ``pre_inv`` is the inverse of the Jacobi-scaled ``G`` over ``rel`` (from
    :func:`.lm_linalg._cov_core`, or :func:`.lm_linalg._cov_reuse` from the
    last iteration's factor), which the Newton check then takes instead of
    inverting the same matrix again.
    """
    P = theta.size
    N = y.size
    boxes = grid[6] > 0
    if pre_ok and not (boxes or use_w) and _check_ready(G, g, cost, f, bs, y, theta, rel, lo, hi, out_gram, out_check,
                                                        pre_inv, gvecs):
        return
    Wr = int(grid[0]) if boxes else 0
    for i in range(P):
        grad[i] = -2 * g[i]
        for j in range(P):
            out_gram[i, j] = G[i, j]
            H[i, j] = 2 * G[i, j]
        if not (boxes or use_w):
            # the column's norm is G's diagonal: the same products over the same
            # range (gram.gram), so no second pass over J (issue 16, per-fit cost)
            colnorm[i] = math.sqrt(G[i, i])
            continue
        acc = 0.0
        if boxes:
            r0, r1, c0, c1 = _m2._decode(jlo[i], jhi[i], Wr)
        else:
            r0, r1, c0, c1 = 0, 1, jlo[i], jhi[i]
        for row in range(r0, r1):
            for n in range(row * Wr + c0, row * Wr + c1):
                v = J[i, n] / w[n] if use_w else J[i, n]
                acc += v * v
        colnorm[i] = math.sqrt(acc)
    model_sq = 0.0
    data_sq = 0.0
    for n in range(N):
        wm = f[n] * bs[n] * w[n] if use_w else f[n] * bs[n]
        model_sq += wm * wm
        data_sq += y[n] * y[n]
    out_check[0] = model_sq
    out_check[1] = _newton.gap_into(cost, grad, H, colnorm, math.sqrt(data_sq), theta, lo, hi, rel, 1.0, not use_w, N,
                                    gfree, gvecs, gmats, pre_inv, pre_ok)


@njit(cache=True, error_model="numpy", _nrt=False, fastmath={"reassoc", "contract", "nsz"})
def _square_sums(f, bs, y):
    """``(Σ (f·bs)², Σ y²)``, reassociated so it vectorises: the serial sums
    were two dependent chains of ``N`` additions, ~0.45 µs of a 400-channel
    fit's end (issue 16). They feed the verification's model norm and the
    Newton check's model-step tolerance, which move by roundings (relative
    ε·N at most); no iterate depends on them. NaN/inf semantics are kept.
    """
    model_sq = 0.0
    data_sq = 0.0
    for n in range(y.size):
        wm = f[n] * bs[n]
        model_sq += wm * wm
        data_sq += y[n] * y[n]
    return model_sq, data_sq


@njit(cache=True, error_model="numpy", _nrt=False)
def _check_ready(G, g, cost, f, bs, y, theta, rel, lo, hi, out_gram, out_check, pre_inv, vecs):
    """:func:`_check_point` on an unweighted flat problem whose scaled
    Hessian's inverse ``pre_inv`` is in hand (``pre_ok``), in one pass over
    ``G``: the same values bit for bit as building ``H = 2G``, ``−2g`` and the
    column norms ``√G_ii`` and calling :func:`.newton.gap_into` (its
    first pass, by :func:`.newton._step_from_inverse`, with ``errordef = 1``
    and rescaling), without those copies and that call (issue 16: ~0.45 µs
    of a 5×5 fit's ~5 µs was the check). False (nothing decided) where
    ``gap_into`` would take another path: a non-finite entry, a relevant
    column with ``G_ii ≤ 0``, or a step that crosses a bound; the caller
    then runs the general check.
    """
    P = theta.size
    N = y.size
    d, gs, delta, inv_diag = vecs[0], vecs[1], vecs[3], vecs[4]
    ok = math.isfinite(cost)
    n_free = 0
    for i in range(P):
        gi = -2 * g[i]
        if not (math.isfinite(gi) and math.isfinite(math.sqrt(G[i, i]))):
            ok = False
        for j in range(P):
            if not math.isfinite(2 * G[i, j]):
                ok = False
        hii = 2 * G[i, i]
        if rel[i] and not hii > 0:
            ok = False
        free = rel[i]
        n_free += free
        d[i] = math.sqrt(hii) if free else 1.0
        gs[i] = gi / d[i] if free else 0.0
    if not ok or n_free == 0:
        return False
    _newton._step_from_inverse(pre_inv, gs, d, delta, inv_diag, P)
    for i in range(P):
        trial = theta[i] - delta[i]
        if rel[i] and (trial < lo[i] or trial > hi[i]):
            return False
    model_sq, data_sq = _square_sums(f, bs, y)
    norm = math.sqrt(data_sq)
    s2 = 1.0
    if N > n_free:
        s2 = cost / max(N - n_free, 1)
    worst = -np.inf
    seen = False
    for i in range(P):
        for j in range(P):
            out_gram[i, j] = G[i, j]
        if not rel[i]:
            ratio = 0.0
        else:
            sigma = math.sqrt(2 * 1.0 * inv_diag[i])
            sigma = sigma * math.sqrt(max(s2, 0.0))
            col = math.sqrt(G[i, i])
            model_step = 1e-4 * norm / col if col > 0 else np.inf
            tol = _newton._nanmax2(_newton._nanmax2(0.1 * sigma, 1e-3 * abs(theta[i])), model_step)
            if not (tol > 0):
                tol = _newton._TINY
            ratio = abs(delta[i]) / tol
        if not math.isnan(ratio):
            worst = ratio if (not seen or ratio > worst) else worst
            seen = True
    out_check[0] = model_sq
    out_check[1] = worst if seen else np.nan
    return True


@njit(cache=True, error_model="numpy")
def _work(P, Q, N):
    """The small work arrays of :func:`_fit_rows`, made once per block:
    14 vectors and 6 matrices of ``P`` (the last two vectors and the last
    matrix are :func:`_check_point`'s), the relevance mask, the parameter
    vector ``q`` (``Q``), the SVD's ``(P, N)`` and ``N`` arrays and the
    Newton check's scratch (:func:`.newton.gap_into`).
    """
    vecs = np.empty((14, P))
    mats = np.empty((6, P, P))
    v = (vecs[0], vecs[1], vecs[2], vecs[3], vecs[4], vecs[5], vecs[6], vecs[7], vecs[8], vecs[9], vecs[10],
         vecs[11], vecs[12], vecs[13])
    return (v, (mats[0], mats[1], mats[2], mats[3], mats[4], mats[5]), np.zeros(P, dtype=np.bool_), np.empty(Q),
            np.empty((P, N)), np.empty(N),
            (np.zeros(P, dtype=np.bool_), np.zeros((5, P)), np.zeros((3, P, P)), np.zeros(P, dtype=np.bool_)))
