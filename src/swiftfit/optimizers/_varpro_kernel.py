"""Compiled variable projection for one power law over constant columns.

The case of :mod:`.varpro` that EELS spectrum images are made of: the model is
``A·exp(−r L)·mb + Σ_k c_k X_k`` (a power law of exponent ``r`` and constant
columns ``X_k``: edges at fixed onsets, convolved or not), weighted. Per
pixel, with every array in cache: the exponential, the small Gram system
(its constant block precomputed), the residual with one step of iterative
refinement, Kaufman's projected Gauss–Newton step in ``r`` with Marquardt
damping when a step is refused — the same iteration and stopping tests as
the NumPy code of :func:`.varpro.varpro`, which is the reference it is
tested against (``tests/eels/test_eels_varpro.py``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_EPS = np.finfo(float).eps


@njit(cache=True, error_model="numpy")
def _chol_inverse(A, inv, gcond):
    """``inv = A⁻¹`` for a small symmetric positive definite ``A`` (unit diagonal,
    column-scaled) by Cholesky; False when a pivot falls below ``1/gcond`` (then
    the condition number is at least of that order: too ill-conditioned).
    """
    K = A.shape[0]
    Lc = np.zeros((K, K))
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
    Li = np.zeros((K, K))
    for i in range(K):
        Li[i, i] = 1.0 / Lc[i, i]
        for j in range(i):
            u = 0.0
            for k in range(j, i):
                u -= Lc[i, k] * Li[k, j]
            Li[i, j] = u / Lc[i, i]
    for i in range(K):
        for j in range(K):
            u = 0.0
            for k in range(max(i, j), K):
                u += Li[k, i] * Li[k, j]
            inv[i, j] = u
    return True


@njit(cache=True, error_model="numpy")
def _linear(r, b, Xc, xb, Gc, bc, rwc, L, mb, w, wb, hold, tl, gcond, s, res, c, Ginv, d, res_old, refine):
    """Best linear values at exponent ``r`` for pixel ``b``: fills ``s``, ``res``, ``c``,
    ``Ginv`` (scaled inverse Gram) and ``d`` (scales); returns ``(cost, bad, Σ res_old² − Σ res²)``.
    Local column 0 is the power law, 1.. the constant columns.
    """
    N = L.shape[0]
    Kc = Xc.shape[1]
    K = Kc + 1
    G = np.zeros((K, K))
    rhs = np.zeros(K)
    for i in range(Kc):
        rhs[i + 1] = bc[b, i]
        for j in range(Kc):
            G[i + 1, j + 1] = Gc[xb, i, j]
    ss = 0.0
    sr = 0.0
    xs = np.zeros(Kc)
    for n in range(N):
        sn = math.exp(-r * L[n]) * mb[n] * w[wb, n]
        s[n] = sn
        ss += sn * sn
        sr += sn * rwc[b, n]
        for k in range(Kc):
            xs[k] += Xc[xb, k, n] * sn
    G[0, 0] = ss
    rhs[0] = sr
    for k in range(Kc):
        G[0, k + 1] = xs[k]
        G[k + 1, 0] = xs[k]
    for k in range(K):
        d[k] = math.sqrt(G[k, k]) if G[k, k] > 0 and math.isfinite(G[k, k]) else 1.0
    Gs = np.empty((K, K))
    rs = np.empty(K)
    for i in range(K):
        rs[i] = 0.0 if hold[b, i] else rhs[i] / d[i]
        for j in range(K):
            if hold[b, i] or hold[b, j]:
                Gs[i, j] = 1.0 if i == j else 0.0
            else:
                Gs[i, j] = G[i, j] / (d[i] * d[j])
    for i in range(K):
        for j in range(K):
            if not math.isfinite(Gs[i, j]):
                return np.inf, True, -np.inf
    if not _chol_inverse(Gs, Ginv, gcond):
        return np.inf, True, -np.inf
    for i in range(K):
        acc = 0.0
        for j in range(K):
            acc += Ginv[i, j] * rs[j]
        c[i] = 0.0 if hold[b, i] else acc / d[i]
    # the residual, χ² and the reduction from ``res_old``; an error δ in c changes χ²
    # only by δᵀGδ (c minimises it), so trials need no refinement
    cost = 0.0
    actual = 0.0
    for n in range(N):
        v = rwc[b, n] - c[0] * s[n]
        for k in range(Kc):
            v -= c[k + 1] * Xc[xb, k, n]
        res[n] = v
        cost += v * v
        o = res_old[n]
        actual += (o - v) * (o + v)
    if refine:  # one step of iterative refinement (the normal equations lose cond·ε in c)
        xr = np.zeros(K)
        for n in range(N):
            xr[0] += s[n] * res[n]
            for k in range(Kc):
                xr[k + 1] += Xc[xb, k, n] * res[n]
        for i in range(K):
            if hold[b, i]:
                continue
            acc = 0.0
            for j in range(K):
                if not hold[b, j]:
                    acc += Ginv[i, j] * xr[j] / d[j]
            c[i] += acc / d[i]
        cost = 0.0
        for n in range(N):
            v = rwc[b, n] - c[0] * s[n]
            for k in range(Kc):
                v -= c[k + 1] * Xc[xb, k, n]
            res[n] = v
            cost += v * v
    for i in range(K):
        if hold[b, i]:
            c[i] = tl[b, i]
    return cost, not math.isfinite(cost), actual


@njit(cache=True, error_model="numpy")
def _kaufman(b, Xc, xb, L, s, res, c, Ginv, d, hold):
    """Gradient ``g`` and Gauss–Newton ``H`` of the projected problem in ``r``."""
    N = L.shape[0]
    Kc = Xc.shape[1]
    K = Kc + 1
    XJ = np.zeros(K)
    JJ = 0.0
    g = 0.0
    for n in range(N):
        jq = -c[0] * L[n] * s[n]
        JJ += jq * jq
        g += jq * res[n]
        XJ[0] += s[n] * jq
        for k in range(Kc):
            XJ[k + 1] += Xc[xb, k, n] * jq
    for k in range(K):
        XJ[k] = 0.0 if hold[b, k] else XJ[k] / d[k]
    proj = 0.0
    for i in range(K):
        for j in range(K):
            proj += XJ[i] * Ginv[i, j] * XJ[j]
    return g, JJ - proj


@njit(cache=True, error_model="numpy")
def fit_power(Xc, Gc, bc, rwc, L, mb, w, hold, tl, r0, lo, hi, ynorm, ftol, xtol, limit, gcond):
    """Every pixel's ``(r, c, cost, status, nfev, nit)``, its weighted residual and
    power-law column, and the Gram matrix and ``Jᵀr`` of its weighted Jacobian
    (columns: the power law, the constant ones, the exponent).
    """
    B, N = rwc.shape
    K = Xc.shape[1] + 1
    shared = Xc.shape[0] == 1
    wshared = w.shape[0] == 1
    r_out = np.empty(B)
    c_out = np.empty((B, K))
    cost_out = np.empty(B)
    status = np.zeros(B, dtype=np.int64)
    nfev = np.zeros(B, dtype=np.int64)
    nit = np.zeros(B, dtype=np.int64)
    res_out = np.empty((B, N))
    s_out = np.empty((B, N))
    # the Gram matrix and Jᵀr of the full weighted Jacobian [s, X_1.., −c_A L s] at the answer
    gram = np.zeros((B, K + 1, K + 1))
    jtr = np.zeros((B, K + 1))
    col = np.empty(K + 1)
    s = np.empty(N)
    res = np.empty(N)
    st = np.empty(N)
    rt = np.empty(N)
    c = np.empty(K)
    ct = np.empty(K)
    Ginv = np.empty((K, K))
    Gt = np.empty((K, K))
    d = np.empty(K)
    dt = np.empty(K)
    for b in range(B):
        xb = 0 if shared else b
        wb = 0 if wshared else b
        r = min(max(r0[b], lo), hi)
        res[:] = 0.0
        cost, bad, _ = _linear(r, b, Xc, xb, Gc, bc, rwc, L, mb, w, wb, hold, tl, gcond, s, rt, c, Ginv, d, res,
                               False)
        res, rt = rt, res
        nfev[b] = 1
        code = 0
        if bad:
            code = -3
        lam = 0.0
        Dq = 0.0
        f_last = False
        while code == 0:
            g, H = _kaufman(b, Xc, xb, L, s, res, c, Ginv, d, hold)
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
                cost_t, bad_t, actual = _linear(rtr, b, Xc, xb, Gc, bc, rwc, L, mb, w, wb, hold, tl, gcond, st, rt,
                                                ct, Gt, dt, res, False)
                nfev[b] += 1
                nit[b] += 1
                noise = 8 * _EPS * (cost_t + 2 * math.sqrt(cost_t) * ynorm[b]) if math.isfinite(cost_t) else np.inf
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
            cost_f, bad_f, _ = _linear(r, b, Xc, xb, Gc, bc, rwc, L, mb, w, wb, hold, tl, gcond, st, rt, ct, Gt, dt,
                                       res, True)
            if not bad_f and cost_f <= cost:
                cost = cost_f
                s, st = st, s
                res, rt = rt, res
                c, ct = ct, c
        r_out[b] = r
        c_out[b] = c
        cost_out[b] = cost
        status[b] = code
        res_out[b] = res
        s_out[b] = s
        Kc = K - 1
        for n in range(N):
            col[0] = s[n]
            for k in range(Kc):
                col[k + 1] = Xc[xb, k, n]
            col[K] = -c[0] * L[n] * s[n]
            for i in range(K + 1):
                jtr[b, i] += col[i] * res[n]
                for j in range(i + 1):
                    gram[b, i, j] += col[i] * col[j]
        for i in range(K + 1):
            for j in range(i):
                gram[b, j, i] = gram[b, i, j]
    return r_out, c_out, cost_out, status, nfev, nit, res_out, s_out, gram, jtr
