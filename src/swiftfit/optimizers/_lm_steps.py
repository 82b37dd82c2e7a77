"""Pieces of the batched Levenberg–Marquardt (:mod:`.lm`): factorisation, the
damped step, the geodesic acceleration and the covariance.

Every function works on a block of pixels: arrays carry a leading axis ``B``.
The damped problem is solved in the scaled variables ``z = D δ`` through the
SVD ``J D⁻¹ = U diag(s) Vᵀ``: ``z(λ) = V diag(s / (s² + λ)) Uᵀ r``, so one
factorisation serves every ``λ`` tried at a point, and the acceleration too.
"""

from __future__ import annotations

import numpy as np

from ..problem.problem import Problem

_EPS = np.finfo(float).eps
RCOND = 1e-13  # relative singular-value cut for "singular Jacobian"


def start(problem: Problem, bounded: bool, max_nfev: int | None):
    """The state every damped Gauss–Newton solver starts from.

    Returns ``lo, hi`` (the box, infinite unless ``bounded``), the evaluation
    limit (default ``100·(P+1)``), ``theta`` (``p0`` moved into the box), and
    ``status, nfev, njev, nit`` per pixel (one evaluation counted: the start).
    """
    B, P = problem.B, problem.P
    lo = problem.lower if bounded else np.full(P, -np.inf)
    hi = problem.upper if bounded else np.full(P, np.inf)
    counters = np.zeros(B, dtype=int), np.ones(B, dtype=int), np.zeros(B, dtype=int), np.zeros(B, dtype=int)
    return lo, hi, nfev_limit(P, max_nfev), start_point(problem, bounded), *counters


def nfev_limit(P: int, max_nfev: int | None) -> int:
    """The evaluation limit: ``max_nfev``, by default ``100·(P+1)``.

    >>> nfev_limit(4, None), nfev_limit(4, 7)
    (500, 7)
    """
    return 100 * (P + 1) if max_nfev is None else int(max_nfev)


def start_point(problem: Problem, bounded: bool, order: str = "K") -> np.ndarray:
    """``p0`` moved into the box (a float copy in ``order``); without bounds
    the copy alone (clipping at ±inf is the identity, NaN and −0 included).
    """
    theta = np.array(problem.p0, dtype=float, order=order)
    return np.clip(theta, problem.lower, problem.upper) if bounded else theta


def weighted_jacobian(problem: Problem, theta: np.ndarray) -> np.ndarray:
    J = problem.jacobian(theta)
    if problem.weights is not None:
        J = J * problem.weights[:, :, None]
    return J


def scales(problem: Problem) -> np.ndarray:
    """``|data · w|`` (B, N): the size of the numbers each residual is computed from."""
    y = np.abs(problem.data)
    return y if problem.weights is None else y * problem.weights


