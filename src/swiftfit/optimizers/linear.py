"""Linear optimizers: "lstsq", "ols", "nnls" and "ridge".

A model is *linear* when it is affine in its free parameters,
``m(θ) = h + X θ`` — every free parameter scales a component linearly
(``y = a·f(x)``), possibly through linear twins/``expr`` ties, while fixed
parameters (also ones that vary per pixel) and inactive components only change
``h`` and ``X``. Such a model is solved in closed form, for every pixel of a
chunk at once, with no starting values and no iterations (status 5, "solved
in closed form").

The design matrix is built from the :class:`~swiftfit.problem.problem.Problem`
generically, so any component works: ``X`` is the Jacobian at ``θ = 0``
(analytic where the components give gradients; for ``grad="fd"`` a central
difference with unit steps, exact for an affine model) and ``h`` the model at
``θ = 0``. Affinity is then verified numerically, at the starting values and
at two points perturbed from them: the model must equal ``h + X θ`` and the
Jacobian must equal ``X``, both to ``1e-9`` relative. Otherwise an
:class:`~swiftfit.errors.OptimizerError` names the non-linear free parameters.

**Speed** (``multifit`` hands the solvers chunks of many pixels):

* Affinity is verified on a *sample* of the chunk's pixels, not on every
  one. Whether a model is affine depends on how its free parameters enter,
  not on the pixel; a model that is affine at the sampled pixels only is not
  detected.
* When the fixed values and the active components are the same at every
  pixel, so is the design: it is built and verified (as above) from one
  pixel, and kept for the next chunks of the multifit (re-checked against
  the model at a generic point before each reuse). With identical weights at
  every pixel, one SVD with many right-hand sides solves them all
  (HyperSpy's vectorised ``lstsq``) and the covariance is one matrix.
* Otherwise (fixed values varying per pixel, components inactive at some
  pixels) the design of every pixel is built with one evaluation of each
  component, ``X_j = f(e_j) − f(0)``, and checked at the first and last
  pixel of the chunk (plus one pixel where each component is active, if
  neither has it active): the model must equal ``h + X θ`` there at two
  points, to ``1e-9``; otherwise that pixel is verified as above and the
  exact Jacobian is used for all. Then, as with weights that differ per
  pixel (a variance signal), lstsq/ols and ridge solve the normal equations
  of all pixels at once, on the column-scaled Gram matrix (refined by one
  step of iterative refinement where its condition number exceeds 1e4).
  Pixels whose scaled Gram matrix has a condition number above ``1e10`` (or
  is singular, or not finite) are solved by the batched SVD below instead,
  so rank deficiency is judged as before. On well-conditioned data the two
  agree to ~1e-12.

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
it is computed here from the factorisation already at hand, on the *relevant*
columns (a parameter whose component is inactive at a pixel gets a NaN
variance there instead of making the whole matrix singular), and from the
exact design matrix also when ``grad="fd"``.

``calculate_errors`` (HyperSpy's option; every linear optimizer takes it,
default True): False skips the covariance — the solution then carries none
and ``info["errors"] = False``, so the model leaves ``std`` NaN instead of
computing one. The weighted χ² at the solution is passed on as
``info["chisq"]`` (it is ``‖yw − Xw θ‖²``, the model's residuals), so the
model need not evaluate it again.

"ols" is the same estimator as "lstsq" (HyperSpy's "ols" uses scikit-learn's
LinearRegression without an intercept, which is ordinary least squares; we do
not depend on scikit-learn).

"nnls" solves each pixel with scipy's ``nnls`` on the reduced problem
``min ‖R z − c‖`` with ``RᵀR = XsᵀXs`` (``R`` a ``P × P`` factor from the SVD of
the shared design, or the Cholesky factor of a well-conditioned Gram matrix
— condition number below ``1e6`` —, else the pixel's full design), which has
the same minimiser as the full ``min ‖Xs z − ys‖``.

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

from ..errors import InvalidTypeError, OptimizerError
from ..problem.problem import Problem
from ..problem.solution import Solution, Status
from . import _linear_batch as _lb
from .registry import OptimizerSpec, register

__all__ = ["design_matrix", "solve_lstsq", "solve_nnls", "solve_ridge"]

_EPS = np.finfo(float).eps
_NNLS_COND = 1e6  # nnls has no refinement step: Gram factors only while eps·cond ≲ 1e-10


def design_matrix(problem: Problem, *, name: str = "lstsq"):
    """The affine form ``m(θ) = h + X θ`` of ``problem``, verified at every pixel.

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
    return _lb.verify(problem, name)


