"""Compiled variable projection for one power law over constant columns.

The case of :mod:`.varpro` that EELS spectrum images are made of: the model is
``A·exp(−r L)·mb + Σ_k c_k X_k`` (a power law of exponent ``r`` and constant
columns ``X_k``: edges at fixed onsets, convolved or not, fine-structure
spline columns), weighted. Per pixel, with every array in cache: the
exponential, the small Gram system (its constant block precomputed), the
residual with one step of iterative refinement, Kaufman's projected
Gauss–Newton step in ``r`` with Marquardt damping when a step is refused — the
same iteration and stopping tests as the NumPy code of :func:`.varpro.varpro`,
which is the reference it is tested against (``tests/eels/test_eels_varpro.py``).

Speed: pixels run in parallel (``prange`` over blocks of pixels, numba's
thread count: ``NUMBA_NUM_THREADS`` / :func:`numba.set_num_threads`), each
block with its own work arrays (nothing is allocated per pixel); a pixel's
result does not depend on the block or thread that computed it. Every pass
over the channels is a loop the compiler vectorises (``fastmath`` limited to
re-association and contraction: no assumption about NaN or infinity), and the
exponential is :func:`_exp_scaled`'s polynomial (vectorised, within 1 ulp of
``math.exp``) instead of a libm call per channel. At the answer the kernel
sums, in the same passes, what the covariance and the verification need: the
Gram matrix and ``Jᵀr`` of the full weighted Jacobian, ``Σ (w·model)²`` and the
unweighted column norms.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_EPS = np.finfo(float).eps
_FAST = {"reassoc", "contract", "nsz"}  # vectorised sums; no nnan/ninf assumption
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split in two (fdlibm's constants)
_LN2_LO = 1.90821492927058770002e-10
_EXP_MAX = 700.0  # |x| below this: 2^k is a normal double
_SCHUR_MIN = 8  # more constant columns than this: the Schur-complement solve (O(K²) per step)


@njit(cache=True, fastmath={"contract"})  # no re-association: it would undo the split of ln 2
def _exp_scaled(r, L, mbw, out, kbits, kf):
    """``out = exp(−r L) · mbw`` where ``|r L| < 700`` (the caller checks):
    ``x = k ln2 + f`` with ``|f| ≤ ln2/2``, ``e^f`` by its Taylor polynomial of
    degree 13 (remainder below 1e-17 relative), ``2^k`` written into the exponent
    bits of ``kbits`` (``kf`` is its float64 view). Both loops vectorise.
    """
    N = L.shape[0]
    for n in range(N):
        x = -r * L[n]
        k = np.floor(x * _LOG2E + 0.5)
        f = (x - k * _LN2_HI) - k * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * f + 1.0 / 479001600.0
        p = p * f + 1.0 / 39916800.0
        p = p * f + 1.0 / 3628800.0
        p = p * f + 1.0 / 362880.0
        p = p * f + 1.0 / 40320.0
        p = p * f + 1.0 / 5040.0
        p = p * f + 1.0 / 720.0
        p = p * f + 1.0 / 120.0
        p = p * f + 1.0 / 24.0
        p = p * f + 1.0 / 6.0
        p = p * f + 0.5
        p = p * f + 1.0
        p = p * f + 1.0
        out[n] = p * mbw[n]
        kbits[n] = (np.int64(k) + 1023) << 52
    for n in range(N):
        out[n] *= kf[n]


@njit(cache=True, error_model="numpy")
def _power_column(r, L, lmax, mbw, out, kbits, kf):
    """The weighted power-law column ``exp(−r L)·mbw``: :func:`_exp_scaled` in its range, libm beyond."""
    if abs(r) * lmax < _EXP_MAX:
        _exp_scaled(r, L, mbw, out, kbits, kf)
    else:
        for n in range(L.shape[0]):
            out[n] = math.exp(-r * L[n]) * mbw[n]


@njit(cache=True, fastmath=_FAST)
def _dot(a, b):
    acc = 0.0
    for n in range(a.shape[0]):
        acc += a[n] * b[n]
    return acc


@njit(cache=True, fastmath=_FAST)
def _residual(y, c0, s, X, ci, c, out):
    """``out = y − c0·s − Σ_k c_k X_k``; returns ``Σ out²``."""
    N = y.shape[0]
    for n in range(N):
        out[n] = y[n] - c0 * s[n]
    for k in range(ci.shape[0]):
        ck = c[k + 1]
        row = X[ci[k]]
        for n in range(N):
            out[n] -= ck * row[n]
    return _dot(out, out)


@njit(cache=True, fastmath=_FAST)
def _reduction(old, new):
    """``Σ old² − Σ new²`` summed as ``Σ (old − new)(old + new)`` (no cancellation)."""
    acc = 0.0
    for n in range(old.shape[0]):
        acc += (old[n] - new[n]) * (old[n] + new[n])
    return acc


@njit(cache=True, error_model="numpy")
def _chol_inverse(A, inv, Lc, Li, gcond):
    """``inv = A⁻¹`` for a small symmetric positive definite ``A`` (unit diagonal,
    column-scaled) by Cholesky (``Lc``, ``Li``: work arrays); False when a pivot
    falls below ``1/gcond`` (then the condition number is at least of that
    order: too ill-conditioned).
    """
    K = A.shape[0]
    for j in range(K):
        v = A[j, j]
        for k in range(j):
            v -= Lc[j, k] * Lc[j, k]
        if not v > 1.0 / gcond:
            return False
        Lc[j, j] = math.sqrt(v)
        for i in range(j + 1, K):
            u = A[i, j]
            for k in range(j):
                u -= Lc[i, k] * Lc[j, k]
            Lc[i, j] = u / Lc[j, j]
    # inverse of L, then A⁻¹ = L⁻ᵀ L⁻¹
    for i in range(K):
        Li[i, i] = 1.0 / Lc[i, i]
        for j in range(i):
            u = 0.0
            for k in range(j, i):
                u -= Lc[i, k] * Li[k, j]
            Li[i, j] = u / Lc[i, i]
    for i in range(K):
        for j in range(i, K):
            u = 0.0
            for k in range(j, K):
                u += Li[k, i] * Li[k, j]
            inv[i, j] = u
            inv[j, i] = u
    return True


@njit(cache=True, error_model="numpy")
def _linear(r, b, X, ci, G0, bc, y, L, lmax, mbw, hold, tl, gcond, s, res, c, Ginv, d, res_old, refine, ws):
    """Best linear values at exponent ``r`` for pixel ``b`` (``X``, ``G0``, ``y``, ``mbw``:
    its constant columns, their Gram matrix, its weighted data and mask × weight):
    fills ``s``, ``res``, ``c``, ``Ginv`` (scaled inverse Gram) and ``d`` (scales);
    returns ``(cost, bad, Σ res_old² − Σ res²)``. Local column 0 is the power law,
    1.. the constant columns. ``ws``: work arrays.
    """
    G, Gs, rhs, rs, xr, Lc, Li, kbits, kf = ws
    Kc = ci.shape[0]
    K = Kc + 1
    _power_column(r, L, lmax, mbw, s, kbits, kf)
    G[0, 0] = _dot(s, s)
    rhs[0] = _dot(s, y)
    for k in range(Kc):
        v = _dot(X[ci[k]], s)
        G[0, k + 1] = v
        G[k + 1, 0] = v
        rhs[k + 1] = bc[b, k]
        for j in range(Kc):
            G[k + 1, j + 1] = G0[k, j]
    for k in range(K):
        d[k] = math.sqrt(G[k, k]) if G[k, k] > 0 and math.isfinite(G[k, k]) else 1.0
    for i in range(K):
        rs[i] = 0.0 if hold[b, i] else rhs[i] / d[i]
        for j in range(K):
            if hold[b, i] or hold[b, j]:
                Gs[i, j] = 1.0 if i == j else 0.0
            else:
                Gs[i, j] = G[i, j] / (d[i] * d[j])
            if not math.isfinite(Gs[i, j]):
                return np.inf, True, -np.inf
    if not _chol_inverse(Gs, Ginv, Lc, Li, gcond):
        return np.inf, True, -np.inf
    for i in range(K):
        acc = 0.0
        for j in range(K):
            acc += Ginv[i, j] * rs[j]
        c[i] = 0.0 if hold[b, i] else acc / d[i]
    return _tail(b, X, ci, y, hold, tl, s, res, c, Ginv, d, res_old, refine, xr)


@njit(cache=True, error_model="numpy")
def _tail(b, X, ci, y, hold, tl, s, res, c, Ginv, d, res_old, refine, xr):
    """The residual, χ² and the reduction from ``res_old`` at the linear values ``c``
    (with one step of iterative refinement where ``refine``); :func:`_linear`'s end.
    """
    Kc = ci.shape[0]
    K = Kc + 1
    # the residual, χ² and the reduction from ``res_old``; an error δ in c changes χ²
    # only by δᵀGδ (c minimises it), so trials need no refinement
    cost = _residual(y, c[0], s, X, ci, c, res)
    actual = _reduction(res_old, res)
    if refine:  # one step of iterative refinement (the normal equations lose cond·ε in c)
        xr[0] = _dot(s, res)
        for k in range(Kc):
            xr[k + 1] = _dot(X[ci[k]], res)
        for i in range(K):
            if hold[b, i]:
                continue
            acc = 0.0
            for j in range(K):
                if not hold[b, j]:
                    acc += Ginv[i, j] * xr[j] / d[j]
            c[i] += acc / d[i]
        cost = _residual(y, c[0], s, X, ci, c, res)
    for i in range(K):
        if hold[b, i]:
            c[i] = tl[b, i]
    return cost, not math.isfinite(cost), actual


@njit(cache=True, error_model="numpy")
def _prep_schur(G0, G0s, G0inv, d0, Lc, Li, gcond):
    """The scaled inverse ``G0inv`` of a pixel's constant Gram block and its scales
    ``d0`` (for :func:`_linear_schur`); False when it is too ill-conditioned.
    """
    Kc = G0.shape[0]
    for k in range(Kc):
        d0[k] = math.sqrt(G0[k, k]) if G0[k, k] > 0 and math.isfinite(G0[k, k]) else 1.0
    for i in range(Kc):
        for j in range(Kc):
            G0s[i, j] = G0[i, j] / (d0[i] * d0[j])
            if not math.isfinite(G0s[i, j]):
                return False
    return _chol_inverse(G0s, G0inv, Lc, Li, gcond)


@njit(cache=True, error_model="numpy")
def _linear_schur(r, b, X, ci, bc, y, L, lmax, mbw, hold, tl, gcond, s, res, c, Ginv, d, res_old, refine, ws,
                  G0inv, d0):
    """:func:`_linear` for many constant columns (fine structure: ~100) and no held
    column: the constant block's inverse ``G0inv`` (scaled by ``d0``) is computed
    once per pixel, and the power-law column enters by its Schur complement
    ``1 − xᵀ G0⁻¹ x`` (scaled), O(K²) per exponent instead of a Cholesky, O(K³).
    """
    G, Gs, rhs, rs, xr, Lc, Li, kbits, kf = ws
    Kc = ci.shape[0]
    K = Kc + 1
    _power_column(r, L, lmax, mbw, s, kbits, kf)
    ss = _dot(s, s)
    if not (ss > 0 and math.isfinite(ss)):
        return np.inf, True, -np.inf
    ds = math.sqrt(ss)
    d[0] = ds
    rs[0] = _dot(s, y) / ds
    x = rhs  # the scaled cross terms x_k = X_kᵀ s / (ds d0_k)
    for k in range(Kc):
        x[k] = _dot(X[ci[k]], s) / (ds * d0[k])
        if not math.isfinite(x[k]):
            return np.inf, True, -np.inf
        d[k + 1] = d0[k]
        rs[k + 1] = bc[b, k] / d0[k]
    v = xr  # G0⁻¹ x
    sch = 1.0
    for i in range(Kc):
        acc = 0.0
        for j in range(Kc):
            acc += G0inv[i, j] * x[j]
        v[i] = acc
        sch -= x[i] * acc
    if not sch > 1.0 / gcond:
        return np.inf, True, -np.inf
    Ginv[0, 0] = 1.0 / sch
    for i in range(Kc):
        Ginv[0, i + 1] = Ginv[i + 1, 0] = -v[i] / sch
        for j in range(Kc):
            Ginv[i + 1, j + 1] = G0inv[i, j] + v[i] * v[j] / sch
    for i in range(K):
        acc = 0.0
        for j in range(K):
            acc += Ginv[i, j] * rs[j]
        c[i] = acc / d[i]
    return _tail(b, X, ci, y, hold, tl, s, res, c, Ginv, d, res_old, refine, xr)


@njit(cache=True, fastmath=_FAST)
def _jq_column(c0, L, s, out):
    """``out = −c0·L·s``, the exponent's weighted column; returns ``Σ out²``."""
    acc = 0.0
    for n in range(L.shape[0]):
        v = -c0 * L[n] * s[n]
        out[n] = v
        acc += v * v
    return acc


