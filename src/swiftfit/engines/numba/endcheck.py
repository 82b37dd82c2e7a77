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
    :func:`_cov_core`), which the Newton check then takes instead of
    inverting the same matrix again.
    """
    P = theta.size
    N = y.size
    boxes = grid[6] > 0
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