# --------------------------------------------------------------- helpers
def _check(name: str, problem: Problem, loss, bounded: bool, options: dict, allowed=()) -> bool:
    """Check the request; return ``calculate_errors``."""
    errors = options.pop("calculate_errors", True)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise OptimizerError(f"optimizer {name!r} got unknown options {unknown}")
    if not isinstance(errors, (bool, np.bool_)):
        raise InvalidTypeError(f"`calculate_errors` must be True or False, got {errors!r}")
    loss_name = "ls" if loss is None else getattr(loss, "name", loss)
    if loss_name != "ls":
        raise OptimizerError(
            f"optimizer {name!r} supports loss_function in ['ls'], got {loss_name!r}; "
            "use e.g. optimizer='Nelder-Mead' or 'L-BFGS-B' for other losses"
        )
    if bounded:
        raise OptimizerError(f"optimizer {name!r} does not support bounds; use bounded=False")
    return bool(errors)


def _finish(d, theta, cov, errors: bool, penalty=None, info=None, chisq=None, gram=None) -> Solution:
    B = theta.shape[0]
    # what the verification needs from the design in hand (problem.verify's `checks`), so it
    # evaluates neither the model nor the Jacobian again: the columns' norms (from the Gram
    # matrix ``gram`` where the solver formed one), and the model's norm from a shared design's
    # quadratic form or a per-pixel design's Gram matrix (then, with χ² from the solver's
    # algebra, no residuals are formed: a pass over the chunk saved) or from the residuals
    model_sq = d.model_sq(theta, gram) if chisq is not None else None
    r = d.residuals(theta) if model_sq is None else None
    if chisq is None:
        with np.errstate(invalid="ignore"):
            chisq = np.where(d.ok, np.einsum("bn,bn->b", r, r), np.nan)
    else:  # from the solver's algebra: NaN where it was not solved
        chisq = np.where(d.ok, chisq, np.nan)
    objective = chisq if penalty is None else chisq + penalty
    with np.errstate(all="ignore"):
        checks = {"columns": d.column_norms(gram)}
        checks.update(residuals=r) if model_sq is None else checks.update(model_sq=model_sq)
    info = dict(info or {}, chisq=chisq, checks=checks)
    if not errors:
        cov = None
        info["errors"] = False
    return Solution(theta, d.status, np.full(B, d.nfev), objective, cov, np.full(B, d.njev),
                    np.zeros(B, dtype=int), info)


def _column_scale(X):
    norms = np.sqrt(np.einsum("...np,...np->...p", X, X))
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


def _svd(X, scaled: bool = True):
    """Batched thin SVD of ``X`` ``(R, N, P)`` (columns scaled to unit norm when
    ``scaled``), with numpy lstsq's rank cut ``eps·max(N, P)`` of the largest.
    """
    _R, N, P = X.shape
    Dn = _column_scale(X) if scaled else np.ones(X.shape[::2])
    u, s, vt = np.linalg.svd(X / Dn[:, None, :], full_matrices=False)
    keep = s > _EPS * max(N, P) * s[:, :1]
    return u, s, vt, Dn, keep