@njit(cache=True, error_model="numpy")
def _kaufman(b, X, ci, L, s, res, c, Ginv, d, hold, jq, XJ):
    """Gradient ``g`` and Gauss–Newton ``H`` of the projected problem in ``r``."""
    Kc = ci.shape[0]
    K = Kc + 1
    JJ = _jq_column(c[0], L, s, jq)
    g = _dot(jq, res)
    XJ[0] = _dot(s, jq)
    for k in range(Kc):
        XJ[k + 1] = _dot(X[ci[k]], jq)
    for k in range(K):
        XJ[k] = 0.0 if hold[b, k] else XJ[k] / d[k]
    proj = 0.0
    for i in range(K):
        for j in range(K):
            proj += XJ[i] * Ginv[i, j] * XJ[j]
    return g, JJ - proj


@njit(cache=True, error_model="numpy")
def _lin(schur, sch, r, b, X, ci, G0, bc, y, L, lmax, mbw, hold, tl, gcond, s, res, c, Ginv, d, res_old, refine,
         ws):
    """:func:`_linear_schur` where ``schur`` (its ``G0inv``, ``d0`` in ``sch``), else :func:`_linear`."""
    if schur:
        return _linear_schur(r, b, X, ci, bc, y, L, lmax, mbw, hold, tl, gcond, s, res, c, Ginv, d, res_old, refine,
                             ws, sch[1], sch[2])
    return _linear(r, b, X, ci, G0, bc, y, L, lmax, mbw, hold, tl, gcond, s, res, c, Ginv, d, res_old, refine, ws)


