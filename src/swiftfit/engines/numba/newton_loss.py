"""Poisson and Huber losses in the fused kernel: damped Gauss–Newton on the loss.

The compiled twin of :func:`swiftfit.optimizers.damped_newton.damped_newton`
(the NumPy reference, which the tests hold it to): each step solves
``(H + λ diag(D²)) δ = −g`` with ``g`` the gradient of the objective and ``H``
its Gauss–Newton matrix — Fisher scoring for ``ML-poisson``
(``Σ (m − d ln m)``: ``g = Jᵀ(1 − d/m)``, ``H = Jᵀ diag(1/m) J``, weights
ignored) and iteratively reweighted least squares for ``huber`` (on the
weighted residual ``z``: ``g = −Jwᵀ clip(z, ±δ)``, ``H = Jwᵀ diag(|z| ≤ δ) Jw``)
— with Nielsen's ``λ`` update, projected steps and an active set for bounds,
and the reference's stopping tests (undamped step below ``xtol``, Newton
decrement below ``dtol · errordef``). Model and Jacobian come from
:func:`.model.evaluate`, so every component and tie the kernel runs is here too.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .model import evaluate as _evaluate
from .model import mark_relevant as _mark_relevant
from .psf import PLAIN_TABLES as _PLAIN_TABLES
from .psf import convolved as _convolved  # model.evaluate through a PSF operator (psf.py)

POISSON, HUBER = 0, 1
_TINY = 1e-300


@njit(cache=True, error_model="numpy")
def _value(loss, delta, f, bs, y, r):
    """The objective from the model ``f`` (times ``bs``) and the weighted residuals ``r``."""
    out = 0.0
    if loss == POISSON:
        for n in range(y.size):
            m = f[n] * bs[n]
            if m < 0 or (m == 0 and y[n] > 0):
                return np.inf
            out += m - y[n] * math.log(m) if y[n] > 0 else m
        return out
    for n in range(y.size):
        z = abs(r[n])
        out += 0.5 * z * z if z <= delta else delta * (z - 0.5 * delta)
    return out


@njit(cache=True, error_model="numpy")
def _derivatives(loss, delta, f, bs, y, r, J, jlo, jhi, a, b, g, H):
    """``g = Σ a_n J_n`` and ``H = Σ b_n J_n J_nᵀ`` for the loss (see the module)."""
    N = y.size
    P = g.size
    for n in range(N):
        if loss == POISSON:
            m = f[n] * bs[n]
            a[n] = 1.0 - y[n] / m
            b[n] = 1.0 / max(m, _TINY)
        else:
            a[n] = -min(max(r[n], -delta), delta)
            b[n] = 1.0 if abs(r[n]) <= delta else 0.0
    for i in range(P):
        s = 0.0
        for n in range(jlo[i], jhi[i]):
            s += J[i, n] * a[n]
        g[i] = s
        for j in range(i, P):
            s = 0.0
            for n in range(max(jlo[i], jlo[j]), min(jhi[i], jhi[j])):
                s += J[i, n] * J[j, n] * b[n]
            H[i, j] = s
            H[j, i] = s


@njit(cache=True, error_model="numpy")
def _solve(H, g, lam, Dn, frozen, out):
    """``(H + λ D²) δ = −g`` with frozen columns held at 0 (least squares if singular)."""
    P = g.size
    A = np.zeros((P, P))
    rhs = np.zeros(P)
    for i in range(P):
        if frozen[i]:
            A[i, i] = 1.0
            continue
        rhs[i] = -g[i]
        for j in range(P):
            if not frozen[j]:
                A[i, j] = H[i, j]
        A[i, i] += lam * Dn[i] * Dn[i]
    try:
        sol = np.linalg.solve(A, rhs)
    except Exception:  # singular: the minimum-norm solution, as the reference's lstsq
        sol = np.linalg.lstsq(A, rhs)[0]
    for i in range(P):
        out[i] = sol[i]


@njit(cache=True, error_model="numpy")
def _norm_scaled(Dn, v):
    s = 0.0
    for i in range(v.size):
        s += (Dn[i] * v[i]) ** 2
    return math.sqrt(s)


@njit(cache=True, error_model="numpy")
def newton_pixels(x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED, col, THETA, ex,
                  n_reg, lo, hi, loss, delta, errordef, xtol, dtol, max_nfev, lambda0):
    """Fit every row of ``Y``; ``THETA`` (B, P) holds the starts (inside the
    box) and receives the results. Returns status, nfev, njev, nit and the
    objective per pixel, as the reference.
    """
    B, N = Y.shape
    P = THETA.shape[1]
    T = ex[7].shape[0]
    status = np.zeros(B, dtype=np.int64)
    nfev = np.ones(B, dtype=np.int64)
    njev = np.zeros(B, dtype=np.int64)
    nit = np.zeros(B, dtype=np.int64)
    fval = np.empty(B)
    f = np.empty((2, N))
    r = np.empty((2, N))
    J = np.zeros((2, P + 1 + T, N))
    jlo = np.zeros((2, P + 1 + T), dtype=np.int64)
    jhi = np.zeros((2, P + 1 + T), dtype=np.int64)
    R = np.empty((n_reg, N))
    a = np.empty(N)
    bb = np.empty(N)
    g = np.empty(P)
    H = np.empty((P, P))
    D = np.empty(P)
    Dn = np.empty(P)
    step = np.empty(P)
    trial = np.empty(P)
    newton = np.empty(P)
    rel = np.zeros(P, dtype=np.bool_)
    frozen = np.zeros(P, dtype=np.bool_)
    for b in range(B):
        w = W[b] if use_w else W[0]
        y = Y[b]
        theta = THETA[b]
        q = FIXED[b].copy()
        for j in range(P):
            rel[j] = False
            D[j] = 0.0
        _mark_relevant(kinds, qoff, nq, ACTIVE[b], col, ex, P, rel)
        for k in range(q.size):
            if 0 <= col[k] < P:
                q[k] = theta[col[k]]
        cur = 0
        if len(ex) > _PLAIN_TABLES:  # a PSF operator: a constant when compiled (psf.convolved)
            _convolved(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, ACTIVE[b], q, col, f[cur], r[cur],
                       J[cur], jlo[cur], jhi[cur], ex, R)
        else:
            _evaluate(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, ACTIVE[b], q, col, f[cur], r[cur],
                      J[cur], jlo[cur], jhi[cur], ex, R)
        fb = _value(loss, delta, f[cur], bs, y, r[cur])
        if not math.isfinite(fb):
            status[b] = -2
            fval[b] = fb
            continue
        if P == 0:
            status[b] = 5
            fval[b] = fb
            continue
        lam = lambda0
        nu = 2.0
        stale = True
        st = 0
        while st == 0:
            if stale:
                _derivatives(loss, delta, f[cur], bs, y, r[cur], J[cur], jlo[cur], jhi[cur], a, bb, g, H)
                njev[b] += 1
                finite = True
                for i in range(P):
                    if not math.isfinite(g[i]):
                        finite = False
                    for j in range(P):
                        if not math.isfinite(H[i, j]):
                            finite = False
                if not finite:
                    st = -2
                    break
                for j in range(P):
                    frozen[j] = ((theta[j] <= lo[j] and g[j] > 0) or (theta[j] >= hi[j] and g[j] < 0)
                                 or not rel[j])
                    D[j] = max(D[j], math.sqrt(abs(H[j, j])))
                    Dn[j] = D[j] if D[j] > 0 else 1.0
                _solve(H, g, 0.0, Dn, frozen, newton)
                dec = 0.0
                for j in range(P):
                    dec += g[j] * newton[j]
                dec *= -0.5
                small = _norm_scaled(Dn, newton) <= xtol * max(_norm_scaled(Dn, theta), xtol)
                if small or abs(dec) <= dtol * errordef:
                    st = 2 if small else 1
                    break
                stale = False
            _solve(H, g, lam, Dn, frozen, step)
            for j in range(P):
                trial[j] = min(max(theta[j] + step[j], lo[j]), hi[j])
                step[j] = trial[j] - theta[j]
            pred = 0.0
            for i in range(P):
                acc = 0.0
                for j in range(P):
                    acc += H[i, j] * step[j]
                pred -= g[i] * step[i] + 0.5 * step[i] * acc
            for k in range(q.size):
                if 0 <= col[k] < P:
                    q[k] = trial[col[k]]
            nxt = 1 - cur
            if len(ex) > _PLAIN_TABLES:  # a PSF operator: a constant when compiled (psf.convolved)
                _convolved(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, ACTIVE[b], q, col, f[nxt],
                           r[nxt], J[nxt], jlo[nxt], jhi[nxt], ex, R)
            else:
                _evaluate(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, ACTIVE[b], q, col, f[nxt],
                          r[nxt], J[nxt], jlo[nxt], jhi[nxt], ex, R)
            f_new = _value(loss, delta, f[nxt], bs, y, r[nxt])
            nfev[b] += 1
            nit[b] += 1
            actual = fb - f_new if math.isfinite(f_new) else -np.inf
            rho = actual / pred if pred > 0 else -np.inf
            accept = rho > 1e-4
            if accept:
                shrink = max(1.0 / 3.0, 1.0 - (2.0 * min(rho, 1.0) - 1.0) ** 3)
                lam *= shrink
                nu = 2.0
            else:
                lam *= nu
                nu *= 2.0
            tiny = _norm_scaled(Dn, step) <= xtol * max(_norm_scaled(Dn, theta), xtol)
            if accept:
                for j in range(P):
                    theta[j] = trial[j]
                fb = f_new
                cur = nxt
                stale = True
            else:
                for k in range(q.size):  # back to the current point's parameters
                    if 0 <= col[k] < P:
                        q[k] = theta[col[k]]
                if tiny:
                    st = 2
            if st == 0 and nfev[b] >= max_nfev:
                st = -1
        status[b] = st
        fval[b] = fb
    return status, nfev, njev, nit, fval
