"""Batched damped Gauss–Newton (Levenberg–Marquardt) for any loss.

``"lm"`` with ``loss_function="ls"`` works on residuals (SVD of the
Jacobian, :mod:`.lm`). For ``"ML-poisson"`` and ``"huber"`` the same
Levenberg–Marquardt idea applies to the loss itself: each step solves
``(H + λ diag(D²)) δ = −g`` with ``g`` the gradient of the objective and
``H`` its positive semi-definite Gauss–Newton/Fisher approximation (Fisher
scoring for Poisson, iteratively reweighted least squares for Huber), and is
accepted by the ratio of actual to predicted decrease. Bounds, per-pixel
damping and convergence work as in :mod:`.lm`.

The damping update (Nielsen's), the gain-ratio acceptance and the step test
are :mod:`._lm_rules`', shared with :mod:`.lm`. Convergence is tested on the undamped Newton step (it locates the minimum,
so its size is the distance still to go) and on the Newton decrement
``½ gᵀH⁻¹g``, the objective decrease still available: both are independent of
the objective's arbitrary offset (``Σ(m − d ln m)`` has no natural zero).
"""

from __future__ import annotations

import numpy as np

from ..losses import _Memo
from ..problem.problem import Problem, relevance
from ..problem.solution import Solution, Status
from . import _lm_rules as rules
from . import _lm_steps as steps

__all__ = ["damped_newton"]