@njit(cache=True, error_model="numpy")
def _fit_one(b, X, ci, G0, bc, y, L, lmax, mbw, hold, tl, r0, lo, hi, ynorm, ftol, xtol, limit, gcond, arrays, ws,
             sch, out_r, out_c, out_cost, status, nfev, nit):
    """Pixel ``b``'s iteration (:func:`fit_power`); returns its final power-law column and residual."""
    s, st, res, rt, jq, c, ct, Ginv, Gt, d, dt, XJ = arrays
    r = min(max(r0, lo), hi)
    res[:] = 0.0
    # many constant columns (fine structure) and none held: their block inverted once
    schur = ci.shape[0] > _SCHUR_MIN
    for k in range(ci.shape[0] + 1):
        schur = schur and not hold[b, k]
    pre_bad = schur and not _prep_schur(G0, sch[0], sch[1], sch[2], ws[5], ws[6], gcond)
    cost, bad, _ = _lin(schur, sch, r, b, X, ci, G0, bc, y, L, lmax, mbw, hold, tl, gcond, s, rt, c, Ginv, d, res, False, ws)
    res, rt = rt, res
    nfev[b] = 1
    code = 0
    if bad or pre_bad:
        code = -3
    lam = 0.0
    Dq = 0.0
    f_last = False
    while code == 0:
        g, H = _kaufman(b, X, ci, L, s, res, c, Ginv, d, hold, jq, XJ)
        if not (math.isfinite(g) and math.isfinite(H)):
            code = -2
            break
        Dq = max(Dq, math.sqrt(abs(H)))
        D2 = Dq * Dq if Dq > 0 else 1.0
        # the Gauss–Newton step from an accepted point is already below xtol:
        # a located minimum, no trial needed
        if nit[b] > 0 and H > 0 and abs(g / H) <= xtol * max(abs(r), xtol):
            code = 2
            break
        for _ in range(30):
            M = H + lam * D2
            step = g / M if M != 0 else 0.0
            rtr = min(max(r + step, lo), hi)
            cost_t, bad_t, actual = _lin(schur, sch, rtr, b, X, ci, G0, bc, y, L, lmax, mbw, hold, tl, gcond, st, rt, ct, Gt,
                                            dt, res, False, ws)
            nfev[b] += 1
            nit[b] += 1
            noise = 8 * _EPS * (cost_t + 2 * math.sqrt(cost_t) * ynorm) if math.isfinite(cost_t) else np.inf
            sq = math.sqrt(D2)
            x_ok = sq * abs(rtr - r) <= xtol * max(sq * abs(r), xtol)
            ok = math.isfinite(cost_t) and not bad_t
            acc = ok and (actual > 0 or (x_ok and actual >= -noise))
            f_ok = acc and abs(actual) <= max(ftol * cost, noise)
            if acc:
                r = rtr
                cost = cost_t
                s, st = st, s
                res, rt = rt, res
                c, ct = ct, c
                Ginv, Gt = Gt, Ginv
                d, dt = dt, d
                lam = lam / 3
                # converged: a step below xtol, or a second reduction below ftol in a
                # row (one more Gauss–Newton step after the first: ftol alone stops
                # ~sqrt(ftol) from the minimum)
                if f_ok and x_ok:
                    code = 3
                elif x_ok:
                    code = 2
                elif f_ok and f_last:
                    code = 1
                f_last = f_ok
                break
            if x_ok:  # the step is below xtol and still refused: nothing left to gain
                code = 2
                break
            lam = max(4 * lam, 1e-3)
            if nfev[b] >= limit:
                break
        if code == 0 and nfev[b] >= limit:
            code = -1
    if code > 0:  # the answer's linear values, refined
        cost_f, bad_f, _ = _lin(schur, sch, r, b, X, ci, G0, bc, y, L, lmax, mbw, hold, tl, gcond, st, rt, ct, Gt, dt, res, True,
                                   ws)
        if not bad_f and cost_f <= cost:
            cost = cost_f
            s, st = st, s
            res, rt = rt, res
            c, ct = ct, c
    out_r[b] = r
    out_c[b, :] = c
    out_cost[b] = cost
    status[b] = code
    return s, res


