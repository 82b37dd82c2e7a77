"""The columns of a chunk for :mod:`.varpro`: constant ones computed once, moving ones per step.

Split from :mod:`.varpro` (its iteration, finish and registration) to keep
both files short; see that module's docstring for the method.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np

from ..problem.problem import Problem

if TYPE_CHECKING:
    from .varpro import VarproPlan

_GRAM_COND = 1e12  # column-scaled Gram matrices above this go to the LM path


def _depends(problem: Problem, theta: np.ndarray):
    """``(n_params, P)`` bool: parameter ``i`` depends on column ``j``; and the
    derivatives at ``theta`` (for the affinity of ties).
    """
    _, dvals = problem.parameter_values(theta, derivatives=True)
    P = problem.P
    dep = np.zeros((len(problem.plans), P), dtype=bool)
    for i, d in enumerate(dvals):
        if d is not None:
            dep[i] = np.any(d != 0, axis=0)
    return dep, dvals


def _with_active(problem: Problem, keep: np.ndarray) -> Problem:
    """A shallow copy of ``problem`` with only the components ``keep`` active."""
    new = copy.copy(problem)
    new.active = problem.active & keep[None, :]
    return new


class _Columns:
    """The weighted columns of a chunk, split into a constant and a moving part.

    ``Xc`` (B, K, N): the columns of the components that do not move with
    ``q``, with their Gram matrix and right-hand side, computed once. The
    moving components (those holding a non-linear parameter) give, at each
    ``q``, the columns ``S`` (B, T, N) added to the linear columns ``kv`` and
    an offset ``hv``: through the problem (its model and Jacobian), or, where
    every moving component is a power law ``A·exp(−r L)`` with its own free
    ``A`` and ``r`` (checked against the problem's own Jacobian), from ``L``
    kept for the chunk: one exponential per point and step.
    """

    def __init__(self, problem: Problem, vp: VarproPlan, theta: np.ndarray, yw: np.ndarray):
        self.vp = vp
        self.w = problem.weights
        self.var = _with_active(problem, vp.variable)
        const = _with_active(problem, ~vp.variable)
        lin = vp.linear
        B, N, K = problem.B, problem.N, lin.size
        # the same constant columns at every pixel (no weights, no per-pixel
        # operator, the same fixed values): computed from one pixel, shared
        fixed = problem.fixed[:, [i for c in np.flatnonzero(~vp.variable) for i in problem.slots[c]]]
        self.shared = self.w is None and getattr(problem, "transform", None) is None and B > 1 and \
            not (problem.active != problem.active[:1]).any() and \
            not ((fixed != fixed[:1]) & ~(np.isnan(fixed) & np.isnan(fixed[:1]))).any()
        src, t0 = (const.take([0]), theta[:1]) if self.shared else (const, theta)
        if const.active.any() and self._no_offset(const, theta, fixed):
            # a model that is 0 without its linear values: each column is the model
            # at a unit value (one evaluation per column, cheaper than a Jacobian)
            Xc = np.zeros((t0.shape[0], N, K))
            hc = np.zeros((t0.shape[0], N))
            dep, _ = _depends(problem.take([0]), theta[:1])
            for k in vp.const_linear:
                tk = t0.copy()
                tk[:, lin] = 0.0
                tk[:, lin[k]] = 1.0
                # only the components this column reaches (the others give 0 there)
                reach = np.zeros(len(problem.components), dtype=bool)
                for c in np.flatnonzero(~vp.variable):
                    reach[c] = any(dep[i, lin[k]] for i in problem.slots[c])
                Xc[:, :, k] = _with_active(src, reach).evaluate(tk)
        elif const.active.any():
            Xc = src.jacobian(t0)[:, :, lin]
            hc = src.evaluate(t0) - np.einsum("bnk,bk->bn", Xc, t0[:, lin])
        else:
            Xc, hc = np.zeros((t0.shape[0], N, K)), np.zeros((t0.shape[0], N))
        self.Xc = np.ascontiguousarray(self._weigh(Xc, self.w, True).transpose(0, 2, 1))
        self.rwc = yw - self._weigh(hc, self.w)
        if self.shared:
            X0 = self.Xc[0]
            self.Gc = np.broadcast_to(X0 @ X0.T, (B, K, K))
        else:
            self.Gc = np.einsum("bkn,bln->bkl", self.Xc, self.Xc)
        self.bc = self.xc_dot(self.rwc[:, None, :])[..., 0]
        self.any_var = bool(self.var.active.any())
        self.kv = [int(k) for k in vp.var_linear]
        self.power = None
        if self.any_var:
            self.power = self._power_form(problem, theta)

    def _no_offset(self, const, theta, fixed) -> bool:
        """Whether the constant components give 0 when their linear values are 0, at
        every pixel: the same fixed values and active components everywhere, and 0
        at the first pixel (the operator of a problem is linear, so 0 stays 0).
        """
        if (const.active != const.active[:1]).any() or \
                ((fixed != fixed[:1]) & ~(np.isnan(fixed) & np.isnan(fixed[:1]))).any():
            return False
        t = theta[:1].copy()
        t[:, self.vp.linear] = 0.0
        return not np.any(const.take([0]).evaluate(t))

    @staticmethod
    def _weigh(a, w, cols=False):
        if w is None:
            return a
        return a * (w[:, :, None] if cols else w)

    def _power_form(self, problem: Problem, theta: np.ndarray):
        """``[(t, q, L (N,), mask (N,))]`` per moving power law (``t`` its place in
        ``kv``), or None (then the generic way).
        """
        lin, nl = list(self.vp.linear), list(self.vp.nonlinear)
        terms = []
        for c in np.flatnonzero(self.vp.variable):
            comp = problem.components[c]
            conv = getattr(problem, "convolved", None)
            if not hasattr(comp, "_log_base") or (conv is not None and conv[c]):
                return None
            plans = [problem.plans[i] for i in problem.slots[c]]
            if [p.kind for p in plans] != ["free", "free", "fixed", "fixed"]:
                return None
            if plans[0].column not in lin or plans[1].column not in nl:
                return None
            origin, cutoff = (problem.fixed[:, i] for i in problem.slots[c][2:])
            if np.ptp(origin) or np.ptp(cutoff) or len(problem.segments) != 1:
                return None
            x = np.asarray(problem.coords[0], dtype=float)
            mask, L = comp._log_base(x, float(origin[0]), float(cutoff[0]))
            k = lin.index(plans[0].column)
            if k not in self.kv:
                return None
            terms.append((self.kv.index(k), nl.index(plans[1].column), L, mask))
        if sorted(t[0] for t in terms) != list(range(len(self.kv))) or len({t[1] for t in terms}) != len(terms):
            return None
        self.binscale = np.asarray(problem.binscale, dtype=float)
        self.power = terms
        # the form must give the problem's own columns (binned scale, masks, ...)
        rows = np.arange(min(problem.B, 3))
        t = theta[rows]
        J = self._weigh(self.var.take(rows).jacobian(t), None if self.w is None else self.w[rows], True)
        sub = self.take(rows)
        S, hv = sub.moving(t)
        Jq = sub.nonlinear_jacobian(t, S)
        want_s = np.stack([J[:, :, self.vp.linear[k]] for k in self.kv], axis=1)
        want_q = np.moveaxis(J[:, :, self.vp.nonlinear], 2, 1)
        with np.errstate(all="ignore"):
            ok = hv is None and np.allclose(S, want_s, rtol=1e-12, atol=0) and \
                np.allclose(Jq, want_q, rtol=1e-10, atol=1e-12 * np.abs(want_q).max())
        return terms if ok else None

    def take(self, rows) -> _Columns:
        new = object.__new__(_Columns)
        new.__dict__.update(self.__dict__)
        new.var = self.var.take(rows)
        new.w = None if self.w is None else self.w[rows]
        new.rwc, new.Gc, new.bc = self.rwc[rows], self.Gc[rows], self.bc[rows]
        if not self.shared:
            new.Xc = self.Xc[rows]
        return new

    def xc_dot(self, V):
        """``Xcᵀ V`` for ``V`` (B, M, N): (B, K, M)."""
        if self.shared:
            return (V @ self.Xc[0].T).transpose(0, 2, 1)
        return np.einsum("bkn,bmn->bkm", self.Xc, V)

    def xc_comb(self, c):
        """``Σ_k c_k Xc_k`` (B, N) for ``c`` (B, K)."""
        if self.shared:
            return c @ self.Xc[0]
        return np.einsum("bkn,bk->bn", self.Xc, c)

    def moving(self, theta: np.ndarray):
        """``S`` (B, T, N) and ``hv`` (B, N) or None, weighted, at ``theta``'s non-linear values."""
        B, N = self.rwc.shape
        if not self.any_var:
            return np.zeros((B, 0, N)), None
        if self.power is not None:
            S = np.empty((B, len(self.kv), N))
            for t, q, L, mask in self.power:
                with np.errstate(over="ignore", invalid="ignore"):
                    np.exp(-theta[:, [self.vp.nonlinear[q]]] * L, out=S[:, t])
                S[:, t] *= mask * self.binscale
                if self.w is not None:
                    S[:, t] *= self.w
            return S, None
        lin = self.vp.linear
        J = self.var.jacobian(theta)
        Jv = J[:, :, lin]
        hv = self.var.evaluate(theta) - np.einsum("bnk,bk->bn", Jv, theta[:, lin])
        S = np.ascontiguousarray(self._weigh(Jv[:, :, self.kv], self.w, True).transpose(0, 2, 1))
        return S, self._weigh(hv, self.w)

    def nonlinear_jacobian(self, theta: np.ndarray, S) -> np.ndarray:
        """``W ∂m/∂q`` (B, Q, N) at ``theta`` (only the moving components move with ``q``);
        ``S`` from :meth:`moving` at the same non-linear values.
        """
        nl = self.vp.nonlinear
        if self.power is not None:
            Jq = np.zeros((S.shape[0], nl.size, S.shape[2]))
            for t, q, L, _ in self.power:
                Jq[:, q] = -theta[:, [self.vp.linear[self.kv[t]]]] * L * S[:, t]
            return Jq
        J = self.var.jacobian(theta)[:, :, nl]
        return np.ascontiguousarray(self._weigh(J, self.w, True).transpose(0, 2, 1))

    def solve(self, theta: np.ndarray, hold: np.ndarray):
        """The best linear values at ``theta``'s non-linear ones: ``min ‖rw − (Xc + S) c‖²``.

        Columns ``hold`` (B, K) keep ``theta``'s values (they do not reach the
        model there). Returns ``c`` (B, K), the weighted residual (B, N), ``S``,
        the scaled inverse Gram matrix with its scales, and a (B,) mask of
        pixels whose scaled Gram matrix is too ill-conditioned.
        """
        S, hv = self.moving(theta)
        kv = self.kv
        rw = self.rwc if hv is None else self.rwc - hv
        G = self.Gc.copy()
        b = self.bc.copy() if hv is None else self.xc_dot(rw[:, None, :])[..., 0]
        if kv:
            XS = self.xc_dot(S)  # Xcᵀ S
            SS = np.einsum("btn,bun->btu", S, S)
            Sr = np.einsum("btn,bn->bt", S, rw)
            for t, k in enumerate(kv):
                G[:, :, k] += XS[:, :, t]
                G[:, k, :] += XS[:, :, t]
                b[:, k] += Sr[:, t]
                for u, l in enumerate(kv):
                    G[:, k, l] += SS[:, t, u]
        c, Ginv, d, bad = _gram_solve(G, b, hold, theta[:, self.vp.linear])
        res = self.residual(rw, c, S)
        return c, res, S, (Ginv, d), bad, rw

    def residual(self, rw, c, S):
        res = rw - self.xc_comb(c)
        for t, k in enumerate(self.kv):
            res -= c[:, [k]] * S[:, t]
        return res

    def xt(self, v, S):
        """``(Xc + S)ᵀ v`` for ``v`` (B, M, N): (B, K, M)."""
        out = self.xc_dot(v)
        if self.kv:
            SV = np.einsum("btn,bmn->btm", S, v)
            for t, k in enumerate(self.kv):
                out[:, k] += SV[:, t]
        return out


def _gram_solve(G, b, hold, theta_lin):
    """``c = G⁻¹ b`` per pixel on the column-scaled matrix; ``hold`` columns keep ``theta_lin``."""
    d = np.sqrt(np.einsum("bkk->bk", G))
    d = np.where((d > 0) & np.isfinite(d), d, 1.0)
    K = G.shape[-1]
    eye = np.eye(K)
    with np.errstate(all="ignore"):
        Gs = G / (d[:, :, None] * d[:, None, :])
        Gs = np.where(hold[:, :, None] | hold[:, None, :], eye, Gs)
        rs = np.where(hold, 0.0, b / d)
        ev = np.linalg.eigvalsh(np.where(np.isfinite(Gs), Gs, eye))
        bad = ~(ev[:, 0] > ev[:, -1] / _GRAM_COND) | ~np.isfinite(rs).all(axis=1)
        Gs = np.where(bad[:, None, None], eye, Gs)
        rs = np.where(bad[:, None], 0.0, rs)
        Ginv = np.linalg.inv(Gs)
        c = np.einsum("bkl,bl->bk", Ginv, rs) / d
    c = np.where(hold, theta_lin, c)
    return c, Ginv, d, bad