def _solve(H, g, lam, D, frozen):
    """Batched ``(H + λ D²) δ = −g`` with frozen columns held at 0."""
    B, P = g.shape
    A = H + lam[:, None, None] * np.einsum("bp,pq->bpq", D**2, np.eye(P))
    free = ~frozen
    A = np.where(free[:, :, None] & free[:, None, :], A, 0.0) + np.einsum("bp,pq->bpq", frozen.astype(float), np.eye(P))
    rhs = np.where(free, -g, 0.0)
    try:
        return np.linalg.solve(A, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.zeros((B, P))
        for b in range(B):
            out[b] = np.linalg.lstsq(A[b], rhs[b], rcond=None)[0]
        return out


class _Held:
    """The model and Jacobian of the pixels whose fit has ended, taken from the
    memo their last gradient and Hessian were computed from (no evaluation).
    """

    def __init__(self, B):
        self.seen = np.zeros(B, dtype=bool)
        self.parts = []

    def keep(self, need, sub, th, final):
        """Keep the rows ``final`` of ``need`` (the memo ``sub`` at ``th``)."""
        if final.any():
            with np.errstate(all="ignore"):  # a custom loss has not evaluated the model
                self.parts.append((need[final], sub.evaluate(th)[final], sub.jacobian(th)[final]))
            self.seen[need[final]] = True

    def checks(self, problem, loss, theta, status, f, G, H, rel) -> dict:
        """``info`` with ``chisq`` (weighted ``Σ r²``) and ``checks`` (see
        :func:`swiftfit.problem.verify.verify`): ``model`` (B, N), ``model_sq``,
        ``columns`` and ``finite`` (the weighted Jacobian's column norms, its
        finiteness) and ``gap`` of ``loss`` from the gradient and Hessian the
        fit ended with. A pixel that ended after a rejected step or at the
        evaluation limit was not held: its model is evaluated once here, and
        its Jacobian where it converged (the verification judges no other).
        """
        from ..problem.verify import newton_gaps

        B, N, P = problem.B, problem.N, problem.P
        rest = np.flatnonzero(~self.seen)
        if rest.size:
            part = problem.take(rest) if rest.size < B else problem
            th = theta[rest]
            conv = status[rest] > 0
            J = np.full((rest.size, N, P), np.nan)
            with np.errstate(all="ignore"):
                m = part.evaluate(th)
                if conv.all():
                    J = part.jacobian(th)
                elif conv.any():
                    J[conv] = part.take(np.flatnonzero(conv)).jacobian(th[conv])
            self.parts.append((rest, m, J))
        # every pixel is in exactly one part
        model = np.empty((B, N))
        J = np.empty((B, N, P))
        for rows, m, jac in self.parts:
            model[rows] = m
            J[rows] = jac
        w = problem.weights
        with np.errstate(all="ignore"):
            wm = model if w is None else model * w
            r = problem.data - model
            r = r if w is None else r * w
            Jw = J if w is None else J * w[:, :, None]
            columns = np.sqrt(np.einsum("bnp,bnp->bp", Jw, Jw))
            finite = np.isfinite(J).all(axis=(1, 2))
        gap = np.full(B, np.nan)
        k = np.flatnonzero(status > 0)
        if k.size:
            sub = problem.take(k) if k.size < B else problem
            Jk = J if k.size == B else J[k]
            gap[k] = newton_gaps(sub, loss, theta[k], Jk, free=rel[k], derivatives=(f[k], G[k], H[k]))
        checks = {"model": model, "model_sq": np.einsum("bn,bn->b", wm, wm), "columns": columns, "finite": finite,
                  "gap": gap, "relevant": rel, "loss": loss}
        return {"chisq": np.einsum("bn,bn->b", r, r), "checks": checks}


def damped_newton(
    problem: Problem,
    loss,
    *,
    bounded: bool = False,
    xtol: float = 1e-10,
    dtol: float = 1e-12,
    max_nfev: int | None = None,
    lambda0: float = 1e-3,
    **unused,
) -> Solution:
    """Minimise ``loss`` over every pixel of ``problem`` by damped Gauss–Newton.

    Parameters
    ----------
    problem : Problem
    loss : swiftfit.losses.Loss
        Any loss with ``value``, ``gradient`` and ``gn_hessian``.
    bounded : bool
        Respect ``problem.lower``/``upper`` (projected steps, active set).
    xtol : float
        Stop when the Newton step is below ``xtol`` relative to the parameters.
    dtol : float
        Stop when the Newton decrement is below ``dtol·errordef``.
    max_nfev : int, optional
        Maximum objective evaluations per pixel (default ``100·(P+1)``).

    Returns
    -------
    Solution
    """
    if unused:
        from ..errors import OptimizerError

        raise OptimizerError(f"optimizer 'lm' got unknown options {sorted(unused)}")
    B, P = problem.B, problem.P
    lo, hi, max_nfev, theta, status, nfev, njev, nit = steps.start(problem, bounded, max_nfev)
    f = loss.value(problem, theta)
    status[~np.isfinite(f)] = Status.NONFINITE
    if P == 0:
        status[status == Status.NOT_FITTED] = Status.CLOSED_FORM
        return Solution(theta, status, nfev, f, None, njev, nit)
    rel = relevance(problem, theta)
    lam = np.full(B, np.nan)
    nu = np.full(B, 2.0)
    D = np.zeros((B, P))
    G = np.zeros((B, P))
    H = np.zeros((B, P, P))
    frozen = np.zeros((B, P), dtype=bool)
    stale = np.ones(B, dtype=bool)
    held = _Held(B)  # the model and Jacobian each pixel ended with, for the verification
    while True:
        idx = np.flatnonzero(status == Status.NOT_FITTED)
        if idx.size == 0:
            break
        need = idx[stale[idx]]
        if need.size:
            sub = _Memo(problem.take(need))  # the gradient and the Hessian share one model and Jacobian
            th = theta[need]
            with np.errstate(all="ignore"):
                g = loss.gradient(sub, th)
                h = loss.gn_hessian(sub, th)
            njev[need] += 1
            bad = ~(np.isfinite(g).all(axis=1) & np.isfinite(h).all(axis=(1, 2)))
            status[need[bad]] = Status.NONFINITE
            g[bad] = 0.0
            h[bad] = 0.0
            frz = ((theta[need] <= lo) & (g > 0)) | ((theta[need] >= hi) & (g < 0)) | ~rel[need]
            D[need] = np.maximum(D[need], np.sqrt(np.abs(np.einsum("bpp->bp", h))))
            G[need], H[need], frozen[need] = g, h, frz
            first = np.isnan(lam[need])
            lam[need[first]] = lambda0
            Dn = np.where(D[need] > 0, D[need], 1.0)
            newton = _solve(h, g, np.zeros(need.size), Dn, frz)
            decrement = -0.5 * np.einsum("bp,bp->b", g, newton)
            small = rules.scaled_small(np.linalg.norm(Dn * newton, axis=1), np.linalg.norm(Dn * theta[need], axis=1),
                                       xtol)
            done = (small | (np.abs(decrement) <= dtol * loss.errordef)) & (status[need] == Status.NOT_FITTED)
            status[need[done]] = np.where(small[done], Status.XTOL, Status.FTOL)
            held.keep(need, sub, th, status[need] != Status.NOT_FITTED)
            stale[need] = False
            idx = np.flatnonzero(status == Status.NOT_FITTED)
            if idx.size == 0:
                break
        Dn = np.where(D[idx] > 0, D[idx], 1.0)
        delta = _solve(H[idx], G[idx], lam[idx], Dn, frozen[idx])
        trial = np.clip(theta[idx] + delta, lo, hi)
        step = trial - theta[idx]
        pred = -(np.einsum("bp,bp->b", G[idx], step) + 0.5 * np.einsum("bp,bpq,bq->b", step, H[idx], step))
        with np.errstate(all="ignore"):
            f_new = loss.value(problem.take(idx), trial)
        nfev[idx] += 1
        nit[idx] += 1
        finite = np.isfinite(f_new)
        actual = np.where(finite, f[idx] - f_new, -np.inf)
        rho = rules.gain_ratio(actual, pred)
        accept = rules.accepted(rho, finite)
        lam[idx], nu[idx] = rules.nielsen(lam[idx], nu[idx], rho, accept)
        tiny = rules.scaled_small(np.linalg.norm(Dn * step, axis=1), np.linalg.norm(Dn * theta[idx], axis=1), xtol)
        acc = idx[accept]
        theta[acc] = trial[accept]
        f[acc] = f_new[accept]
        stale[acc] = True
        # a rejected step that has shrunk below xtol: nothing left to gain
        status[idx[~accept & tiny]] = Status.XTOL
        over = (status[idx] == Status.NOT_FITTED) & (nfev[idx] >= max_nfev)
        status[idx[over]] = Status.MAX_NFEV
    # what the verification needs at the answer (problem.verify's `checks`): the write-back
    # evaluates neither the model nor the Jacobian again
    info = held.checks(problem, loss, theta, status, f, G, H, rel)
    return Solution(theta, status, nfev, f, None, njev, nit, info=info)