@njit(cache=True, error_model="numpy")
def _final_sums(b, X, ci, G0, y, L, s, res, c, jq, winv, weighted, yw, gram, jtr, model_sq, colsq, tmp):
    """At pixel ``b``'s answer: the Gram matrix and ``Jᵀr`` of ``[s, X_1.., −c_A L s]``,
    ``Σ (w·model)²`` and the unweighted column norms² (equal to the Gram diagonal
    without weights). ``tmp``: a work array.
    """
    Kc = ci.shape[0]
    K = Kc + 1
    _jq_column(c[0], L, s, jq)
    gram[b, 0, 0] = _dot(s, s)
    gram[b, K, K] = _dot(jq, jq)
    gram[b, 0, K] = gram[b, K, 0] = _dot(s, jq)
    jtr[b, 0] = _dot(s, res)
    jtr[b, K] = _dot(jq, res)
    for k in range(Kc):
        v = _dot(X[ci[k]], s)
        gram[b, 0, k + 1] = gram[b, k + 1, 0] = v
        v = _dot(X[ci[k]], jq)
        gram[b, K, k + 1] = gram[b, k + 1, K] = v
        jtr[b, k + 1] = _dot(X[ci[k]], res)
        for j in range(Kc):
            gram[b, k + 1, j + 1] = G0[k, j]
    for n in range(y.shape[0]):
        tmp[n] = yw[n] - res[n]
    model_sq[b] = _dot(tmp, tmp)
    if weighted:
        for n in range(y.shape[0]):
            tmp[n] = s[n] * winv[n]
        colsq[b, 0] = _dot(tmp, tmp)
        for n in range(y.shape[0]):
            tmp[n] = jq[n] * winv[n]
        colsq[b, K] = _dot(tmp, tmp)
        for k in range(Kc):
            for n in range(y.shape[0]):
                tmp[n] = X[ci[k], n] * winv[n]
            colsq[b, k + 1] = _dot(tmp, tmp)
    else:
        for k in range(K + 1):
            colsq[b, k] = gram[b, k, k]


