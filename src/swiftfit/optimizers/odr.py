"""Orthogonal distance regression ("odr") through the maintained ``odrpack`` package.

``scipy.odr`` is deprecated (SciPy 1.17); ``odrpack`` wraps ODRPACK95 and is
an optional dependency (``pip install swiftfit[odr]``), imported only when the
optimizer runs.

ODR fits ``y ≈ f(x + δ; β)`` minimising ``Σ w_y ε² + Σ w_x δ²`` over the
parameters β and the shifts δ of the signal axis: errors in both variables.
The model is evaluated at the shifted coordinates by a shallow copy of the
:class:`~swiftfit.problem.problem.Problem` whose ``coords`` are ``x + δ``
(binned scaling keeps each channel's bin width).

Options
-------
sx : float or array (N,) or (B, N), optional
    Standard deviation of the signal-axis values (same units as the axis).
    Default: none given — the axis is exact, ODR reduces to (weighted)
    ordinary least squares (ODRPACK's ``task="OLS"``) and agrees with "lm".
    When ``sx`` is given without a noise variance on the signal, the data
    are taken to have ``σ_y = 1`` (the ratio ``σ_y/σ_x`` is what matters).
maxit : int
    Maximum iterations (default 50).
sstol : float
    Relative sum-of-squares convergence tolerance, default ``1e-12``
    (tighter than ODRPACK's ``sqrt(eps)``, which stops ~1e-6 short of the
    minimum in the parameters; it costs one or two more iterations).
partol, taufac : float, optional
    ODRPACK's parameter tolerance (default ``eps**(2/3)``) and initial
    trust-region factor.
diff_scheme : {"central", "forward"}
    ODRPACK's finite differences, used for ``grad="fd"`` (default central).

Derivatives: for ``grad="auto"``/``"analytical"`` the Problem's Jacobian is
passed as ``jac_beta`` (ODRPACK checks it once) and ``∂f/∂x`` by a central
difference of the model in the shifted coordinate; for ``grad="fd"`` ODRPACK
differentiates itself. Bounds are supported (ODRPACK95 is bound-constrained).

Status: ODRPACK's ``info`` → 1 (sum-of-squares convergence), 2 (parameter
convergence), 3 (both); 4 (iteration limit) → -1; "not full rank at the
solution" → -3; a non-finite model or result → -2; anything else → -5.
ODRPACK's one-off check of the supplied derivatives may call them
"questionable" where a peak's derivatives are ~0 (its tails); that warning
does not change the status (the raw code is kept, see below).

HyperSpy's "odr" (``scipy.odr``) gives every x an implicit weight of 1; here
the axis is exact unless ``sx`` is given.

Covariance: ODRPACK's ``cov_beta``, which is unscaled (its ``sd_beta`` is
``sqrt(diag(cov_beta)·res_var)``): for ``task="OLS"`` it equals the
least-squares ``(JᵀWJ)⁻¹``; with ``sx`` it is the linearised covariance of β
with δ eliminated. The model rescales it by the reduced χ² of the y-residuals
when no noise variance is set. ``objective`` is ODRPACK's weighted sum of
squares ``Σ w_y ε² + Σ w_x δ²``; ``info["odr_info"]`` holds ODRPACK's raw
``info`` code of each pixel (and ``info["odr_result"]`` the OdrResult for one
pixel).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import _optional
from ..errors import OptimizerError, UnsupportedOptimizerError
from ..problem.problem import Problem, relevance
from ..problem.solution import Solution, Status
from .registry import OptimizerSpec, register

__all__ = ["solve_odr"]

_EPS = np.finfo(float).eps
_OPTIONS = ("maxit", "sstol", "partol", "taufac", "diff_scheme")


def _status(info: int, beta) -> int:
    """ODRPACK's ``info`` (see its guide, "INFO") → our status table."""
    info = int(info)
    if not np.isfinite(beta).all():
        return Status.NONFINITE
    if info >= 10000:  # fatal (a non-finite model shows as NaN β, above)
        return Status.OPTIMIZER_FAILURE
    stop = info % 10
    not_full_rank = (info // 10) % 10
    callback = (info // 100) % 10  # the model asked to stop
    # (info // 1000) % 10: ODRPACK's one-off check of the supplied derivatives
    # found them "questionable" -- typically where a peak's derivatives are
    # ~1e-20 in its tails (ODRPACK checks one row of its choosing). It is a
    # warning about the derivatives, not about the fit: the stop reason rules.
    if not_full_rank:
        return Status.SINGULAR
    if callback:
        return Status.OPTIMIZER_FAILURE
    if stop in (1, 2, 3):
        return Status(stop)
    if stop == 4:
        return Status.MAX_NFEV
    return Status.OPTIMIZER_FAILURE


def _at(one: Problem, x) -> Problem:
    """``one`` with the signal axis replaced by ``x`` (a shallow copy)."""
    new = object.__new__(Problem)
    new.__dict__.update(one.__dict__)
    new.coords = (np.asarray(x, dtype=float),)
    new.segments = [dataclasses.replace(seg, coords=new.coords) for seg in one.segments]
    return new


def _sx_rows(sx, B: int, N: int):
    if sx is None:
        return None
    arr = np.asarray(sx, dtype=float)
    try:
        arr = np.broadcast_to(arr, (B, N))
    except ValueError:
        raise OptimizerError(
            f"optimizer 'odr': `sx` must be a number or an array of shape ({N},) or ({B}, {N}), "
            f"got shape {np.shape(sx)}"
        ) from None
    if not (np.isfinite(arr).all() and (arr > 0).all()):
        raise OptimizerError("optimizer 'odr': `sx` (the σ of the signal axis) must be positive and finite")
    return arr


def solve_odr(problem: Problem, loss=None, *, bounded: bool = False, sx=None, **options) -> Solution:
    """Fit each pixel by orthogonal distance regression (see the module docstring)."""
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise OptimizerError(f"optimizer 'odr' got unknown options {unknown}")
    loss_name = "ls" if loss is None else getattr(loss, "name", loss)
    if loss_name != "ls":
        raise OptimizerError(f"optimizer 'odr' supports loss_function in ['ls'], got {loss_name!r}")
    if len(problem.coords) != 1:
        raise UnsupportedOptimizerError("optimizer 'odr' fits one-dimensional signals only: it is not "
                                        "implemented for Model2D (images); use 'lm' or a scipy minimizer")
    if getattr(problem, "transform", None) is not None or np.shape(problem.coords[0])[0] != problem.N:
        raise OptimizerError(
            "optimizer 'odr' needs the model evaluated at the data points themselves "
            "(no convolution or oversampling transform)"
        )
    diff_scheme = options.pop("diff_scheme", "central")
    if diff_scheme not in ("central", "forward"):
        raise OptimizerError(f"optimizer 'odr': `diff_scheme` must be 'central' or 'forward', got {diff_scheme!r}")
    odrpack = _optional.require("odrpack", extra="odr")
    B, N, P = problem.B, problem.N, problem.P
    x = np.asarray(problem.coords[0], dtype=float)
    sxs = _sx_rows(sx, B, N)
    task = "OLS" if sxs is None else "explicit-ODR"
    lo = np.asarray(problem.lower, dtype=float) if bounded else np.full(P, -np.inf)
    hi = np.asarray(problem.upper, dtype=float) if bounded else np.full(P, np.inf)
    theta = np.array(problem.p0, dtype=float)
    status = np.zeros(B, dtype=int)
    nfev = np.zeros(B, dtype=int)
    njev = np.zeros(B, dtype=int)
    nit = np.zeros(B, dtype=int)
    objective = np.full(B, np.nan)
    cov = np.full((B, P, P), np.nan)
    rel = relevance(problem, np.where(np.isfinite(theta), theta, 0.0)) if P else np.zeros((B, 0), bool)
    raw_info = np.zeros(B, dtype=int)  # ODRPACK's info code per pixel (0: not run)
    info: dict = {"odr_info": raw_info}
    analytic = problem.grad != "fd"
    kwargs = {"sstol": 1e-12}
    kwargs.update({k: options[k] for k in ("maxit", "sstol", "partol", "taufac") if k in options})
    for b in range(B):
        one = problem.take([b])
        y = one.data[0]
        w = None if one.weights is None else one.weights[0]
        if not (np.isfinite(y).all() and (w is None or np.isfinite(w).all())):
            status[b] = Status.BAD_DATA
            continue
        if P == 0:
            status[b] = Status.CLOSED_FORM
            r = one.residuals(theta[b:b + 1])[0]
            objective[b] = r @ r
            cov[b] = np.zeros((0, 0))
            continue
        beta0 = np.clip(theta[b], lo, hi)
        if not np.isfinite(beta0).all():
            status[b] = Status.NONFINITE
            continue

        def f(xx, beta, one=one):
            return _at(one, xx).evaluate(beta[None, :])[0]

        def jac_beta(xx, beta, one=one):
            return _at(one, xx).jacobian(beta[None, :])[0].T

        def jac_x(xx, beta, one=one):
            h = _EPS ** (1 / 3) * np.maximum(1.0, np.abs(xx))
            up = _at(one, xx + h).evaluate(beta[None, :])[0]
            dn = _at(one, xx - h).evaluate(beta[None, :])[0]
            return (up - dn) / (2 * h)

        def no_jac_x(xx, beta):
            return np.zeros_like(xx)

        call = dict(
            weight_y=None if w is None else w * w,
            weight_x=None if sxs is None else 1.0 / sxs[b] ** 2,
            bounds=(lo, hi) if bounded else None,
            task=task,
            fix_beta=~rel[b] if not rel[b].all() else None,
            **kwargs,
        )
        if analytic:
            # odrpack uses user derivatives only when both are given
            call.update(jac_beta=jac_beta, jac_x=jac_x if task != "OLS" else no_jac_x)
        else:
            call.update(diff_scheme=diff_scheme)
        if not np.isfinite(f(x, beta0)).all():
            status[b] = Status.NONFINITE  # ODRPACK cannot start from a non-finite model
            continue
        try:
            res = odrpack.odr_fit(f, x, y, beta0, **call)
        except ValueError as exc:
            if "NaN" in str(exc) or "finite" in str(exc):
                status[b] = Status.NONFINITE
                continue
            raise
        theta[b] = res.beta
        status[b] = _status(res.info, res.beta)
        raw_info[b] = res.info
        nfev[b] = res.nfev
        njev[b] = res.njev
        nit[b] = res.niter
        objective[b] = res.sum_square
        c = np.array(res.cov_beta, dtype=float)
        if status[b] != Status.SINGULAR and np.isfinite(c).all():
            known = rel[b]
            c = np.where(np.outer(known, known), c, 0.0)
            c[~known, ~known] = np.nan
            cov[b] = c
        if B == 1:
            info["odr_result"] = res
    return Solution(theta, status, nfev, objective, cov, njev, nit, info)


register(
    OptimizerSpec(
        name="odr",
        solve=solve_odr,
        bounds=True,
        gradients=True,
        errors=True,
        losses=frozenset({"ls"}),
        batched=False,
        description="orthogonal distance regression (odrpack, ODRPACK95); option sx: σ of the signal axis",
    )
)
