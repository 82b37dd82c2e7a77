"""One evaluation or one end-of-fit check of the fused kernel at given
parameters, for every pixel: what one iteration needs (:func:`evaluate_pixels`)
and what the verification takes from a final point (:func:`check_pixels`).
Used by the tests and by the verification of answers that did not come from
the kernel.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from . import newton as _newton
from .endcheck import _check_point, _work
from .gram import gram_grid as _gram
from .lm_linalg import _cov_core
from .model import evaluate as _evaluate
from .model import mark_relevant as _mark_relevant
from .psf import PLAIN_TABLES as _PLAIN_TABLES
from .psf import convolved as _convolved  # model.evaluate through a PSF operator (psf.py)


@njit(cache=True, parallel=True, error_model="numpy")
def evaluate_pixels(x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED, col, THETA, ex, n_reg,
                    dense=True):
    """Model (B, N), weighted residuals, ``JᵀJ`` (B, P, P), ``Jᵀr`` (B, P),
    the weighted Jacobian (B, N, P; (B, 0, P) unless ``dense``) and the
    norms of the unweighted Jacobian's columns (B, P) at ``THETA``: what one
    iteration needs, for the tests and the verification of a fit.
    """
    B, N = Y.shape
    P = THETA.shape[1]
    F = np.empty((B, N))
    R = np.empty((B, N))
    G = np.empty((B, P, P))
    g = np.empty((B, P))
    Jout = np.zeros((B, N if dense else 0, P))
    C = np.empty((B, P))
    for b in prange(B):
        q = FIXED[b].copy()
        for k in range(q.size):
            if 0 <= col[k] < P:
                q[k] = THETA[b, col[k]]
        T = ex[7].shape[0]
        J = np.zeros((P + 1 + T, N))
        jlo = np.zeros(P + 1 + T, dtype=np.int64)
        jhi = np.zeros(P + 1 + T, dtype=np.int64)
        wb = W[b] if use_w else W[0]
        f = np.empty(N)
        Rg = np.empty((n_reg, N))
        if len(ex) > _PLAIN_TABLES:  # a PSF operator: a constant when compiled (psf.convolved)
            _convolved(x, xy, grid, ascending, dx, bs, Y[b], wb, use_w, kinds, qoff, nq, ACTIVE[b], q, col, f, R[b], J,
                       jlo, jhi, ex, Rg)
        else:
            _evaluate(x, xy, grid, ascending, dx, bs, Y[b], wb, use_w, kinds, qoff, nq, ACTIVE[b], q, col, f, R[b], J,
                      jlo, jhi, ex, Rg)
        for n in range(N):
            F[b, n] = f[n] * bs[n]
            if dense:
                for j in range(P):
                    Jout[b, n, j] = J[j, n]
        for j in range(P):
            s = 0.0
            for n in range(jlo[j], jhi[j]):
                v = J[j, n] / wb[n] if use_w else J[j, n]
                s += v * v
            C[b, j] = math.sqrt(s)
        _gram(J, jlo, jhi, grid, R[b], G[b], g[b])
    return F, R, G, g, Jout, C


@njit(cache=True, error_model="numpy")
def check_pixels(x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED, col, THETA, ex, n_reg, lo, hi):
    """What :func:`fit_pixels` hands the verification, at any ``THETA``:
    ``JwᵀJw`` (B, P, P), ``(Σ (w·model)², Newton gap)`` (B, 2) and the columns
    that reach the model (B, P), from :func:`_check_point` (the tests compare
    them with the NumPy verification).
    """
    B, N = Y.shape
    P = THETA.shape[1]
    gram = np.empty((B, P, P))
    check = np.empty((B, 2))
    relevant = np.zeros((B, P), dtype=np.bool_)
    wk = _work(P, FIXED.shape[1], N)
    g = wk[0][0]
    grad, colnorm = wk[0][12], wk[0][13]
    G, H = wk[1][0], wk[1][5]
    f = np.empty(N)
    r = np.empty(N)
    T = ex[7].shape[0]
    J = np.zeros((P + 1 + T, N))
    jlo = np.zeros(P + 1 + T, dtype=np.int64)
    jhi = np.zeros(P + 1 + T, dtype=np.int64)
    Rg = np.empty((n_reg, N))
    for b in range(B):
        q = FIXED[b].copy()
        for k in range(q.size):
            if 0 <= col[k] < P:
                q[k] = THETA[b, col[k]]
        _mark_relevant(kinds, qoff, nq, ACTIVE[b], col, ex, P, relevant[b])
        wb = W[b] if use_w else W[0]
        if len(ex) > _PLAIN_TABLES:  # a PSF operator: a constant when compiled (psf.convolved)
            cost, _ = _convolved(x, xy, grid, ascending, dx, bs, Y[b], wb, use_w, kinds, qoff, nq, ACTIVE[b], q, col, f,
                                 r, J, jlo, jhi, ex, Rg)
        else:
            cost, _ = _evaluate(x, xy, grid, ascending, dx, bs, Y[b], wb, use_w, kinds, qoff, nq, ACTIVE[b], q, col, f,
                                r, J, jlo, jhi, ex, Rg)
        _gram(J, jlo, jhi, grid, r, G, g)
        # as at the end of a fit (_fit_rows): the covariance's inverse goes to the Newton check
        vecs, mats = wk[0], wk[1]
        Dn = vecs[6]
        for j in range(P):
            Dn[j] = math.sqrt(G[j, j]) if G[j, j] > 0 else 1.0
        ok, bound = _cov_core(G, relevant[b], Dn, mats[4], mats[2], vecs[2], vecs[8], vecs[9], mats[1])
        _check_point(G, g, cost, f, J, jlo, jhi, grid, bs, Y[b], wb, use_w, THETA[b], relevant[b], lo, hi, H, grad,
                     colnorm, gram[b], check[b], wk[6][0], wk[6][1], wk[6][2], mats[2],
                     ok and bound < _newton.FAST_CONDITION)
    return gram, check, relevant