@njit(cache=True, error_model="numpy", parallel=True)
def fit_power(Xc, ci, Gc, bc, rwc, L, mbw, winv, yw, hold, tl, r0, lo, hi, ynorm, ftol, xtol, limit, gcond, nblocks):
    """Every pixel's ``(r, c, cost, status, nfev, nit)`` and, at its answer, the Gram
    matrix and ``Jᵀr`` of its weighted Jacobian (columns: the power law, the constant
    ones, the exponent), ``Σ (w·model)²`` and the unweighted column norms².

    ``Xc`` (1 or B, K', N) the weighted columns, of which rows ``ci`` (Kc,) are the
    constant ones (the others are not read), ``Gc`` (1 or B, Kc, Kc)
    their Gram matrix, ``bc`` (B, Kc) ``Xcᵀ rwc``, ``rwc`` (B, N) the weighted data
    less any offset, ``L`` (N,) the log base, ``mbw`` (1 or B, N) mask × bin scale
    × weight, ``winv`` (1 or B, N) 1 / weight (or empty: no weights), ``yw`` (B, N)
    the weighted data; ``nblocks``: blocks of pixels run in parallel (a few per
    thread of :func:`numba.get_num_threads`, which the caller reads: a compiled
    function that reads it is not cached).
    """
    B, N = rwc.shape
    Kc = ci.shape[0]
    K = Kc + 1
    out_r = np.empty(B)
    out_c = np.empty((B, K))
    out_cost = np.empty(B)
    status = np.zeros(B, dtype=np.int64)
    nfev = np.zeros(B, dtype=np.int64)
    nit = np.zeros(B, dtype=np.int64)
    gram = np.zeros((B, K + 1, K + 1))
    jtr = np.zeros((B, K + 1))
    model_sq = np.zeros(B)
    colsq = np.zeros((B, K + 1))
    lmax = 0.0
    for n in range(N):
        lmax = max(lmax, abs(L[n]))
    if not math.isfinite(lmax):
        lmax = np.inf
    weighted = winv.shape[0] > 0
    nblocks = max(1, min(B, nblocks))
    for blk in prange(nblocks):
        # this block's work arrays (the pixels' results do not depend on the block)
        arrays = (np.empty(N), np.empty(N), np.empty(N), np.empty(N), np.empty(N), np.empty(K), np.empty(K),
                  np.empty((K, K)), np.empty((K, K)), np.empty(K), np.empty(K), np.empty(K))
        kbits = np.empty(N, dtype=np.int64)
        ws = (np.zeros((K, K)), np.empty((K, K)), np.empty(K), np.empty(K), np.empty(K), np.zeros((K, K)),
              np.zeros((K, K)), kbits, kbits.view(np.float64))
        tmp = np.empty(N)
        sch = (np.empty((Kc, Kc)), np.empty((Kc, Kc)), np.empty(Kc))
        for b in range(blk * B // nblocks, (blk + 1) * B // nblocks):
            xb = 0 if Xc.shape[0] == 1 else b
            wb = 0 if mbw.shape[0] == 1 else b
            X = Xc[xb]
            G0 = Gc[0 if Gc.shape[0] == 1 else b]
            s, res = _fit_one(b, X, ci, G0, bc, rwc[b], L, lmax, mbw[wb], hold, tl, r0[b], lo, hi, ynorm[b], ftol,
                              xtol, limit, gcond, arrays, ws, sch, out_r, out_c, out_cost, status, nfev, nit)
            wi = winv[0 if winv.shape[0] <= 1 else b] if weighted else tmp
            _final_sums(b, X, ci, G0, rwc[b], L, s, res, out_c[b], arrays[4], wi, weighted, yw[b], gram, jtr,
                        model_sq, colsq, tmp)
    return out_r, out_c, out_cost, status, nfev, nit, gram, jtr, model_sq, colsq
