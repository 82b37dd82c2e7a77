"""One Expression's evaluation with its Gram matrix in the same pass (issue 16, multiexp).

The LM kernel (:func:`.kernels._fit_rows`) evaluates the model at a trial
point (:func:`.model._evaluate_claimed`: zero ``f``, run the register
program, store the value into ``f``, the residuals in a pass of their own)
and, once the point is accepted, takes ``JᵀJ`` and ``Jᵀr`` in another pass
over the Jacobian rows (:func:`.gram.gram`). Where the model is one
Expression that owns every free column (:func:`fusable`), this module does
it in one pass after the register program: the value register gives ``f``
and the residuals, and the same loop sums the fifteen products of the
Jacobian rows' upper triangle, their five with the residuals, ``Σ r²`` and
the rounding-noise sum (:func:`.gram._residuals`'). A rejected trial point
(0.17 per multiexp fit) just drops its sums.

Rounding: the sums are reassociated as :func:`.gram1.gram_one_pass`'s (the
same accumulation, one loop); ``f`` and ``r`` are the same numbers as on the
unfused path. Tested against NumPy's ``J.T @ J`` in
``tests/optimizers/test_gram_one_pass.py``.
"""

from __future__ import annotations

from numba import njit

from .forms1d import EXPRESSION, _expression
from .gram1 import MIN_CHANNELS, ONE_PASS_MAX, ONE_PASS_MIN


@njit(cache=True, error_model="numpy")
def fusable(kinds, qoff, nq, active, col, ex, P, N):
    """Whether :func:`evaluate_gram` evaluates this pixel's model: a 1-D
    model of exactly one component, an active Expression with a vector value
    whose free columns are ``0 … P−1``, each its own (no twin, no column twice),
    ``ONE_PASS_MIN ≤ P ≤ ONE_PASS_MAX``, at least ``MIN_CHANNELS`` channels.
    (The caller checks what the kernel's other branches take: ties, 2-D, a PSF.)
    """
    if kinds.size != 1 or kinds[0] != EXPRESSION or not active[0] or N < MIN_CHANNELS:
        return False
    if P < ONE_PASS_MIN or P > ONE_PASS_MAX:
        return False
    k0 = qoff[0]
    seen = 0
    for i in range(nq[0]):
        j = col[k0 + i]
        if j < 0:
            continue
        if j >= P:
            return False
        for i2 in range(i):
            if col[k0 + i2] == j:
                return False
        seen += 1
    if seen != P:
        return False
    meta, vec, out, cexpr = ex[0], ex[2], ex[5], ex[6]
    e = cexpr[0]
    return vec[meta[e, 2] + out[meta[e, 6]]]


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
def _tail(a0, a1, a2, a3, a4, v, y, bs, w, use_w, f, r):
    """``f = v``, ``r = (y − f·bs)·w`` and the sums of :func:`evaluate_gram`, one loop."""
    s00 = s01 = s02 = s03 = s04 = s11 = s12 = s13 = s14 = s22 = s23 = s24 = s33 = s34 = s44 = 0.0
    g0 = g1 = g2 = g3 = g4 = 0.0
    cost = 0.0
    noise = 0.0
    for n in range(v.size):
        fv = v[n]
        f[n] = fv
        if use_w:
            rn = (y[n] - fv * bs[n]) * w[n]
            t = rn * (2.0 * abs(y[n] * w[n]) + abs(rn))
        else:
            rn = y[n] - fv * bs[n]
            t = rn * (2.0 * abs(y[n]) + abs(rn))
        r[n] = rn
        cost += rn * rn
        noise += t * t
        u0 = a0[n]
        u1 = a1[n]
        u2 = a2[n]
        u3 = a3[n]
        u4 = a4[n]
        s00 += u0 * u0
        s01 += u0 * u1
        s02 += u0 * u2
        s03 += u0 * u3
        s04 += u0 * u4
        s11 += u1 * u1
        s12 += u1 * u2
        s13 += u1 * u3
        s14 += u1 * u4
        s22 += u2 * u2
        s23 += u2 * u3
        s24 += u2 * u4
        s33 += u3 * u3
        s34 += u3 * u4
        s44 += u4 * u4
        g0 += u0 * rn
        g1 += u1 * rn
        g2 += u2 * rn
        g3 += u3 * rn
        g4 += u4 * rn
    return (s00, s01, s02, s03, s04, s11, s12, s13, s14, s22, s23, s24, s33, s34, s44, g0, g1, g2, g3, g4,
            cost, noise)


@njit(cache=True, error_model="numpy")
def evaluate_gram(x, bs, y, w, use_w, qoff, nq, q, col, f, r, J, jlo, jhi, ex, R, G, g):
    """:func:`.model._evaluate_claimed` for a :func:`fusable` pixel, and ``G =
    JᵀJ``, ``g = Jᵀr`` at the same point (what :func:`.gram.gram` would
    give, to rounding). Returns ``(Σ r², noise sum)`` as :func:`.gram._residuals`.
    The Jacobian rows are written over every channel (``jlo = 0``, ``jhi =
    N``): the covariance, the SVD and the end check read them.
    """
    N = x.size
    P = G.shape[0]
    for j in range(P):
        jlo[j] = 0
        jhi[j] = N
    k0 = qoff[0]
    # the program, its derivatives stored in the rows; the value left in its register
    _expression(ex, R, 0, k0, nq[0], q, col, x, x[:0], bs, w, use_w, f[:0], J, P)
    meta, out, cexpr = ex[0], ex[5], ex[6]
    v = R[out[meta[cexpr[0], 6]], :N]
    s = _tail(J[0], J[min(1, P - 1)], J[min(2, P - 1)], J[min(3, P - 1)], J[min(4, P - 1)], v, y, bs, w, use_w, f, r)
    k = 0
    for i in range(ONE_PASS_MAX):
        for j in range(i, ONE_PASS_MAX):
            if i < P and j < P:
                G[i, j] = s[k]
                G[j, i] = s[k]
            k += 1
    for i in range(P):
        g[i] = s[15 + i]
    return s[20], s[21]