def cost_noise(r: np.ndarray, yw: np.ndarray) -> np.ndarray:
    """The rounding noise of a change of ``Σ r²`` (B,).

    Each residual ``r = (y − f) w`` carries an error of a couple of ulps of
    ``|y w| + |f w|``, random in sign, so a change of the cost computed from
    ``Σ (r − r')(r + r')`` is uncertain by about ``4 ε ‖r (|y w| + |f w|)‖``;
    twice that is taken as the level below which changes are rounding.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return 8 * _EPS * np.linalg.norm(r * (2 * yw + np.abs(r)), axis=1)


# Largest condition number of the scaled Jacobian for which its singular
# values are taken from the Gram matrix JᵀJ (eigenvalues to ~ε·κ² relative,
# 2e-6 here: steps stay accurate and the iteration converges to the same
# point, since the answer is fixed by the residuals, not the step solver).
GRAM_MAX_COND = 1e5


def factorize(J: np.ndarray, D: np.ndarray, frozen: np.ndarray, r: np.ndarray, need_u: bool = False):
    """Factorise the scaled Jacobian ``J D⁻¹`` (frozen columns zeroed).

    Returns ``(U or None, s, Vt, Dn, c)`` with ``c = Uᵀ r``. Where the scaled
    Jacobian is well conditioned the singular values and vectors come from
    the eigen-decomposition of the small ``P×P`` Gram matrix (one BLAS
    product, ~50× cheaper than an SVD of the tall ``N×P`` matrix, and no
    ``N×P`` factor kept); ill-conditioned pixels, and every pixel when ``U``
    itself is needed (geodesic acceleration), take the SVD.
    """
    B, N, P = J.shape
    Dn = np.where(D > 0, D, 1.0)
    s = np.empty((B, P))
    vt = np.empty((B, P, P))
    c = np.empty((B, P))
    svd_rows = np.arange(B)
    if not need_u:
        Jt = J.transpose(0, 2, 1)
        G = np.matmul(Jt, J) / (Dn[:, :, None] * Dn[:, None, :])
        g = np.matmul(Jt, r[:, :, None])[:, :, 0] / Dn
        live = ~frozen
        G = np.where(live[:, :, None] & live[:, None, :], G, 0.0)
        g = np.where(live, g, 0.0)
        w, V = np.linalg.eigh(G)
        w, V = w[:, ::-1], V[:, :, ::-1]
        s_g = np.sqrt(np.clip(w, 0.0, None))
        vt_g = V.transpose(0, 2, 1)
        n_live = live.sum(axis=1)
        smallest = s_g[np.arange(B), np.maximum(n_live - 1, 0)]
        good = (smallest * GRAM_MAX_COND > s_g[:, 0]) & np.isfinite(s_g).all(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            c_g = np.where(s_g > 0, np.einsum("bpq,bq->bp", vt_g, g) / s_g, 0.0)
        s[good], vt[good], c[good] = s_g[good], vt_g[good], c_g[good]
        svd_rows = np.flatnonzero(~good)
    u = None
    if svd_rows.size:
        Js = np.where(frozen[svd_rows][:, None, :], 0.0, J[svd_rows] / Dn[svd_rows][:, None, :])
        u_s, s[svd_rows], vt[svd_rows] = np.linalg.svd(Js, full_matrices=False)
        c[svd_rows] = np.einsum("bnp,bn->bp", u_s, r[svd_rows])
        if need_u:
            u = u_s
    return u, s, vt, Dn, c


def kept(s: np.ndarray, N: int) -> np.ndarray:
    """Singular values above the rank cut."""
    return s > RCOND * s[:, :1] * max(N, s.shape[1])


def gauss_newton(c, s, vt, N):
    """The undamped (minimum-norm) Gauss–Newton step in scaled variables, for
    ``c = Uᵀ r``, and the reduction of the cost it predicts, ``‖U Uᵀ r‖²``.
    """
    keep = kept(s, N)
    cg = np.where(keep, c, 0.0)
    z = np.einsum("bqp,bq->bp", vt, cg / np.where(keep, s, 1.0))
    return z, np.einsum("bp,bp->b", cg, cg)


def damped(c, s, vt, lam, N):
    """``z(λ) = V diag(s / (s² + λ)) c`` (B, P) for damping ``λ`` (B,);
    ``λ = 0`` is the pseudo-inverse over the kept singular values.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        filt = np.where(lam[:, None] > 0, s / (s * s + lam[:, None]), 0.0)
    gn = lam[:, None] <= 0
    if gn.any():
        keep = kept(s, N)
        filt = np.where(gn, np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0), filt)
    return np.einsum("bqp,bq->bp", vt, filt * c)


def predicted(c, s, vt, Dn, step):
    """Reduction of ``‖r‖²`` the linear model predicts for ``step`` (B, P):
    ``2 rᵀJδ − ‖Jδ‖²`` with ``J δ = U w``, ``w = s Vᵀ D δ`` (no cancellation).
    """
    w = s * np.einsum("bpq,bq->bp", vt, Dn * step)
    return np.einsum("bp,bp->b", w, 2 * c - w)


