"""Compiled variable projection for any model the fused kernel evaluates.

A model affine in some free columns ``c`` (amplitudes, offsets, polynomial
coefficients) and non-linear in the others ``q`` has, for every ``q``, the
best ``c`` in closed form; variable projection (Golub & Pereyra 1973)
searches ``q`` alone. This kernel does it per pixel, with the model
evaluation of the fused Levenberg–Marquardt (:func:`.model.evaluate`, any
component :mod:`.lower` lowers, 1-D and 2-D) and any number of linear and
non-linear columns:

* one evaluation at ``(c, q)`` gives the model, the residual and the whole
  weighted Jacobian ``J = [X | ∂m/∂q]``; since the model is affine in ``c``,
  ``X`` (the linear columns) does not depend on ``c``, so
  ``δc = (XᵀX)⁻¹ Xᵀ r`` gives ``c(q)`` and the projected χ²
  ``‖r − X δc‖² = ‖r‖² − δcᵀXᵀr`` without another evaluation;
* at ``(c(q), q)`` the Gauss–Newton matrix of the projected problem
  (Kaufman 1975) is the Schur complement of the linear block of ``JᵀJ``:
  ``H = J_qᵀJ_q − J_qᵀX (XᵀX)⁻¹ XᵀJ_q``, with gradient ``J_qᵀ r`` (``Xᵀr = 0``
  there);
* a damped step on ``q`` (λ = ``LAMBDA0`` first, ×4 on a refused step, ÷3
  on an accepted one, Marquardt's scaling by the running column norms of ``H``)
  is accepted when the projected χ² decreases. ``JᵀJ`` and ``Jᵀr`` at the
  new point ``(c(q'), q')`` come from the trial's evaluation at ``(c, q')``
  (``Jᵀr`` shifted by ``−JᵀX δc``; ``X`` exact, ``∂m/∂q`` that of ``c``,
  which differs by ``O(δc)``); where a linear value moved by more than
  ``MOVED`` of itself the point is re-evaluated instead (the first solve
  from a bad amplitude start). One evaluation per step, as LM.

The linear block is solved by Cholesky of the column-scaled ``XᵀX``; where
that fails (a column that vanished, two identical columns) a ridge of
``1e-10`` (relative: the scaled diagonal is 1) is added, growing ×100 until
it factors — the minimum-norm-like ``c`` is fine as a *search* point, since
the answer is handed to the fused Levenberg–Marquardt (:mod:`.kernels`)
anyway: it polishes from there (usually 2–4 evaluations), applies its own
convergence tests, and computes the covariance and the verification's
checks exactly as for an LM fit. The result is therefore an LM minimum,
reached with the linear parameters eliminated during the search.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .kernels import _backward, _cholesky, _forward
from .model import _dot
from .model import evaluate as _evaluate
from .model import gram_grid as _gram

_EPS = np.finfo(np.float64).eps
# the first step's damping, on the column-scaled H (unit diagonal): about half the
# Gauss–Newton step. Measured on the battery's broad3 (three overlapping broad
# peaks, amplitudes started 20× low): λ₀ = 0 jumps into more degenerate minima
# (a width collapsing to a spike or spreading into an offset; median centre error
# 14.5 channels against LM's 10.2), λ₀ = 1 lands near LM's (11.1) and is faster.
LAMBDA0 = 1.0
NEAR = 6  # varpro_status of a pixel fused_varpro(far_only=True) leaves to LM (see far_block)
# The default's rule (fused_varpro(far_only=True), far_block): a start is "far" when
# at least FAR_COLUMNS linear values' best values differ from their starts by more
# than FAR of themselves (a start below 1/5 of it or above 1.8×) and the linear solve
# alone removes at least FAR_GAIN of the start's χ². Calibrated on the battery
# (benchmarks/battery.py, README): broad3 (3 amplitudes of 4 far, 98 % of χ²) wins
# with variable projection; powerlaw_lor (1 far column: the power law's scale at the
# wrong exponent, 99.8 %; with FAR = 0.5 a Lorentzian's amplitude made 24 of 128
# pixels far) and multiexp (2 far, 69 %) are faster with LM.
FAR = 0.8
FAR_COLUMNS = 2
FAR_GAIN = 0.9
MOVED = 0.05  # relative change of a linear value above which J_q is re-evaluated (see _moved)


@njit(cache=True, error_model="numpy")
def _factor_linear(G, lin, rel, d, Gs, L):
    """Cholesky factor ``L`` of the column-scaled linear block of ``G`` (scales ``d``),
    with the smallest ridge that lets it factor. Returns False if none does.
    """
    K = lin.size
    for a in range(K):
        v = G[lin[a], lin[a]]
        d[a] = math.sqrt(v) if (rel[lin[a]] and v > 0.0 and math.isfinite(v)) else 1.0
    for a in range(K):
        for b in range(K):
            if rel[lin[a]] and rel[lin[b]]:
                Gs[a, b] = G[lin[a], lin[b]] / (d[a] * d[b])
            else:
                Gs[a, b] = 1.0 if a == b else 0.0
    ridge = 0.0
    for _ in range(8):
        if _cholesky(Gs, L, ridge):
            small = np.inf
            big = 0.0
            for a in range(K):
                small = min(small, L[a, a])
                big = max(big, L[a, a])
            if small > 1e-7 * big:  # cond(Gs) below ~1e14
                return True
        ridge = 1e-10 if ridge == 0.0 else ridge * 100.0
    return False


@njit(cache=True, error_model="numpy")
def _solve_linear(L, d, rhs, tmp, out):
    """``out = G_ll⁻¹ rhs`` from the scaled factor (``rhs`` unscaled)."""
    K = d.size
    for a in range(K):
        tmp[a] = rhs[a] / d[a]
    _forward(L, tmp, out)
    for a in range(K):
        tmp[a] = out[a]
    _backward(L, tmp, out)
    for a in range(K):
        out[a] /= d[a]


@njit(cache=True, error_model="numpy")
def _linear_step(G, g, lin, rel, d, Gs, L, rhs, tmp, dc):
    """``dc = (XᵀX)⁻¹ Xᵀr`` from the Gram matrix ``G`` and ``g = Jᵀr``; returns
    ``(ok, dcᵀXᵀr)`` — the decrease of χ² the linear solve gives.
    """
    K = lin.size
    if not _factor_linear(G, lin, rel, d, Gs, L):
        for a in range(K):
            dc[a] = 0.0
        return False, 0.0
    for a in range(K):
        rhs[a] = g[lin[a]] if rel[lin[a]] else 0.0
    _solve_linear(L, d, rhs, tmp, dc)
    gain = 0.0
    for a in range(K):
        if not rel[lin[a]]:
            dc[a] = 0.0
        gain += dc[a] * rhs[a]
    return True, gain


@njit(cache=True, error_model="numpy")
def _moved(dc, theta, lin, rel, tol):
    """Whether a linear solve moved some relevant linear value by more than
    ``tol`` of its new size (``MOVED``: then ``∂m/∂q``, affine in ``c`` and
    proportional to it for an amplitude, is re-evaluated at the new values
    instead of reused).
    """
    for a in range(lin.size):
        if rel[lin[a]] and abs(dc[a]) > tol * abs(theta[lin[a]]):
            return True
    return False


@njit(cache=True, error_model="numpy")
def _shift(G, g, lin, dc):
    """``g ← g − G[:, lin] dc``: ``Jᵀr`` after the linear values moved by ``dc``
    (``r ← r − X dc``; ``X`` does not depend on them).
    """
    P = g.size
    for i in range(P):
        acc = 0.0
        for a in range(lin.size):
            acc += G[i, lin[a]] * dc[a]
        g[i] -= acc


@njit(cache=True, error_model="numpy")
def fit_pixel(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, fixedq, col, theta, lin, nl,
              ftol, xtol, max_nfev, fb, Jb, jlob, jhib, rb, ex, R, wk):
    """One pixel's variable projection; ``theta`` (P) is updated in place.
    Returns ``(status, nfev, nit, cost)``: status > 0 converged (1 ftol,
    2 xtol, 3 both), −1 the evaluation limit, −2 non-finite values, −3 a
    linear block that would not factor. ``fb``… are two sets (current,
    trial) of the fused kernel's evaluation buffers; ``wk`` the small work
    arrays of :func:`work`.
    """
    P = theta.size
    K = lin.size
    Q = nl.size
    G, g, Gt, gt, H, Hs, LH, Gs, L, V, vecK, vecQ, rel, q, trial = wk
    d, rhs, tmpk, dc, dct = vecK[0], vecK[1], vecK[2], vecK[3], vecK[4]
    Dq, Dn, gs, z, tmpq = vecQ[0], vecQ[1], vecQ[2], vecQ[3], vecQ[4]
    for k in range(fixedq.size):
        q[k] = fixedq[k]
    for j in range(P):
        rel[j] = False
    for c in range(kinds.size):
        if active[c]:
            for i in range(nq[c]):
                if col[qoff[c] + i] >= 0:
                    rel[col[qoff[c] + i]] = True
    for k in range(fixedq.size):
        if col[k] >= 0:
            q[k] = theta[col[k]]
    cur = 0
    cost, noise_sum = _evaluate(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col,
                                fb[cur], rb[cur], Jb[cur], jlob[cur], jhib[cur], ex, R)
    nfev = 1
    nit = 0
    if not math.isfinite(cost):
        return -2, nfev, nit, cost
    # the best linear values at the start: bad amplitude starts cost nothing
    _gram(Jb[cur], jlob[cur], jhib[cur], grid, rb[cur], G, g)
    ok, gain = _linear_step(G, g, lin, rel, d, Gs, L, rhs, tmpk, dc)
    if not ok:
        return -3, nfev, nit, cost
    for a in range(K):
        theta[lin[a]] += dc[a]
    if _moved(dc, theta, lin, rel, MOVED):
        for k in range(fixedq.size):
            if col[k] >= 0:
                q[k] = theta[col[k]]
        cost, noise_sum = _evaluate(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q,
                                    col, fb[cur], rb[cur], Jb[cur], jlob[cur], jhib[cur], ex, R)
        nfev += 1
        if not math.isfinite(cost):
            return -2, nfev, nit, cost
        _gram(Jb[cur], jlob[cur], jhib[cur], grid, rb[cur], G, g)
    else:
        cost = cost - gain
        _shift(G, g, lin, dc)
    if Q == 0:
        return 5, nfev, nit, cost
    for i in range(Q):
        Dq[i] = 0.0
    lam = LAMBDA0
    f_last = False
    status = 0
    while status == 0:
        # G, g: JᵀJ and Jᵀr at the current point (c(q), q); J_q may be that of a
        # nearby c (see _moved)
        finite = True
        for j in range(P):
            if not (math.isfinite(G[j, j]) and math.isfinite(g[j])):
                finite = False
        if not finite:
            status = -2
            break
        if not _factor_linear(G, lin, rel, d, Gs, L):
            status = -3
            break
        # Kaufman: H = Gqq − Gql Gll⁻¹ Glq, gradient gq − Gql Gll⁻¹ gl
        for j in range(Q):
            for a in range(K):
                rhs[a] = G[lin[a], nl[j]] if (rel[lin[a]] and rel[nl[j]]) else 0.0
            _solve_linear(L, d, rhs, tmpk, V[j])
        for a in range(K):
            rhs[a] = g[lin[a]] if rel[lin[a]] else 0.0
        _solve_linear(L, d, rhs, tmpk, dct)
        for i in range(Q):
            acc = g[nl[i]]
            for a in range(K):
                acc -= G[nl[i], lin[a]] * dct[a]
            gs[i] = acc
            for j in range(Q):
                acc = G[nl[i], nl[j]]
                for a in range(K):
                    acc -= G[nl[i], lin[a]] * V[j, a]
                H[i, j] = acc
        for i in range(Q):
            hii = H[i, i] if rel[nl[i]] else 0.0
            Dq[i] = max(Dq[i], math.sqrt(hii) if hii > 0.0 else 0.0)
            Dn[i] = Dq[i] if Dq[i] > 0.0 else 1.0
        for i in range(Q):
            gs[i] = gs[i] / Dn[i] if rel[nl[i]] else 0.0
            for j in range(Q):
                if rel[nl[i]] and rel[nl[j]]:
                    Hs[i, j] = H[i, j] / (Dn[i] * Dn[j])
                else:
                    Hs[i, j] = 1.0 if i == j else 0.0
        noise = 8 * _EPS * math.sqrt(noise_sum)
        xn = 0.0
        for i in range(Q):
            xn += (Dn[i] * theta[nl[i]]) ** 2
        xn = math.sqrt(xn)
        for _ in range(30):
            if not _cholesky(Hs, LH, lam):
                lam = max(4.0 * lam, 1e-3)
                continue
            _forward(LH, gs, tmpq)
            _backward(LH, tmpq, z)
            sn = 0.0
            for i in range(Q):
                sn += z[i] * z[i]
            sn = math.sqrt(sn)
            for j in range(P):
                trial[j] = theta[j]
            for i in range(Q):
                trial[nl[i]] = theta[nl[i]] + z[i] / Dn[i]
            for k in range(fixedq.size):
                if col[k] >= 0:
                    q[k] = trial[col[k]]
            nxt = 1 - cur
            cost_t, noise_t = _evaluate(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q,
                                        col, fb[nxt], rb[nxt], Jb[nxt], jlob[nxt], jhib[nxt], ex, R)
            nfev += 1
            nit += 1
            cost_p = np.inf
            ok_t = False
            if math.isfinite(cost_t):
                _gram(Jb[nxt], jlob[nxt], jhib[nxt], grid, rb[nxt], Gt, gt)
                ok_t, gain = _linear_step(Gt, gt, lin, rel, d, Gs, L, rhs, tmpk, dc)
                cost_p = cost_t - gain  # the projected χ² at q': ‖r − X δc‖²
            actual = cost - cost_p
            x_ok = sn <= xtol * max(xn, xtol)
            if ok_t and math.isfinite(cost_p) and (actual > 0.0 or (x_ok and actual >= -noise)):
                f_ok = abs(actual) <= max(ftol * cost, noise)
                for a in range(K):
                    trial[lin[a]] += dc[a]
                for j in range(P):
                    theta[j] = trial[j]
                cur = nxt
                noise_sum = noise_t
                if _moved(dc, theta, lin, rel, MOVED):
                    # a large change of the linear values: J_q is re-evaluated there
                    for k in range(fixedq.size):
                        if col[k] >= 0:
                            q[k] = theta[col[k]]
                    cost_n, noise_sum = _evaluate(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq,
                                                  active, q, col, fb[cur], rb[cur], Jb[cur], jlob[cur], jhib[cur],
                                                  ex, R)
                    nfev += 1
                    if not math.isfinite(cost_n):
                        status = -2
                        break
                    cost = cost_n
                    _gram(Jb[cur], jlob[cur], jhib[cur], grid, rb[cur], G, g)
                else:
                    cost = cost_p
                    for i in range(P):
                        g[i] = gt[i]
                        for j in range(P):
                            G[i, j] = Gt[i, j]
                    _shift(G, g, lin, dc)
                lam = lam / 3.0
                if x_ok or (f_ok and f_last):
                    status = 3 if (f_ok and x_ok) else (2 if x_ok else 1)
                f_last = f_ok
                break
            # refused: back to the current point's values
            for k in range(fixedq.size):
                if col[k] >= 0:
                    q[k] = theta[col[k]]
            if x_ok:  # the step is below xtol and still refused: nothing left to gain
                status = 2
                break
            lam = max(4.0 * lam, 1e-3)
            if nfev >= max_nfev:
                break
        if status == 0 and (nfev >= max_nfev or lam > 1e20):
            status = -1
    return status, nfev, nit, cost


@njit(cache=True, error_model="numpy")
def work(P, K, Q, nfixed):
    """The small work arrays of :func:`fit_pixel`, made once per block."""
    return (np.empty((P, P)), np.empty(P), np.empty((P, P)), np.empty(P), np.empty((Q, Q)), np.empty((Q, Q)),
            np.empty((Q, Q)), np.empty((K, K)), np.empty((K, K)), np.empty((Q, K)), np.empty((5, K)),
            np.empty((5, Q)), np.zeros(P, dtype=np.bool_), np.empty(nfixed), np.empty(P))


@njit(cache=True, nogil=True, error_model="numpy")
def fit_block(b0, b1, x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED, col, THETA,
              lin, nl, ftol, xtol, max_nfev, ex, n_reg, status, nfev, nit, cost):
    """Rows ``b0:b1`` of ``Y`` (without the GIL: :func:`fit_pixels` runs blocks in threads)."""
    P = THETA.shape[1]
    N = Y.shape[1]
    fb = np.empty((2, N))
    Jb = np.zeros((2, P + 1, N))
    jlob = np.zeros((2, P), dtype=np.int64)
    jhib = np.zeros((2, P), dtype=np.int64)
    rb = np.empty((2, N))
    R = np.empty((n_reg, N))
    wk = work(P, lin.size, nl.size, FIXED.shape[1])
    for b in range(b0, b1):
        wb = W[b] if use_w else W[0]
        st, nf, ni, cs = fit_pixel(x, xy, grid, ascending, dx, bs, Y[b], wb, use_w, kinds, qoff, nq, ACTIVE[b],
                                   FIXED[b], col, THETA[b], lin, nl, ftol, xtol, max_nfev, fb, Jb, jlob, jhib, rb,
                                   ex, R, wk)
        status[b] = st
        nfev[b] = nf
        nit[b] = ni
        cost[b] = cs


@njit(cache=True, nogil=True, error_model="numpy")
def far_block(b0, b1, x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED, col, THETA, lin,
              ex, n_reg, far):
    """``far[b]`` for rows ``b0:b1``: whether the start is far from its best linear
    values — at least ``FAR_COLUMNS`` linear values whose best value at the start
    differs from it by more than ``FAR`` of itself, and the linear solve alone
    removes at least ``FAR_GAIN`` of the start's χ² (one evaluation).
    """
    P = THETA.shape[1]
    N = Y.shape[1]
    K = lin.size
    f = np.empty(N)
    r = np.empty(N)
    J = np.zeros((P + 1, N))
    jlo = np.zeros(P, dtype=np.int64)
    jhi = np.zeros(P, dtype=np.int64)
    R = np.empty((n_reg, N))
    G = np.empty((P, P))
    g = np.empty(P)
    rel = np.zeros(P, dtype=np.bool_)
    d, rhs, tmp, dc = np.empty(K), np.empty(K), np.empty(K), np.empty(K)
    Gs, L = np.empty((K, K)), np.empty((K, K))
    for b in range(b0, b1):
        q = FIXED[b].copy()
        for k in range(q.size):
            if col[k] >= 0:
                q[k] = THETA[b, col[k]]
        for j in range(P):
            rel[j] = False
        for c in range(kinds.size):
            if ACTIVE[b, c]:
                for i in range(nq[c]):
                    if col[qoff[c] + i] >= 0:
                        rel[col[qoff[c] + i]] = True
        wb = W[b] if use_w else W[0]
        cost, _ = _evaluate(x, xy, grid, ascending, dx, bs, Y[b], wb, use_w, kinds, qoff, nq, ACTIVE[b], q, col, f, r,
                            J, jlo, jhi, ex, R)
        far[b] = False
        if not math.isfinite(cost):
            continue
        if grid[6] > 0:  # columns kept as boxes: the full Gram matrix knows them
            _gram(J, jlo, jhi, grid, r, G, g)
        else:  # only the linear block and its right-hand side
            for a in range(K):
                i = lin[a]
                g[i] = _dot(J[i], r, jlo[i], jhi[i])
                for e in range(a, K):
                    j = lin[e]
                    lo, hi = max(jlo[i], jlo[j]), min(jhi[i], jhi[j])
                    G[i, j] = _dot(J[i], J[j], lo, hi) if hi > lo else 0.0
                    G[j, i] = G[i, j]
        ok, gain = _linear_step(G, g, lin, rel, d, Gs, L, rhs, tmp, dc)
        if not ok or not gain >= FAR_GAIN * cost:
            continue
        n_far = 0
        for a in range(K):
            if rel[lin[a]] and abs(dc[a]) > FAR * abs(THETA[b, lin[a]] + dc[a]):
                n_far += 1
        far[b] = n_far >= FAR_COLUMNS
    return far


def _threads(func, B, per_block, *args):
    """Run ``func(b0, b1, *args)`` over ``B`` rows in blocks of about ``per_block``
    (at most 64 blocks) on ``numba.get_num_threads()`` threads.
    """
    import numba

    n_blocks = max(1, min(B, 64, -(-B // per_block)))
    edges = [blk * B // n_blocks for blk in range(n_blocks + 1)]
    threads = min(numba.get_num_threads(), n_blocks)
    if threads <= 1:
        func(0, B, *args)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        jobs = [pool.submit(func, edges[i], edges[i + 1], *args) for i in range(n_blocks)]
        for job in jobs:
            job.result()


def far_pixels(low: dict, Y, W, use_w, THETA, lin) -> np.ndarray:
    """(B,) bool: the pixels whose start is far from its best linear values (:func:`far_block`)."""
    far = np.zeros(Y.shape[0], dtype=np.bool_)
    _threads(far_block, Y.shape[0], 512, low["x"], low["xy"], low["grid"], low["ascending"], low["dx"], low["bs"], Y, W,
             use_w, low["kinds"], low["qoff"], low["nq"], low["active"], low["fixed"], low["col"], THETA,
             np.ascontiguousarray(lin, dtype=np.int64), low["ex"], low["n_reg"], far)
    return far


def fit_pixels(low: dict, Y, W, use_w, THETA, lin, nl, ftol, xtol, max_nfev):
    """Variable projection on every row of ``Y``; ``THETA`` (B, P) holds the
    starts and receives the answers. Returns ``(status, nfev, nit, cost)``.
    Blocks of pixels run in ``numba.get_num_threads()`` threads, as
    :func:`.kernels.fit_pixels`.
    """
    B = Y.shape[0]
    status = np.zeros(B, dtype=np.int64)
    nfev = np.zeros(B, dtype=np.int64)
    nit = np.zeros(B, dtype=np.int64)
    cost = np.empty(B)
    _threads(fit_block, B, 1, low["x"], low["xy"], low["grid"], low["ascending"], low["dx"], low["bs"], Y, W, use_w,
             low["kinds"], low["qoff"], low["nq"], low["active"], low["fixed"], low["col"], THETA,
             np.ascontiguousarray(lin, dtype=np.int64), np.ascontiguousarray(nl, dtype=np.int64), float(ftol),
             float(xtol), int(max_nfev), low["ex"], low["n_reg"], status, nfev, nit, cost)
    return status, nfev, nit, cost


def fused_varpro(problem, low: dict, vp, *, ftol: float, xtol: float, max_nfev: int | None, radius0: float,
                 far_only: bool = False):
    """Variable projection by the compiled kernel, then the fused
    Levenberg–Marquardt from its answer (:func:`.lower.fused_lm`: polishing,
    convergence tests, covariance and the verification's checks).

    ``vp`` is the separable structure (:func:`swiftfit.optimizers.varpro.plan`).
    With ``far_only`` (the default optimizer's rule), only the pixels whose
    start is far from its best linear values (:func:`far_block`: one
    evaluation tells) are searched; LM fits the others from their own start,
    exactly as ``optimizer="lm"`` would. The decision is per pixel, so
    results do not depend on how pixels are chunked.

    Returns the LM's :class:`~swiftfit.problem.solution.Solution` with the
    evaluations of both stages in ``nfev``, ``info["varpro"]`` (B,) the pixels
    the search ran on and ``info["varpro_status"]`` its own status (> 0
    converged; −1 its evaluation limit; −2 non-finite values, −3 a linear block
    that would not factor: those start the LM from their starting values;
    ``NEAR``: not searched).
    """
    import copy
    import dataclasses

    from . import lower as _lower

    _lower._refresh_kernel_cache()
    P = problem.P
    limit = 100 * (P + 1) if max_nfev is None else int(max_nfev)
    start = np.ascontiguousarray(problem.p0, dtype=float)
    theta = start.copy()
    W = np.ones((1, problem.N)) if problem.weights is None else np.ascontiguousarray(problem.weights, dtype=float)
    Y = np.ascontiguousarray(problem.data, dtype=float)
    use_w = problem.weights is not None
    B = problem.B
    status = np.full(B, NEAR, dtype=np.int64)
    nfev = np.ones(B, dtype=np.int64)  # the evaluation that classified the start
    nit = np.zeros(B, dtype=np.int64)
    rows = np.flatnonzero(far_pixels(low, Y, W, use_w, theta, vp.linear)) if far_only else np.arange(B)
    if rows.size:
        sub = dict(low, active=np.ascontiguousarray(low["active"][rows]), fixed=np.ascontiguousarray(low["fixed"][rows]))
        th = np.ascontiguousarray(theta[rows])
        st, nf, ni, _ = fit_pixels(sub, np.ascontiguousarray(Y[rows]), np.ascontiguousarray(W[rows]) if use_w else W,
                                   use_w, th, vp.linear, vp.nonlinear, ftol, xtol, limit)
        theta[rows], status[rows], nit[rows] = th, st, ni
        nfev[rows] = nf + (1 if far_only else 0)
    searched = status != NEAR
    reset = ~searched | (status <= -2) | ~np.isfinite(theta).all(axis=1)
    theta[reset] = start[reset]  # bit for bit: LM from the pixel's own start
    polish = copy.copy(problem)
    polish.p0 = theta
    # the LM stage has its own evaluation limit (it usually needs 2-4 from a searched answer)
    sol = _lower.fused_lm(polish, low, ftol=ftol, xtol=xtol, max_nfev=limit, radius0=radius0)
    info = dict(sol.info, path="varpro" if searched.any() else "lm", varpro=searched, varpro_status=status)
    return dataclasses.replace(sol, nfev=sol.nfev + nfev, nit=sol.nit + nit, info=info)