# --------------------------------------------------------------- solvers
def solve_lstsq(problem: Problem, loss=None, *, bounded: bool = False, _name: str = "lstsq", **options) -> Solution:
    """Ordinary (weighted) least squares in closed form, batched over pixels.

    The columns of ``diag(w) X`` are scaled to unit norm and an SVD solves
    the pixels; singular values below ``eps·max(N, P)`` of the largest
    count as zero (numpy ``lstsq``'s default). For a full-rank design this is
    exactly the least-squares solution; for a rank-deficient one it is the
    minimum-norm solution in the scaled columns, with status -3. A design
    shared by every pixel is factorised once; designs that differ per pixel
    go through the Gram matrix where it is well-conditioned (module
    docstring).

    Options: ``calculate_errors`` (bool, default True).

    Returns the covariance ``(XᵀWX)⁻¹`` (unscaled; see the module docstring).
    """
    errors = _check(_name, problem, loss, bounded, options)
    d = _lb.prepare(problem, _name)
    B, P = problem.B, problem.P
    theta, status, ok, rel = d.theta, d.status, d.ok, d.rel
    if P == 0 or not ok.any():
        status[ok] = Status.CLOSED_FORM
        return _finish(d, theta, np.zeros((B, P, P)) if errors else None, errors)
    chisq = None
    shared_cov = errors and d.shared and ok.all() and B > 1  # the same matrix at every pixel
    cov = np.full((B, P, P), np.nan) if errors and not shared_cov else None
    if d.shared:
        u, s, vt, Dn, keep = _memo(d, "svd", lambda: _svd(d.X0t.T[None]))
        c = d.y @ u[0]
        sol = (c * np.where(keep[0], 1.0 / np.where(keep[0], s[0], 1.0), 0.0)) @ vt[0] / Dn[0]
        theta[:] = np.where(rel & ok[:, None], sol, theta)
        chisq = _projected_chisq(d, theta, np.where(keep[0], c, 0.0))
        full = np.broadcast_to(keep[0].sum() >= rel[0].sum(), (B,))
        if errors and full[0]:
            shared = _memo(d, "svd_cov", lambda: _svd_cov(s, vt, Dn, keep, rel[:1])[0])
            if shared_cov:  # a read-only view, not B copies
                cov = np.broadcast_to(shared, (B, P, P))
            else:
                cov[ok] = shared
        elif shared_cov:
            cov = np.full((B, P, P), np.nan)
    else:
        sol, accepted, inv, G, chisq = _lb.normal_solve(d, errors=errors)
        full = accepted.copy()
        rest = np.flatnonzero(ok & ~accepted)
        if rest.size:  # ill-conditioned or rank deficient: SVD
            u, s, vt, Dn, keep = _svd(d.dense(rest))
            c = np.einsum("bnk,bn->bk", u, d.y[rest])
            z = np.einsum("bkp,bk->bp", vt, np.where(keep, c / np.where(keep, s, 1.0), 0.0))
            sol[rest] = z / Dn
            full[rest] = keep.sum(axis=1) >= rel[rest].sum(axis=1)
            chisq[rest] = d.chisq(sol, rest)
            if errors:
                good = full[rest]
                cov[rest[good]] = _svd_cov(s[good], vt[good], Dn[good], keep[good], rel[rest[good]])
        if errors:
            cov[accepted] = _mark_undetermined(inv[accepted], rel[accepted])
        theta[:] = np.where(rel & ok[:, None], sol, theta)
    status[ok] = np.where(full[ok], Status.CLOSED_FORM, Status.SINGULAR)
    return _finish(d, theta, cov, errors, chisq=chisq, gram=None if d.shared else G)


def _projected_chisq(d, theta, c):
    """χ² of a shared design's solution without forming the residuals:
    ``‖y‖² − ‖Uₖᵀy‖²`` (``c = Uₖᵀy``, the kept left singular vectors), the
    squared norm of y's part outside the design's range. Where that difference
    loses more than 4 of the 16 digits (χ² below 1e-4 of ‖y‖²: an almost exact
    fit) or is not finite, the residuals are formed (:meth:`Design.chisq`).
    """
    yy = np.einsum("bn,bn->b", d.y, d.y)
    with np.errstate(all="ignore"):
        chisq = yy - np.einsum("bk,bk->b", c, c)
    redo = np.flatnonzero(d.ok & ~(chisq * _lb.CANCEL >= yy))
    chisq = np.maximum(chisq, 0.0)
    if redo.size:
        chisq[redo] = d.chisq(theta, redo)
    return chisq


def _memo(d, name, compute):
    """A factorisation of a shared design, computed once for every chunk that shares it."""
    if name not in d.memo:
        d.memo[name] = compute()
    return d.memo[name]


def _svd_cov(s, vt, Dn, keep, rel):
    inv_s2 = np.where(keep, 1.0 / np.where(keep, s, 1.0) ** 2, 0.0)
    c_all = np.einsum("bkp,bk,bkq->bpq", vt, inv_s2, vt) / (Dn[:, :, None] * Dn[:, None, :])
    return _mark_undetermined(c_all, rel)


def solve_ols(problem: Problem, loss=None, *, bounded: bool = False, **options) -> Solution:
    """Ordinary least squares: the same estimator as :func:`solve_lstsq`."""
    return solve_lstsq(problem, loss, bounded=bounded, _name="ols", **options)