def trust_lambda(c, s, delta, lam0, N, iters=12):
    """Damping ``λ`` (B,) whose step has scaled length ``‖z(λ)‖ ≈ Δ``.

    ``λ = 0`` (the Gauss–Newton step) when that step is no longer than
    ``1.1 Δ``; otherwise safeguarded Newton iterations on ``1/‖z(λ)‖ = 1/Δ``
    (Hebden; Moré), a function nearly linear in ``λ``, from ``lam0``, kept
    in ``(0, ‖g‖/Δ]`` where ``g = s c`` is the scaled gradient.
    """
    keep = kept(s, N)
    sc2 = np.where(keep, s * c, 0.0) ** 2
    s2 = np.where(keep, s * s, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        n0 = np.sqrt(np.sum(np.where(keep, c * c / np.where(keep, s2, 1.0), 0.0), axis=1))
        upper = np.sqrt(sc2.sum(axis=1)) / delta
        floor = 1e-15 * upper
        lam = np.clip(np.where(np.isfinite(lam0) & (lam0 > 0), lam0, 1e-3 * upper), floor, upper)
        for _ in range(iters):
            d = s2 + lam[:, None]
            n = np.sqrt(np.sum(sc2 / d**2, axis=1))
            dn = -np.sum(sc2 / d**3, axis=1) / n  # d‖z‖/dλ
            lam = np.clip(np.nan_to_num(lam + (n / dn) * (delta - n) / delta, nan=upper), floor, upper)
    return np.nan_to_num(np.where(n0 <= 1.1 * delta, 0.0, lam), nan=0.0, posinf=0.0)


def acceleration(sub: Problem, theta, r, v, u, s, vt, Dn, frozen, lam, h=0.1):
    """Geodesic acceleration (Transtrum & Sethna 2012) along the velocity ``v``.

    The second directional derivative of the model along ``v`` comes from one
    extra residual evaluation, ``f_vv ≈ (2/h)((r(θ) − r(θ + h v))/h − J v)``;
    the acceleration ``a`` solves the same damped problem with ``−f_vv`` as
    right-hand side. Returns ``a`` (B, P) and the ratio ``2‖a‖/‖v‖`` in the
    scaled norm (``inf`` where the extra evaluation was not finite).
    """
    r_h = sub.residuals(theta + h * v)
    Jv = np.einsum("bnp,bp->bn", u, s * np.einsum("bpq,bq->bp", vt, Dn * v))
    with np.errstate(all="ignore"):
        fvv = (2.0 / h) * ((r - r_h) / h - Jv)
    ok = np.isfinite(fvv).all(axis=1)
    fvv = np.where(ok[:, None], fvv, 0.0)
    z = damped(np.einsum("bnp,bn->bp", u, -fvv), s, vt, lam, r.shape[1])
    a = np.where(frozen, 0.0, z / Dn)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = 2 * np.linalg.norm(Dn * a, axis=1) / np.linalg.norm(Dn * v, axis=1)
    return a, np.where(ok, np.nan_to_num(ratio, nan=np.inf), np.inf)


def covariance(problem: Problem, theta: np.ndarray, rel: np.ndarray, Jw: np.ndarray | None = None) -> np.ndarray:
    """``(JᵀWJ)⁻¹`` at ``theta`` over the relevant columns; NaN where singular.
    ``Jw``: the weighted Jacobian at ``theta`` when the caller has it (B, N, P).
    """
    B, P = theta.shape
    cov = np.full((B, P, P), np.nan)
    ok = np.isfinite(theta).all(axis=1)
    if not ok.any():
        return cov
    rows = np.flatnonzero(ok)
    if Jw is None:
        J = weighted_jacobian(problem.take(rows), theta[rows])
    else:
        J = Jw if rows.size == B else Jw[rows]  # (no copy of the chunk's Jacobian when every pixel is in)
    finite = np.isfinite(J).all(axis=(1, 2))
    J = np.where(rel[rows][:, None, :], np.nan_to_num(J), 0.0)
    norms = np.sqrt(np.einsum("bnp,bnp->bp", J, J))
    Dn = np.where(norms > 0, norms, 1.0)
    # the relevant columns first, so that the rank test below sees them only
    _, s, vt, _, _ = factorize(J, Dn, ~rel[rows], np.zeros(J.shape[:2]))
    # every column relevant and full rank (the usual pixel): all at once
    full = finite & rel[rows].all(axis=1) & (s[:, -1] > RCOND * s[:, 0] * max(problem.N, P))
    if full.any():
        v = vt[full].transpose(0, 2, 1)  # (R, P, P)
        d = Dn[full]
        cov[rows[full]] = (v / s[full][:, None, :] ** 2) @ vt[full] / (d[:, :, None] * d[:, None, :])
    for k, b in enumerate(rows):
        if not finite[k] or full[k]:
            continue
        keep = rel[b]
        n_rel = int(keep.sum())
        sk = s[k][:n_rel]
        if n_rel == 0 or sk[-1] <= RCOND * sk[0] * max(problem.N, P):
            continue
        v = vt[k][:n_rel].T  # (P, n_rel)
        c = (v / sk**2) @ v.T / np.outer(Dn[k], Dn[k])
        c[~keep, :] = np.nan
        c[:, ~keep] = np.nan
        cov[b] = c
    return cov



def answer_checks(problem: Problem, theta: np.ndarray, r: np.ndarray, rel: np.ndarray):
    """The weighted Jacobian at the answer ``theta`` (one evaluation, NaN where
    ``theta`` is not finite) and :func:`checks` from it and the residuals
    ``r`` the solver ended with. Returns ``(Jw, checks)``.
    """
    B, P = theta.shape
    J = np.full((B, problem.N, P), np.nan)
    ok = np.isfinite(theta).all(axis=1)
    if ok.all():
        J = np.asarray(problem.jacobian(theta), dtype=float)
    elif ok.any():
        rows = np.flatnonzero(ok)
        J[rows] = problem.take(rows).jacobian(theta[rows])
    w = problem.weights
    Jw = J if w is None else J * w[:, :, None]
    return Jw, checks(problem, theta, J, Jw, r, rel)


def checks(problem: Problem, theta: np.ndarray, J: np.ndarray, Jw: np.ndarray, r: np.ndarray,
           rel: np.ndarray) -> dict:
    """What :func:`swiftfit.problem.verify.verify` takes as ``checks`` at a
    least-squares answer ``theta``, from the Jacobian there (``J`` as the
    problem evaluates it, ``Jw`` weighted, both (B, N, P)) and the weighted
    residuals ``r`` (B, N): ``gram`` ``JwᵀJw``, ``model_sq`` ``Σ (w·model)²``
    (``w·data − r``), ``gap`` the Newton gap by
    :func:`~swiftfit.problem.verify.newton_gaps` (``f = Σ r²``, ``g = −2 Jwᵀr``,
    ``H = 2 JwᵀJw``, as the verification computes them) and ``relevant``
    (B, P), the columns counted as free. Used by the NumPy and JAX LM, so the
    write-back evaluates neither the model nor the Jacobian again.
    """
    from ..losses import LeastSquares
    from ..problem.verify import newton_gaps

    w = problem.weights
    with np.errstate(all="ignore"):
        gram = Jw.transpose(0, 2, 1) @ Jw
        derivatives = (np.einsum("bn,bn->b", r, r), -2 * np.einsum("bnp,bn->bp", Jw, r), 2 * gram)
        gap = newton_gaps(problem, LeastSquares(), theta, J, free=rel, derivatives=derivatives)
        wm = (problem.data if w is None else problem.data * w) - r
        model_sq = np.einsum("bn,bn->b", wm, wm)
    return {"gram": gram, "model_sq": model_sq, "gap": gap, "relevant": rel}
