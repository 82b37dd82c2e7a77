"""Variable projection (separable least squares), batched over pixels.

A model that is linear in some free parameters ``c`` (amplitudes, edge
intensities, polynomial coefficients: the parameters a component declares
``linear``) and non-linear in the others ``q``,

.. math::

    m(c, q) = h(q) + X(q)\\,c ,

has, for every ``q``, the best ``c`` in closed form (a weighted linear least
squares solve), so only ``q`` is searched (Golub & Pereyra 1973). Each
iteration here: the columns ``X(q)`` and ``h(q)`` of every pixel, one batched
small solve for ``c``, and a Levenberg–Marquardt step on ``q`` with Kaufman's
(1975) Jacobian of the projected residual, ``-P⊥ W ∂m/∂q`` evaluated at
``(c(q), q)``; the step is accepted when the *projected* χ² (the χ² with the
best ``c``) decreases. A power law + two EELS edges has one non-linear
parameter per pixel (the exponent), so the search is one-dimensional.

Columns that cannot change with ``q`` — those of components none of whose
parameters depends on a non-linear column, e.g. EELS edges at fixed onsets,
convolved or not with each pixel's low loss — are computed once per chunk;
each iteration evaluates only the components that hold a non-linear
parameter (for EELS: the power law, never the convolution FFTs).

The answer is a point of the *same* problem (all free parameters); the
covariance is the full problem's ``(JᵀWJ)⁻¹`` there, and the model's
write-back verifies it like any solver's (:mod:`swiftfit.problem.verify`).

Where it does not apply, :func:`plan` returns None and callers use the
Levenberg–Marquardt path: a loss other than least squares, no linear or too
many non-linear columns (``max_nonlinear``), a twin or expression on a linear
parameter that is not affine, a model that is not affine in the linear
columns (checked numerically). Pixels it cannot finish are handed to the
NumPy Levenberg–Marquardt path from where varpro left them: a linear
parameter outside its bound with ``bounded=True`` (no bounded linear solve
here), an ill-conditioned linear system, a non-finite model, or the
iteration limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import OptimizerError
from ..problem.problem import Problem, relevance
from ..problem.solution import Solution, Status
from ._varpro_columns import _GRAM_COND, _Columns, _depends
from .registry import OptimizerSpec, register

__all__ = ["VarproPlan", "plan", "try_varpro", "varpro"]

_AFFINE_TOL = 1e-9  # relative tolerance of the numerical affinity check


@dataclass
class VarproPlan:
    """Which free columns are linear, which components move with the non-linear ones."""

    linear: np.ndarray  # column indices of the linear parameters
    nonlinear: np.ndarray  # column indices of the others
    variable: np.ndarray  # (C,) bool: the component holds a parameter that depends on a non-linear column
    var_linear: np.ndarray  # indices into ``linear`` of the columns the variable components reach
    const_linear: np.ndarray  # indices into ``linear`` of the columns the other components reach


def plan(problem: Problem, loss=None, max_nonlinear: int = 4) -> VarproPlan | None:
    """The separable structure of ``problem``, or None where varpro does not apply.

    A free column is *linear* when every model parameter that depends on it
    is declared linear by its component and depends on it with a constant
    derivative (the column itself, or an affine twin). At most
    ``max_nonlinear`` columns may be non-linear.

    Examples
    --------
    Gaussian + Offset: ``A`` and ``offset`` linear, ``centre`` and ``sigma`` not.

    >>> vp = plan(m.compile())
    >>> vp.linear.tolist(), vp.nonlinear.tolist()
    ([0, 3], [1, 2])
    """
    if loss is not None and (getattr(loss, "name", None) != "ls" or type(loss).__name__ != "LeastSquares"):
        return None
    if not isinstance(problem, Problem) or problem.P == 0 or problem.grad == "fd":
        return None
    P = problem.P
    one = problem.take([0])
    theta0 = np.asarray(problem.p0[:1], dtype=float)
    theta1 = theta0 * 1.37 + 0.61  # a second point: the derivatives of affine ties do not move
    dep, d0 = _depends(one, theta0)
    _, d1 = _depends(one, theta1)
    lin_param = np.zeros(len(problem.plans), dtype=bool)
    owner = np.full(len(problem.plans), -1)
    for c, comp in enumerate(problem.components):
        for k, i in enumerate(problem.slots[c]):
            owner[i] = c
            lin_param[i] = bool(getattr(comp.parameters[k], "_linear", False))
    linear = np.ones(P, dtype=bool)
    for i in range(len(problem.plans)):
        if not dep[i].any():
            continue
        if not lin_param[i] or problem.plans[i].kind == "expr":
            linear &= ~dep[i]
            continue
        if not np.allclose(d0[i], d1[i], rtol=1e-12, atol=0):
            linear &= ~dep[i]
    lin = np.flatnonzero(linear)
    nonlin = np.flatnonzero(~linear)
    if lin.size == 0 or nonlin.size > max_nonlinear:
        return None
    variable = np.zeros(len(problem.components), dtype=bool)
    for i in range(len(problem.plans)):
        if owner[i] >= 0 and dep[i][nonlin].any():
            variable[owner[i]] = True
    reach = np.zeros(P, dtype=bool)
    other = np.zeros(P, dtype=bool)
    for i in range(len(problem.plans)):
        if owner[i] >= 0 and variable[owner[i]]:
            reach |= dep[i]
        elif owner[i] >= 0:
            other |= dep[i]
    return VarproPlan(lin, nonlin, variable, np.flatnonzero(reach[lin]), np.flatnonzero(other[lin]))


def _affine(problem: Problem, vp: VarproPlan, theta: np.ndarray) -> bool:
    """Whether the model of a few pixels is affine in the linear columns at ``theta``."""
    rows = np.arange(min(problem.B, 3))
    sub = problem.take(rows)
    t = theta[rows]
    J = sub.jacobian(t)[:, :, vp.linear]
    m0 = sub.evaluate(t)
    t1 = t.copy()
    t1[:, vp.linear] = t[:, vp.linear] * 0.7 + 0.3 * np.abs(t[:, vp.linear]).max(axis=1, keepdims=True) + 0.1
    m1 = sub.evaluate(t1)
    pred = m0 + np.einsum("bnk,bk->bn", J, t1[:, vp.linear] - t[:, vp.linear])
    scale = np.abs(m0).max(axis=1) + np.abs(m1).max(axis=1) + 1e-300
    with np.errstate(all="ignore"):
        err = np.abs(m1 - pred).max(axis=1) / scale
    return bool(np.all(np.isfinite(err)) and np.all(err <= _AFFINE_TOL))


def _kaufman(cols, theta, S, res, gram, hold, relq):
    """Gradient ``Aᵀr`` and Gauss–Newton matrix ``AᵀA`` of the projected problem,
    ``A = P⊥ W ∂m/∂q`` (Kaufman), without forming ``A``; and ``W ∂m/∂q`` (B, Q, N).
    """
    Ginv, d = gram
    Jq = cols.nonlinear_jacobian(theta, S)
    Jq = np.where(relq[:, :, None], Jq, 0.0)
    XJ = cols.xt(Jq, S)  # (B, K, Q)
    XJ = np.where(hold[:, :, None], 0.0, XJ) / d[:, :, None]
    JJ = np.einsum("bqn,brn->bqr", Jq, Jq)
    H = JJ - np.einsum("bkq,bkl,blr->bqr", XJ, Ginv, XJ)
    g = np.einsum("bqn,bn->bq", Jq, res)
    return g, H, Jq


def varpro(problem: Problem, loss=None, *, bounded: bool = False, ftol: float = 1e-12, xtol: float = 1e-10,
           max_nfev: int | None = None, vp: VarproPlan | None = None, fallback: bool = True,
           kernel: str = "auto", _affine_checked: bool = False, **unused) -> Solution:
    """Fit every pixel of ``problem`` by variable projection (see the module docstring).

    Parameters
    ----------
    problem : Problem
    loss : Loss, optional
        Least squares only.
    bounded : bool
        Respect the bounds: the non-linear parameters by projection; a linear
        parameter whose best value leaves its bound sends its pixel to the
        Levenberg–Marquardt path.
    ftol, xtol : float
        Relative reduction of the projected χ² and relative step of the
        non-linear parameters below which a pixel has converged (then
        undamped Gauss–Newton steps polish it, as in :mod:`.lm`).
    max_nfev : int, optional
        Iterations per pixel (default ``100 * (Q + 1)``, Q non-linear columns).
    vp : VarproPlan, optional
        The separable structure (default :func:`plan`).
    fallback : bool
        Hand the pixels varpro cannot finish to the NumPy Levenberg–Marquardt
        path (default); with False they keep a failed status.
    kernel : {"auto", "numpy"}
        ``"auto"``: the compiled kernel (:mod:`._varpro_kernel`) for one power
        law over constant columns (EELS) when numba is installed; ``"numpy"``:
        this NumPy code, the reference the kernel is tested against.

    Returns
    -------
    Solution
        ``info["path"]`` is ``"varpro"``; ``info["varpro"]`` (B,) marks the
        pixels varpro finished (the others went to the LM path);
        ``info["checks"]`` gives the verification what it needs at varpro's
        answer (``JwᵀJw``, ``Σ (w·model)²`` and the Newton gap from the
        Jacobian varpro ended with) when every pixel was finished by varpro.

    Examples
    --------
    Through a model (``optimizer="varpro"``), or on a problem directly:

    >>> bool(m.fit(optimizer="varpro").success)
    True
    >>> sol = varpro(m.compile())
    >>> int(sol.status[0]) > 0, bool(sol.info["varpro"][0])
    (True, True)
    """
    if unused:
        unknown = sorted(k for k in unused if k not in ("damping", "radius0", "gtol"))
        if unknown:
            raise OptimizerError(f"optimizer 'varpro' got unknown options {unknown}")
    vp = plan(problem, loss) if vp is None else vp
    if vp is None:
        raise OptimizerError("varpro needs least squares and a model linear in some free parameters "
                             "(components' linear parameters) with at most 4 non-linear free columns")
    B, P = problem.B, problem.P
    lin, nl = vp.linear, vp.nonlinear
    Q = nl.size
    lo = problem.lower if bounded else np.full(P, -np.inf)
    hi = problem.upper if bounded else np.full(P, np.inf)
    theta = np.clip(np.array(problem.p0, dtype=float), lo, hi)
    limit = 100 * (Q + 1) if max_nfev is None else int(max_nfev)
    if not _affine_checked and not _affine(problem, vp, theta):
        raise OptimizerError("varpro: the model is not affine in its linear parameters; use 'lm'")
    rel = relevance(problem, theta)
    hold = ~rel[:, lin]
    relq = rel[:, nl]
    w = problem.weights
    yw = problem.data if w is None else problem.data * w
    cols = _Columns(problem, vp, theta, yw)
    ynorm = np.sqrt(np.einsum("bn,bn->b", yw, yw))
    status = np.zeros(B, dtype=int)
    nfev = np.ones(B, dtype=int)
    nit = np.zeros(B, dtype=int)

    fast = _compiled(problem, cols, theta, hold, ynorm, yw, lo, hi, ftol, xtol, limit, kernel)
    if fast is not None:
        theta, status, nfev, nit, cost, full = fast
        return _finish(problem, loss, vp, theta, status, nfev, nit, cost, None, None, yw, cols, rel, hold,
                       bounded, lo, hi, limit, fallback, ftol, xtol, full)
    c, res, S, (Ginv, dsc), bad, _ = cols.solve(theta, hold)
    theta[:, lin] = c
    cost = np.einsum("bn,bn->b", res, res)
    status[bad | ~np.isfinite(cost)] = Status.SINGULAR
    # Gauss–Newton steps first (λ = 0): from the usual start (a two-area or
    # neighbour's estimate) they converge in a few steps; a refused step turns
    # the damping on
    lam = np.zeros(B)
    Dq = np.zeros((B, Q))
    f_last = np.zeros(B, dtype=bool)
    eyeq = np.eye(Q)
    while Q:
        idx = np.flatnonzero(status == 0)
        if idx.size == 0:
            break
        sub = cols.take(idx) if idx.size < B else cols
        g, H, _ = _kaufman(sub, theta[idx], S[idx], res[idx], (Ginv[idx], dsc[idx]), hold[idx], relq[idx])
        finite = np.isfinite(H).all(axis=(1, 2)) & np.isfinite(g).all(axis=1)
        status[idx[~finite]] = Status.NONFINITE
        Dq[idx] = np.maximum(Dq[idx], np.sqrt(np.abs(np.where(finite[:, None], np.einsum("bqq->bq", H), 0.0))))
        idx, g, H = idx[finite], g[finite], H[finite]
        # the Gauss–Newton step from an accepted point is already below xtol: a located minimum
        with np.errstate(all="ignore"):
            gn = np.einsum("bqr,br->bq", np.linalg.pinv(H), np.where(relq[idx], g, 0.0))
        located = (nit[idx] > 0) & np.all(np.abs(gn) <= xtol * np.maximum(np.abs(theta[idx][:, nl]), xtol), axis=1)
        status[idx[located]] = Status.XTOL
        idx, g, H = idx[~located], g[~located], H[~located]
        if idx.size == 0:
            continue
        D2 = np.where(relq[idx] & (Dq[idx] > 0), Dq[idx] ** 2, 1.0)
        todo = np.arange(idx.size)
        # damped steps until each pixel's projected χ² decreases (or it is done)
        for _ in range(30):
            if todo.size == 0:
                break
            rows = idx[todo]
            M = H[todo] + lam[rows][:, None, None] * D2[todo][:, :, None] * eyeq
            both = relq[rows][:, :, None] & relq[rows][:, None, :]
            M = np.where(both, M, eyeq)
            with np.errstate(all="ignore"):
                rhs = np.where(relq[rows], g[todo], 0.0)
                if Q == 1:
                    step = rhs / np.where(M[:, :, 0] != 0, M[:, :, 0], 1.0)
                else:
                    step = np.einsum("bqr,br->bq", np.linalg.pinv(M), rhs)
            tq = np.clip(theta[rows][:, nl] + step, lo[nl], hi[nl])
            trial = theta[rows].copy()
            trial[:, nl] = tq
            sc = cols if rows.size == B else cols.take(rows)
            with np.errstate(all="ignore"):
                ct, rt, St, gt, badt, _ = sc.solve(trial, hold[rows])
                cost_t = np.einsum("bn,bn->b", rt, rt)
                actual = np.einsum("bn,bn->b", res[rows] - rt, res[rows] + rt)
                # rounding noise of a change of χ² (lm's estimate, bounded by Cauchy–Schwarz)
                noise = 8 * np.finfo(float).eps * (cost_t + 2 * np.sqrt(cost_t) * ynorm[rows])
            nfev[rows] += 1
            nit[rows] += 1
            ok = np.isfinite(cost_t) & ~badt
            sn = np.linalg.norm(np.sqrt(D2[todo]) * (tq - theta[rows][:, nl]), axis=1)
            xn = np.linalg.norm(np.sqrt(D2[todo]) * theta[rows][:, nl], axis=1)
            x_ok = sn <= xtol * np.maximum(xn, xtol)
            acc = ok & ((actual > 0) | (x_ok & (actual >= -noise)))
            f_ok = acc & (np.abs(actual) <= np.maximum(ftol * cost[rows], noise))
            # accepted: write back, lower the damping, test convergence
            a = rows[acc]
            trial[:, lin] = np.where(acc[:, None], ct, trial[:, lin])
            theta[a] = trial[acc]
            res[a], cost[a], S[a] = rt[acc], cost_t[acc], St[acc]
            Ginv[a], dsc[a] = gt[0][acc], gt[1][acc]
            lam[a] = lam[a] / 3
            # converged: a step below xtol, or a second reduction below ftol in a row
            # (one more Gauss–Newton step after the first: ftol alone stops ~sqrt(ftol) away)
            conv = acc & (x_ok | (f_ok & f_last[rows]))
            status[rows[conv]] = np.where(f_ok[conv] & x_ok[conv], Status.FTOL_XTOL,
                                          np.where(x_ok[conv], Status.XTOL, Status.FTOL))
            f_last[a] = f_ok[acc]
            stuck = ~acc & x_ok  # the step is below xtol and still refused: nothing left to gain
            status[rows[stuck]] = Status.XTOL
            over = (status[rows] == 0) & (nfev[rows] >= limit)
            status[rows[over]] = Status.MAX_NFEV
            lam[rows[~acc]] = np.maximum(4 * lam[rows[~acc]], 1e-3)
            todo = todo[~acc & (status[rows] == 0)]
    if Q == 0:  # the linear solve is the answer
        status[status == 0] = Status.CLOSED_FORM
    return _finish(problem, loss, vp, theta, status, nfev, nit, cost, res, S, yw, cols, rel, hold,
                   bounded, lo, hi, limit, fallback, ftol, xtol)


def _compiled(problem, cols, theta, hold, ynorm, yw, lo, hi, ftol, xtol, limit, kernel):
    """The compiled kernel (:mod:`._varpro_kernel`) for one power law over constant
    columns, where it applies and numba is installed: ``(theta, status, nfev, nit,
    cost, full)`` (``full``: the sums at the answer, for :func:`_finish`), else None.
    """
    vp = cols.vp
    if kernel == "numpy" or cols.power is None or len(cols.power) != 1 or vp.nonlinear.size != 1:
        return None
    k_pow = cols.kv[0]
    const = [int(k) for k in vp.const_linear]
    if k_pow in const or len(const) + 1 != vp.linear.size:
        return None
    try:
        from numba import get_num_threads

        from ._varpro_kernel import fit_power
    except ImportError:
        return None
    lin, q = vp.linear, vp.nonlinear[0]
    order = [k_pow] + const
    Xc = cols.Xc if cols.Xc.flags.c_contiguous else np.ascontiguousarray(cols.Xc)  # (rows ``const`` read)
    Gc = cols.Gc[:1] if cols.shared else cols.Gc
    Gc = np.ascontiguousarray(Gc[:, const][:, :, const])
    bc = np.ascontiguousarray(cols.bc[:, const])
    _, _, L, mask = cols.power[0]
    mb = (mask * cols.binscale).astype(float)[None, :]
    w = problem.weights
    if w is None:
        mbw, winv = mb, np.zeros((0, L.size))
    else:
        w = np.asarray(w, dtype=float)
        mbw = np.ascontiguousarray(mb * w)
        with np.errstate(divide="ignore"):
            winv = np.ascontiguousarray(1.0 / w)
    r, c, cost, status, nfev, nit, gram, jtr, model_sq, colsq = fit_power(
        Xc, np.asarray(const, dtype=np.int64), Gc, bc, np.ascontiguousarray(cols.rwc), np.ascontiguousarray(L, dtype=float), mbw, winv,
        np.ascontiguousarray(yw, dtype=float), np.ascontiguousarray(hold[:, order]),
        np.ascontiguousarray(theta[:, lin[order]]), np.ascontiguousarray(theta[:, q]), float(lo[q]), float(hi[q]),
        ynorm, float(ftol), float(xtol), int(limit), _GRAM_COND, 4 * get_num_threads())
    theta = theta.copy()
    theta[:, q] = r
    theta[:, lin[order]] = c
    cols_full = np.r_[lin[order], q]  # the kernel's Gram order, as theta's columns
    full = {"order": cols_full, "gram": gram, "jtr": jtr, "model_sq": model_sq, "colsq": colsq}
    return theta, status.astype(int), nfev.astype(int), nit.astype(int), cost, full


def _finish(problem, loss, vp, theta, status, nfev, nit, cost, res, S, yw, cols, rel, hold, bounded,
            lo, hi, limit, fallback, ftol, xtol, full=None) -> Solution:
    """Covariance, the model and Jacobian for the verification, and the LM path for the rest."""
    B, P, N = problem.B, problem.P, problem.N
    lin, nl = vp.linear, vp.nonlinear
    if full is None:
        # one step of iterative refinement of the linear values (the normal equations
        # lose cond(X)·ε; the residual, computed explicitly, brings it back)
        with np.errstate(all="ignore"):
            c, res2, S2, (Ginv, d), bad, rw = cols.solve(theta, hold)
            corr = np.einsum("bkl,bl->bk", Ginv, cols.xt(res2[:, None, :], S2)[..., 0] / d) / d
            c = np.where(hold | bad[:, None], c, c + corr)
            res2 = cols.residual(rw, c, S2)
            cost2 = np.einsum("bn,bn->b", res2, res2)
        better = np.isfinite(cost2) & (cost2 <= cost)
        theta[better[:, None] & np.isin(np.arange(P), lin)[None, :]] = c[better].ravel()
        res[better], cost[better], S[better] = res2[better], cost2[better], S2[better]
    done = status > 0
    if bounded:  # a linear value outside its box is no solution of the bounded problem
        done &= ~((theta < problem.lower) | (theta > problem.upper)).any(axis=1)
    if full is not None:
        # the compiled kernel refined its answer and summed, at it, the Gram matrix, Jᵀr,
        # Σ (w·model)² and the column norms of the full weighted Jacobian (no (B, P, N) array)
        order = full["order"]
        gram = np.empty((B, P, P))
        gram[:, order[:, None], order[None, :]] = full["gram"]
        jtr = np.empty((B, P))
        jtr[:, order] = full["jtr"]
        colsq = np.empty((B, P))
        colsq[:, order] = full["colsq"]
        if not rel.all():  # the columns that do not reach the model are zero there
            gram = np.where(rel[:, :, None] & rel[:, None, :], gram, 0.0)
            jtr, colsq = np.where(rel, jtr, 0.0), np.where(rel, colsq, 0.0)
        known = {"colsq": colsq, "model_sq": full["model_sq"], "cost": cost.copy()}
    else:
        # the full weighted Jacobian at the answer, [Xc + S | W ∂m/∂q] in theta's column order
        Jt = np.zeros((B, P, N))
        Jt[:, lin] = cols.Xc
        for t, k in enumerate(cols.kv):
            Jt[:, lin[k]] += S[:, t]
        if nl.size:
            Jt[:, nl] = cols.nonlinear_jacobian(theta, S)
        if not rel.all():
            Jt = np.where(rel[:, :, None], Jt, 0.0)
        Jw = Jt.transpose(0, 2, 1)
        gram = Jt @ Jw
        jtr = (Jt @ res[:, :, None])[..., 0]
        known = {"Jw": Jw, "model_w": yw - res, "res": res}
    known.update({"theta": theta.copy(), "done": done.copy(), "gram": gram, "jtr": jtr})
    cov = np.full((B, P, P), np.nan)
    d = np.sqrt(np.einsum("bpp->bp", gram))
    d = np.where(rel & (d > 0), d, 1.0)
    with np.errstate(all="ignore"):
        gs = np.where(rel[:, :, None] & rel[:, None, :], gram / (d[:, :, None] * d[:, None, :]), np.eye(P))
        ev = np.linalg.eigvalsh(np.where(np.isfinite(gs), gs, np.eye(P)))
        fine = done & (ev[:, 0] > ev[:, -1] * 1e-14)
        inv = np.linalg.inv(np.where(fine[:, None, None], gs, np.eye(P))) / (d[:, :, None] * d[:, None, :])
    keep = rel[:, :, None] & rel[:, None, :]
    cov[fine] = np.where(keep[fine], inv[fine], np.nan)
    status[done & ~fine & rel.any(axis=1)] = Status.SINGULAR
    info = {"path": "varpro", "varpro": done.copy(), "chisq": cost.copy()}
    rest = np.flatnonzero(~done)
    if rest.size and fallback:
        from .lm import levenberg_marquardt

        sub = problem.take(rest)
        sub.p0 = np.clip(np.where(np.isfinite(theta[rest]), theta[rest], problem.p0[rest]), lo, hi)
        left = max(limit - int(nfev[rest].min()), 10 * (P + 1))
        sol = levenberg_marquardt(sub, loss, bounded=bounded, ftol=ftol, xtol=xtol, max_nfev=left, kernel="numpy")
        theta[rest], status[rest] = sol.theta, sol.status
        nfev[rest] += sol.nfev
        cost[rest] = sol.objective
        cov[rest] = sol.covariance
        info["chisq"][rest] = sol.objective
        known["done"][rest] = False
    info["varpro"] = (status > 0) & known["done"]
    checks = _checks(problem, loss, known)
    if checks is not None:
        info["checks"] = checks
    return Solution(theta, status, nfev, cost, cov, nfev.copy(), nit, info)


def _checks(problem, loss, known) -> dict | None:
    """What :func:`swiftfit.problem.verify.verify` takes as ``checks`` at varpro's
    answer (the same keys as the compiled kernel's): ``gram`` ``JwᵀJw``,
    ``model_sq`` ``Σ (w·model)²``, ``gap`` the Newton gap by
    :func:`~swiftfit.problem.verify.newton_gaps` from the Jacobian and sums varpro
    ended with, ``relevant`` the columns it counted. None when some pixel went
    to the LM path or a weight is not positive (then verify evaluates the problem).
    """
    from .. import losses
    from ..problem.verify import newton_gaps

    loss = losses.get("ls") if loss is None else loss
    w = problem.weights
    if not known["done"].all() or (w is not None and not (np.asarray(w) > 0).all()):
        return None
    with np.errstate(all="ignore"):
        if "Jw" in known:
            J = known["Jw"] if w is None else known["Jw"] / w[:, :, None]
            res, model_w = known["res"], known["model_w"]
            cost = np.einsum("bn,bn->b", res, res)
            model_sq = np.einsum("bn,bn->b", model_w, model_w)
        else:
            # newton_gaps reads J only through its column norms (and their
            # finiteness): one row holding them stands for the (B, N, P) Jacobian
            J = np.sqrt(known["colsq"])[:, None, :]
            cost, model_sq = known["cost"], known["model_sq"]
        derivatives = (cost, -2 * known["jtr"], 2 * known["gram"])
        gap = newton_gaps(problem, loss, known["theta"], J, derivatives=derivatives)
    return {"gram": known["gram"], "model_sq": model_sq, "gap": gap,
            "relevant": np.ones(known["theta"].shape, dtype=bool)}


def try_varpro(problem: Problem, loss=None, **options) -> Solution | None:
    """:func:`varpro` where it applies (:func:`plan`, the affinity check), else None.

    The Levenberg–Marquardt solver calls this for problems that ask for it
    (``problem.prefer_varpro``, set by :class:`~swiftfit.eels.model.EELSModel`).
    A problem may carry its own separable solver (``problem.separable_solver``,
    called with the same arguments, None where it does not apply): the EELS
    fine structure's (:mod:`swiftfit.eels.fine_varpro`).
    """
    special = getattr(problem, "separable_solver", None)  # a model's own separable form (EELS fine structure)
    if special is not None:
        sol = special(problem, loss, **options)
        if sol is not None:
            return sol
    vp = plan(problem, loss)
    if vp is None:
        return None
    theta = np.clip(np.array(problem.p0, dtype=float), problem.lower, problem.upper) \
        if options.get("bounded") else np.asarray(problem.p0, dtype=float)
    if not _affine(problem, vp, theta):
        return None
    return varpro(problem, loss, vp=vp, _affine_checked=True, **options)


def _solve(problem: Problem, loss=None, *, bounded: bool = False, **options) -> Solution:
    return varpro(problem, loss, bounded=bounded, **options)


register(
    OptimizerSpec(
        name="varpro",
        solve=_solve,
        bounds=True,
        gradients=True,
        errors=True,
        losses=frozenset({"ls"}),
        batched=True,
        description="batched variable projection: linear parameters solved, the others by LM (swiftfit)",
    )
)