def solve_nnls(problem: Problem, loss=None, *, bounded: bool = False, maxiter: int | None = None, **options) -> Solution:
    """Non-negative (weighted) least squares, ``θ ≥ 0``, one pixel at a time.

    Uses :func:`scipy.optimize.nnls` on the column-scaled design (a positive
    scaling keeps the constraint ``θ ≥ 0`` and improves conditioning), reduced
    to a ``P × P`` factor where possible (module docstring); ``maxiter`` goes
    to it (an iteration limit reached gives status -1).

    Covariance: the least-squares covariance ``(X_FᵀWX_F)⁻¹`` of the
    parameters in the free (positive) set F, i.e. conditional on the active
    constraints. A parameter held at 0 gets a NaN variance and zero
    covariances (its standard deviation is undefined, so its ``std`` is NaN
    while the others keep theirs). A free set whose
    design is singular gives status -3.

    Options: ``calculate_errors`` (bool, default True).
    """
    errors = _check("nnls", problem, loss, bounded, options)
    d = _lb.prepare(problem, "nnls")
    B, N, P = problem.B, problem.N, problem.P
    theta, status, ok, rel = d.theta, d.status, d.ok, d.rel
    cov = np.full((B, P, P), np.nan) if errors else None
    if P == 0 or not ok.any():
        status[ok] = Status.CLOSED_FORM
        return _finish(d, theta, np.zeros((B, P, P)) if errors else None, errors)
    kw = {} if maxiter is None else {"maxiter": int(maxiter)}
    # per pixel: a factor R (P × P or N × P), the right-hand side c and the column scale
    if d.shared:
        u, s, vt, Dn, _keep = _memo(d, "svd", lambda: _svd(d.X0t.T[None]))
        R_all, C, D_all = np.broadcast_to(s[0][:, None] * vt[0], (B, P, P)), d.y @ u[0], np.broadcast_to(Dn, (B, P))
        reduced = np.ones(B, dtype=bool)
    else:
        R_all, C, D_all, reduced = _nnls_factors(d)
    for b in np.flatnonzero(ok):
        cols = np.flatnonzero(rel[b])
        if cols.size == 0:
            status[b] = Status.CLOSED_FORM
            continue
        if reduced[b]:
            Rb, cb, Db = R_all[b], C[b], D_all[b]
        else:
            Xb = d.dense([b])[0]
            Db = _column_scale(Xb)
            Rb, cb = Xb / Db, d.y[b]
        try:
            z, _ = _scipy_nnls(Rb[:, cols], cb, **kw)
        except RuntimeError:
            status[b] = Status.MAX_NFEV
            continue
        theta[b, cols] = z / Db[cols]
        status[b] = Status.CLOSED_FORM
        free = cols[z > 0]
        if free.size == 0:  # every parameter held at 0
            if errors:
                cov[b] = _embed(np.zeros((0, 0)), free, P)
            continue
        A = Rb[:, free]
        sv = np.linalg.svd(A, compute_uv=False)
        if sv[-1] <= _EPS * max(N, free.size) * sv[0]:
            status[b] = Status.SINGULAR
            continue
        if errors:
            cov[b] = _embed(np.linalg.inv(A.T @ A) / np.outer(Db[free], Db[free]), free, P)
    return _finish(d, theta, cov, errors)


