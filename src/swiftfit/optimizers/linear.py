"""Linear optimizers: "lstsq", "ols", "nnls" and "ridge".

A model is *linear* when it is affine in its free parameters,
``m(θ) = h + X θ`` — every free parameter scales a component linearly
(``y = a·f(x)``), possibly through linear twins/``expr`` ties, while fixed
parameters (also ones that vary per pixel) and inactive components only change
``h`` and ``X``. Such a model is solved in one linear-algebra call per pixel,
with no starting values and no iterations (status 5, "solved in closed form").

The design matrix is built from the :class:`~swiftfit.fitting.problem.Problem`
generically, so any component works: ``X`` is the Jacobian at ``θ = 0``
(analytic where the components give gradients; for ``grad="fd"`` a central
difference with unit steps, exact for an affine model) and ``h`` the model at
``θ = 0``. Affinity is then verified numerically, at the starting values and
at two points perturbed from them: the model must equal ``h + X θ`` and the
Jacobian must equal ``X``, both to ``1e-9`` relative. Otherwise an
:class:`~swiftfit.errors.OptimizerError` names the non-linear free parameters.

Rows are weighted by ``problem.weights`` (``1/σ``), so every estimator below
is the weighted one: ``Xw = diag(w) X``, ``yw = w (data − h)``.

==========  ===============================================  ==================================
name        estimator                                        covariance returned
==========  ===============================================  ==================================
lstsq, ols  ``min ‖yw − Xw θ‖²`` (SVD)                       ``(XᵀWX)⁻¹`` (the ls covariance)
nnls        same, subject to ``θ ≥ 0`` (scipy ``nnls``)      ``(X_FᵀWX_F)⁻¹`` on the free set F;
                                                             NaN variance for ``θ_j = 0``
ridge       ``min ‖yw − Xw θ‖² + α‖θ‖²``                     sandwich ``A⁻¹ XᵀWX A⁻¹``,
                                                             ``A = XᵀWX + αI``
==========  ===============================================  ==================================

Covariances are unscaled (``σ = 1/w``, or 1 without a noise variance); the
model multiplies them by the reduced χ² when no variance is set, as for every
least-squares optimizer. For lstsq/ols the returned matrix is exactly the
least-squares covariance ``(XᵀWX)⁻¹`` the model would compute from the loss;
it is computed here from the SVD already at hand, on the *relevant* columns
(a parameter whose component is inactive at a pixel gets a NaN variance
there instead of making the whole matrix singular), and from the exact design matrix also when
``grad="fd"``.

"ols" is the same estimator as "lstsq" (HyperSpy's "ols" uses scikit-learn's
LinearRegression without an intercept, which is ordinary least squares; we do
not depend on scikit-learn).

"ridge" penalises ``α‖θ‖²`` on every free parameter in its own units: the
columns are **not** scaled or centred and there is no unpenalised intercept
(an ``Offset`` is penalised like any other parameter). ``alpha`` (default 1.0)
must be a finite number ≥ 0; ``alpha=0`` is ordinary least squares.

Bounds are not supported (``nnls`` is inherently ``θ ≥ 0``). A design that is
rank deficient on the relevant columns gives status -3 (the parameters are
not all determined by the data) and the minimum-norm solution (lstsq/ols).
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.optimize import nnls as _scipy_nnls

from ..errors import OptimizerError
from ..fitting.problem import Problem, relevance
from ..fitting.solution import Solution
from .registry import OptimizerSpec, register

__all__ = ["design_matrix", "solve_lstsq", "solve_nnls", "solve_ridge"]

_TOL = 1e-9  # relative tolerance of the affinity check
_EPS = np.finfo(float).eps
_HINT = (
    "make them not free, e.g. m.set_parameters_not_free(only_nonlinear=True), "
    "or use a non-linear optimizer such as 'lm'"
)


# ---------------------------------------------------------------- design
def _unit_row(P: int) -> np.ndarray:
    """Deterministic, distinct factors in [0.6, 1.4): generic perturbation directions."""
    return 0.6 + 0.8 * (((np.arange(P) + 1) * 0.6180339887498949) % 1.0)


def _affine_error(f, h, X, theta):
    """Per pixel: max |f − (h + Xθ)| and the scale it is compared with."""
    pred = h + np.einsum("bnp,bp->bn", X, theta)
    scale = np.abs(h) + np.einsum("bnp,bp->bn", np.abs(X), np.abs(theta)) + np.abs(f)
    with np.errstate(invalid="ignore"):
        err = np.max(np.abs(f - pred), axis=1, initial=0.0)
    return err, np.max(scale, axis=1, initial=0.0)


def design_matrix(problem: Problem, *, name: str = "lstsq"):
    """The affine form ``m(θ) = h + X θ`` of ``problem``, verified.

    Returns
    -------
    X : ndarray (B, N, P)
    h : ndarray (B, N)
    bad : ndarray (B,) of bool
        Pixels where the model is not finite (nothing can be solved there).
    nfev, njev : int
        Model and Jacobian evaluations used (per pixel).

    Raises
    ------
    OptimizerError
        When the model is not affine in its free parameters; the message
        names the non-linear ones.
    """
    B, N, P = problem.B, problem.N, problem.P
    zero = np.zeros((B, P))
    h = problem.evaluate(zero)
    nfev, njev = 1, 0
    analytic = problem.grad != "fd"
    if analytic:
        X = problem.jacobian(zero)
        njev += 1
    else:
        X = np.empty((B, N, P))
        for j in range(P):
            e = zero.copy()
            e[:, j] = 1.0
            X[:, :, j] = 0.5 * (problem.evaluate(e) - problem.evaluate(-e))
        nfev += 2 * P
    p0 = np.where(np.isfinite(problem.p0), problem.p0, 0.0)
    d = 0.1 * np.maximum(np.abs(p0), 1.0) * _unit_row(P)
    points = (p0, p0 + d, p0 - 0.7 * d)
    finite0 = np.isfinite(h).all(axis=1) & np.isfinite(X).all(axis=(1, 2))
    nonlinear = np.zeros(B, dtype=bool)
    model_bad = np.zeros(B, dtype=bool)
    for k, t in enumerate(points):
        f = problem.evaluate(t)
        nfev += 1
        fin = np.isfinite(f).all(axis=1)
        if k == 0:
            # not finite at the start and at 0: the model itself is broken there
            model_bad = ~fin & ~finite0
        err, scale = _affine_error(f, h, X, t)
        nonlinear |= ~(err <= _TOL * scale) | ~fin
    if analytic and P:
        J = problem.jacobian(points[1])
        njev += 1
        with np.errstate(invalid="ignore"):
            dj = np.abs(J - X).max(axis=1, initial=0.0)  # (B, P)
            cs = np.maximum(np.abs(J).max(axis=1, initial=0.0), np.abs(X).max(axis=1, initial=0.0))
        nonlinear |= ~(dj <= _TOL * cs).all(axis=1)
    nonlinear &= ~model_bad
    nonlinear |= ~finite0 & ~model_bad
    if nonlinear.any():
        names = _nonlinear_names(problem, h, X, d, np.flatnonzero(nonlinear))
        raise OptimizerError(
            f"optimizer {name!r} needs a model that is linear in its free parameters "
            f"(every free parameter scaling a component, y = a·f(x)); not linear: {names}; {_HINT}"
        )
    return X, h, model_bad, nfev, njev


def _nonlinear_names(problem: Problem, h, X, d, rows) -> list[str]:
    """Which free parameters make the model non-affine (at the failing pixels)."""
    sub = problem.take(rows)
    XX, dd = X[rows], d[rows]
    p0 = np.where(np.isfinite(sub.p0), sub.p0, 0.0)
    base = p0 + dd
    f0 = sub.evaluate(base)
    curved, sloped = [], []
    for j, name in enumerate(sub.names):
        up, dn = base.copy(), base.copy()
        up[:, j] += dd[:, j]
        dn[:, j] -= dd[:, j]
        fu, fd = sub.evaluate(up), sub.evaluate(dn)
        scale = np.abs(f0) + np.abs(fu) + np.abs(fd)
        with np.errstate(invalid="ignore"):
            second = np.abs(fu - 2 * f0 + fd)
            slope = np.abs((fu - fd) / 2 - XX[:, :, j] * dd[:, j, None])
            tol = _TOL * scale.max(axis=1, keepdims=True)
        if not (second <= tol).all():
            curved.append(name)  # not linear in itself (e.g. a Gaussian centre)
        elif not (slope <= tol).all():
            sloped.append(name)  # linear alone, not jointly (e.g. a product a·b)
    return curved or sloped or list(sub.names)


# --------------------------------------------------------------- helpers
def _check(name: str, problem: Problem, loss, bounded: bool, options: dict, allowed=()) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise OptimizerError(f"optimizer {name!r} got unknown options {unknown}")
    loss_name = "ls" if loss is None else getattr(loss, "name", loss)
    if loss_name != "ls":
        raise OptimizerError(
            f"optimizer {name!r} supports loss_function in ['ls'], got {loss_name!r}; "
            "use e.g. optimizer='Nelder-Mead' or 'L-BFGS-B' for other losses"
        )
    if bounded:
        raise OptimizerError(f"optimizer {name!r} does not support bounds; use bounded=False")


def _prepare(problem: Problem, name: str):
    """Weighted design, relevance mask and bookkeeping shared by every solver."""
    B, P = problem.B, problem.P
    X, h, model_bad, nfev, njev = design_matrix(problem, name=name)
    w = problem.weights
    data_bad = ~np.isfinite(problem.data).all(axis=1)
    if w is not None:
        data_bad |= ~(np.isfinite(w).all(axis=1) & (w >= 0).all(axis=1))
    status = np.zeros(B, dtype=int)
    status[model_bad] = -2
    status[data_bad] = -4
    ok = status == 0
    rel = relevance(problem, np.zeros((B, P))) if P else np.zeros((B, 0), dtype=bool)
    y = problem.data - h
    if w is not None:
        X = X * w[:, :, None]
        y = y * w
    X = np.where(rel[:, None, :] & ok[:, None, None], X, 0.0)
    y = np.where(ok[:, None], y, 0.0)
    theta = np.array(problem.p0, dtype=float)
    return X, y, rel, ok, status, theta, nfev, njev


def _finish(theta, status, nfev, njev, X, y, ok, cov, penalty=None, info=None) -> Solution:
    B = theta.shape[0]
    fit = np.where(np.isfinite(theta), theta, 0.0)
    r = y - np.einsum("bnp,bp->bn", X, fit)
    objective = np.einsum("bn,bn->b", r, r)
    if penalty is not None:
        objective = objective + penalty
    objective = np.where(ok, objective, np.nan)
    return Solution(
        theta, status, np.full(B, nfev), objective, cov, np.full(B, njev), np.zeros(B, dtype=int), info or {}
    )


def _column_scale(X):
    norms = np.sqrt(np.einsum("bnp,bnp->bp", X, X))
    return np.where(norms > 0, norms, 1.0)


def _mark_undetermined(cov, known):
    """NaN on the diagonal and 0 off it for parameters outside ``known`` (B, P).

    The model reports NaN ``std`` for a parameter whose covariance row holds a
    NaN, so the other parameters keep their errors.
    """
    _B, P = known.shape
    out = np.where(known[:, :, None] & known[:, None, :], cov, 0.0)
    diag = np.arange(P)
    out[:, diag, diag] = np.where(known, out[:, diag, diag], np.nan)
    return out


def _embed(cov_small, idx, P):
    out = np.zeros((P, P))
    out[np.ix_(idx, idx)] = cov_small
    known = np.zeros((1, P), dtype=bool)
    known[0, idx] = True
    return _mark_undetermined(out[None], known)[0]


# --------------------------------------------------------------- solvers
def solve_lstsq(problem: Problem, loss=None, *, bounded: bool = False, _name: str = "lstsq", **options) -> Solution:
    """Ordinary (weighted) least squares in closed form, batched over pixels.

    The columns of ``diag(w) X`` are scaled to unit norm and one batched SVD
    solves every pixel; singular values below ``eps·max(N, P)`` of the largest
    count as zero (numpy ``lstsq``'s default). For a full-rank design this is
    exactly the least-squares solution; for a rank-deficient one it is the
    minimum-norm solution in the scaled columns, with status -3.

    Returns the covariance ``(XᵀWX)⁻¹`` (unscaled; see the module docstring).
    """
    _check(_name, problem, loss, bounded, options)
    B, N, P = problem.B, problem.N, problem.P
    X, y, rel, ok, status, theta, nfev, njev = _prepare(problem, _name)
    cov = np.full((B, P, P), np.nan)
    if P == 0:
        status[ok] = 5
        return _finish(theta, status, nfev, njev, X, y, ok, np.zeros((B, 0, 0)))
    Dn = _column_scale(X)
    u, s, vt = np.linalg.svd(X / Dn[:, None, :], full_matrices=False)
    keep = s > _EPS * max(N, P) * s[:, :1]
    c = np.einsum("bnk,bn->bk", u, y)
    z = np.einsum("bkp,bk->bp", vt, np.where(keep, c / np.where(keep, s, 1.0), 0.0))
    sol = z / Dn
    theta = np.where(rel & ok[:, None], sol, theta)
    full = keep.sum(axis=1) >= rel.sum(axis=1)
    status[ok] = np.where(full[ok], 5, -3)
    inv_s2 = np.where(keep, 1.0 / np.where(keep, s, 1.0) ** 2, 0.0)
    c_all = np.einsum("bkp,bk,bkq->bpq", vt, inv_s2, vt) / (Dn[:, :, None] * Dn[:, None, :])
    good = ok & full
    cov[good] = _mark_undetermined(c_all[good], rel[good])
    return _finish(theta, status, nfev, njev, X, y, ok, cov)


def solve_ols(problem: Problem, loss=None, *, bounded: bool = False, **options) -> Solution:
    """Ordinary least squares: the same estimator as :func:`solve_lstsq`."""
    return solve_lstsq(problem, loss, bounded=bounded, _name="ols", **options)


def solve_nnls(problem: Problem, loss=None, *, bounded: bool = False, maxiter: int | None = None, **options) -> Solution:
    """Non-negative (weighted) least squares, ``θ ≥ 0``, one pixel at a time.

    Uses :func:`scipy.optimize.nnls` on the column-scaled design (a positive
    scaling keeps the constraint ``θ ≥ 0`` and improves conditioning);
    ``maxiter`` goes to it (an iteration limit reached gives status -1).

    Covariance: the least-squares covariance ``(X_FᵀWX_F)⁻¹`` of the
    parameters in the free (positive) set F, i.e. conditional on the active
    constraints. A parameter held at 0 gets a NaN variance and zero
    covariances (its standard deviation is undefined, so its ``std`` is NaN
    while the others keep theirs). A free set whose
    design is singular gives status -3.
    """
    _check("nnls", problem, loss, bounded, options)
    B, N, P = problem.B, problem.N, problem.P
    X, y, rel, ok, status, theta, nfev, njev = _prepare(problem, "nnls")
    cov = np.full((B, P, P), np.nan)
    if P == 0:
        status[ok] = 5
        return _finish(theta, status, nfev, njev, X, y, ok, np.zeros((B, 0, 0)))
    Dn = _column_scale(X)
    Xs = X / Dn[:, None, :]
    kw = {} if maxiter is None else {"maxiter": int(maxiter)}
    for b in np.flatnonzero(ok):
        cols = np.flatnonzero(rel[b])
        if cols.size == 0:
            status[b] = 5
            continue
        try:
            z, _ = _scipy_nnls(Xs[b][:, cols], y[b], **kw)
        except RuntimeError:
            status[b] = -1
            continue
        theta[b, cols] = z / Dn[b, cols]
        status[b] = 5
        free = cols[z > 0]
        if free.size == 0:  # every parameter held at 0
            cov[b] = _embed(np.zeros((0, 0)), free, P)
            continue
        A = Xs[b][:, free]
        sv = np.linalg.svd(A, compute_uv=False)
        if sv[-1] <= _EPS * max(N, free.size) * sv[0]:
            status[b] = -3
            continue
        inv = np.linalg.inv(A.T @ A) / np.outer(Dn[b, free], Dn[b, free])
        cov[b] = _embed(inv, free, P)
    return _finish(theta, status, nfev, njev, X, y, ok, cov)


def _check_alpha(alpha) -> float:
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
        raise OptimizerError(f"optimizer 'ridge' needs `alpha` to be a number >= 0, got {alpha!r}")
    alpha = float(alpha)
    if not (np.isfinite(alpha) and alpha >= 0):
        raise OptimizerError(f"optimizer 'ridge' needs `alpha` to be a finite number >= 0, got {alpha!r}")
    return alpha


def solve_ridge(problem: Problem, loss=None, *, bounded: bool = False, alpha: float = 1.0, **options) -> Solution:
    """Ridge regression ``min ‖yw − Xw θ‖² + α‖θ‖²``, batched over pixels.

    ``θ = (XᵀWX + αI)⁻¹ XᵀW (data − h)``, computed from the SVD of the
    unscaled weighted design (no column scaling or centring: the penalty is
    on the parameters in their own units, every free parameter penalised).
    ``alpha=0`` is least squares (rank-deficient designs then give status -3).

    Covariance: the sandwich ``A⁻¹ XᵀWX A⁻¹`` with ``A = XᵀWX + αI``, the
    covariance of the ridge estimator for data of covariance ``W⁻¹``
    (smaller than the least-squares one; the estimator is biased).
    The objective reported is ``χ² + α‖θ‖²``.
    """
    _check("ridge", problem, loss, bounded, options)
    alpha = _check_alpha(alpha)
    B, N, P = problem.B, problem.N, problem.P
    X, y, rel, ok, status, theta, nfev, njev = _prepare(problem, "ridge")
    if P == 0:
        status[ok] = 5
        return _finish(theta, status, nfev, njev, X, y, ok, np.zeros((B, 0, 0)))
    u, s, vt = np.linalg.svd(X, full_matrices=False)
    if alpha > 0:
        keep = s > 0
        denom = s * s + alpha
    else:
        keep = s > _EPS * max(N, P) * s[:, :1]
        denom = np.where(keep, s * s, 1.0)
    filt = np.where(keep, s / denom, 0.0)
    c = np.einsum("bnk,bn->bk", u, y)
    sol = np.einsum("bkp,bk->bp", vt, filt * c)
    theta = np.where(rel & ok[:, None], sol, theta)
    full = (keep.sum(axis=1) >= rel.sum(axis=1)) | (alpha > 0)
    status[ok] = np.where(full[ok], 5, -3)
    cov = _mark_undetermined(np.einsum("bkp,bk,bkq->bpq", vt, filt**2, vt), rel)
    cov[~(ok & full)] = np.nan
    penalty = alpha * np.einsum("bp,bp->b", np.where(rel, theta, 0.0), np.where(rel, theta, 0.0))
    return _finish(theta, status, nfev, njev, X, y, ok, cov, penalty=penalty, info={"alpha": alpha})


_COMMON = {
    "bounds": False, "gradients": True, "errors": True, "losses": frozenset({"ls"}),
    "batched": True, "kind": "linear", "linear": True,
}

register(OptimizerSpec(name="lstsq", solve=solve_lstsq,
                       description="linear least squares in closed form (batched SVD)", **_COMMON))
register(OptimizerSpec(name="ols", solve=solve_ols,
                       description="ordinary least squares; the same estimator as 'lstsq'", **_COMMON))
register(OptimizerSpec(name="nnls", solve=solve_nnls,
                       description="non-negative linear least squares (scipy.optimize.nnls, per pixel)",
                       **_COMMON))
register(OptimizerSpec(name="ridge", solve=solve_ridge,
                       description="ridge regression, penalty alpha·‖θ‖² (kwarg alpha, default 1.0)",
                       **_COMMON))
