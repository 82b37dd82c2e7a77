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

from .expression_vm import expx_scratch, uniform_step
from .expression_vm import run_mapped as _run_mapped
from .forms1d import EXPRESSION, own_rows
from .forms1d import derivative_rows as _derivative_rows
from .gram1 import MIN_CHANNELS, ONE_PASS_MAX, ONE_PASS_MIN


@njit(cache=True, error_model="numpy")
def fusable(kinds, qoff, nq, active, col, ex, P, N, x, bs, R):
    """Whether :func:`evaluate_gram` evaluates this pixel's model: a 1-D
    model of exactly one component, an active Expression with a vector value
    whose free columns are ``0 … P−1``, each its own (no twin, no column twice),
    ``ONE_PASS_MIN ≤ P ≤ ONE_PASS_MAX``, at least ``MIN_CHANNELS`` channels.
    (The caller checks what the kernel's other branches take: ties, 2-D, a PSF.)

    When it does, it writes the evaluations' plan into ``R``'s last row (see
    :func:`_plan`): what depends on ``x``, ``bs``, ``col`` and the program
    only, found once per pixel, not at each evaluation. ``R`` (as
    :func:`.lower.lower`'s ``n_reg`` makes it) has a row past the program's
    registers for its scratch and one more for the plan.
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
    nr = meta[e, 3]
    if not vec[meta[e, 2] + out[meta[e, 6]]] or R.shape[0] < nr + 2 or R.shape[1] < expx_scratch(N):
        return False
    _plan(ex, k0, nq[0], col, x, bs, R[R.shape[0] - 1])
    return True


@njit(cache=True, error_model="numpy")
def _plan(ex, k0, m, col, x, bs, plan):
    """``plan = [uniform step of x, all bs = 1, n, (register, Jacobian row) × n,
    …, own × m]`` (``own`` at ``3 + 2m``): :func:`.expression_vm.uniform_step`,
    the bin scales' test that lets the rows computed in place go unscaled, and
    :func:`.forms1d.own_rows`' pairs (the derivatives computed in their Jacobian
    rows) and ``own``, as :func:`.forms1d._expression` finds them at each evaluation.
    """
    meta, vec, out, cexpr = ex[0], ex[2], ex[5], ex[6]
    e = cexpr[0]
    r0, nr, o0 = meta[e, 2], meta[e, 3], meta[e, 6]
    plan[0] = uniform_step(x)
    other = 0
    for n in range(bs.size):
        other += bs[n] != 1.0
    plan[1] = 1.0 if other == 0 else 0.0
    plan[2] = own_rows(out, o0, vec[r0:r0 + nr], col, k0, m, False, plan[3 + 2 * m:3 + 3 * m], plan[3:3 + 2 * m])


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


@njit(cache=True, error_model="numpy", _nrt=False)
def evaluate_gram(x, bs, y, w, use_w, qoff, nq, q, col, f, r, J, jlo, jhi, ex, R, G, g):
    """:func:`.model._evaluate_claimed` for a :func:`fusable` pixel, and ``G =
    JᵀJ``, ``g = Jᵀr`` at the same point (what :func:`.gram.gram` would
    give, to rounding). Returns ``(Σ r², noise sum)`` as :func:`.gram._residuals`.
    The Jacobian rows are written over every channel (``jlo = 0``, ``jhi =
    N``): the covariance, the SVD and the end check read them.

    :func:`.forms1d._expression`'s work with its per-pixel part taken from the
    plan :func:`fusable` left in ``R``'s last row (the same numbers); nothing
    allocates, so no reference counts (``_nrt=False``; issue 16, multiexp).
    """
    N = x.size
    P = G.shape[0]
    for j in range(P):
        jlo[j] = 0
        jhi[j] = N
    k0 = qoff[0]
    m = nq[0]
    meta, ins, vec, creg, cval, out, cexpr = ex[0], ex[1], ex[2], ex[3], ex[4], ex[5], ex[6]
    e = cexpr[0]
    i0, ni, r0, nr, k0c, nk, o0 = meta[e, 0], meta[e, 1], meta[e, 2], meta[e, 3], meta[e, 4], meta[e, 5], meta[e, 6]
    isvec = vec[r0:r0 + nr]
    plan = R[R.shape[0] - 1]
    pairs = plan[3:3 + 2 * int(plan[2])]
    # the program, the derivatives of pairs computed in their rows, the value left in its register
    _run_mapped(ins[i0:i0 + ni], isvec, creg[k0c:k0c + nk], cval[k0c:k0c + nk], q[k0:k0 + m], x, x[:0], 0, N, R, J,
                pairs, plan[0], R[nr])
    ones = not use_w and plan[1] != 0.0
    _derivative_rows(R, J, out, o0, col, k0, m, isvec, plan[3 + 2 * m:3 + 3 * m], ones, bs, w, use_w)
    v = R[out[o0], :N]
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