def _nnls_factors(d):
    """Per pixel: Cholesky factor ``R`` of the column-scaled Gram matrix,
    ``c = R⁻ᵀ Xsᵀ ys`` and the column scale, where that matrix is well-conditioned.
    """
    G, b = d.gram()
    P = b.shape[1]
    diag = np.arange(P)
    with np.errstate(all="ignore"):
        Dn = np.sqrt(G[:, diag, diag])
        Dn = np.where(Dn > 0, Dn, 1.0)
        Gs = G / (Dn[:, :, None] * Dn[:, None, :])
    good = d.ok & np.isfinite(Gs).all(axis=(1, 2))
    Gs[:, diag, diag] = np.where(d.rel, Gs[:, diag, diag], 1.0)
    Gs[~good] = np.eye(P)
    ev = np.linalg.eigvalsh(Gs)
    good &= ev[:, 0] > ev[:, -1] / _NNLS_COND
    Gs[~good] = np.eye(P)
    L = np.linalg.cholesky(Gs)
    c = np.linalg.solve(L, (b / Dn)[:, :, None])[:, :, 0]
    return L.transpose(0, 2, 1), c, Dn, good


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
    on the parameters in their own units, every free parameter penalised),
    or from the normal equations where the designs differ per pixel and
    ``XᵀWX + αI`` is well-conditioned (module docstring).
    ``alpha=0`` is least squares (rank-deficient designs then give status -3).

    Covariance: the sandwich ``A⁻¹ XᵀWX A⁻¹`` with ``A = XᵀWX + αI``, the
    covariance of the ridge estimator for data of covariance ``W⁻¹``
    (smaller than the least-squares one; the estimator is biased).
    The objective reported is ``χ² + α‖θ‖²``.

    Options: ``alpha``, ``calculate_errors`` (bool, default True).
    """
    errors = _check("ridge", problem, loss, bounded, options)
    alpha = _check_alpha(alpha)
    d = _lb.prepare(problem, "ridge")
    B, P = problem.B, problem.P
    theta, status, ok, rel = d.theta, d.status, d.ok, d.rel
    info = {"alpha": alpha}
    if P == 0 or not ok.any():
        status[ok] = Status.CLOSED_FORM
        return _finish(d, theta, np.zeros((B, P, P)) if errors else None, errors, info=info)
    cov = np.full((B, P, P), np.nan)
    chisq = None
    if d.shared:
        u, s, vt, _, keep = _memo(d, "svd_raw", lambda: _svd(d.X0t.T[None], scaled=False))
        keep, filt = _ridge_filter(s, keep, alpha)
        sol = (d.y @ u[0]) * filt[0] @ vt[0]
        full = np.broadcast_to((keep[0].sum() >= rel[0].sum()) | (alpha > 0), (B,))
        if errors and full[0]:
            cov[ok] = _mark_undetermined(np.einsum("bkp,bk,bkq->bpq", vt, filt**2, vt), rel[:1])[0]
    else:
        sol, accepted, inv, G, chisq = _lb.normal_solve(d, alpha=alpha, errors=errors)
        full = accepted.copy()
        rest = np.flatnonzero(ok & ~accepted)
        if rest.size:
            u, s, vt, _, keep = _svd(d.dense(rest), scaled=False)
            keep, filt = _ridge_filter(s, keep, alpha)
            sol[rest] = np.einsum("bkp,bk->bp", vt, filt * np.einsum("bnk,bn->bk", u, d.y[rest]))
            full[rest] = (keep.sum(axis=1) >= rel[rest].sum(axis=1)) | (alpha > 0)
            chisq[rest] = d.chisq(sol, rest)
            if errors:
                cov[rest] = _mark_undetermined(np.einsum("bkp,bk,bkq->bpq", vt, filt**2, vt), rel[rest])
        if errors:
            a = accepted
            cov[a] = _mark_undetermined(np.matmul(np.matmul(inv[a], G[a]), inv[a]), rel[a])
    theta[:] = np.where(rel & ok[:, None], sol, theta)
    status[ok] = np.where(full[ok], Status.CLOSED_FORM, Status.SINGULAR)
    cov[~(ok & full)] = np.nan
    penalty = alpha * np.einsum("bp,bp->b", np.where(rel, theta, 0.0), np.where(rel, theta, 0.0))
    return _finish(d, theta, cov, errors, penalty=penalty, info=info, chisq=chisq, gram=None if d.shared else G)


def _ridge_filter(s, keep, alpha):
    """Which singular values count, and the ridge filter ``s / (s² + α)``."""
    if alpha > 0:
        keep = s > 0
        denom = s * s + alpha
    else:
        denom = np.where(keep, s * s, 1.0)
    return keep, np.where(keep, s / denom, 0.0)


_COMMON = {
    "bounds": False, "gradients": True, "errors": True, "losses": frozenset({"ls"}),
    "batched": True, "kind": "linear", "linear": True,
}

register(OptimizerSpec(name="lstsq", solve=solve_lstsq,
                       description="linear least squares in closed form (batched SVD / normal equations)",
                       **_COMMON))
register(OptimizerSpec(name="ols", solve=solve_ols,
                       description="ordinary least squares; the same estimator as 'lstsq'", **_COMMON))
register(OptimizerSpec(name="nnls", solve=solve_nnls,
                       description="non-negative linear least squares (scipy.optimize.nnls, per pixel)",
                       **_COMMON))
register(OptimizerSpec(name="ridge", solve=solve_ridge,
                       description="ridge regression, penalty alpha·‖θ‖² (kwarg alpha, default 1.0)",
                       **_COMMON))
