r"""Variable projection for EELS models with fine structure.

exspy's edge with fine structure (checked by running exspy 0.3.2: the function
is homogeneous in the intensity and affine in the coefficients, and the
coefficients replace the cross-section over the fine-structure region) is

.. math::

    f(E) = I \Big[\sigma(E)\,(1 - \chi_R(E)) + \sum_k a_k B_k(E)\Big],

``R`` the first ``fine_structure_width`` eV above the onset, ``B_k`` the
cubic B-splines there. It is not linear in ``(I, a_k)`` — the coefficients
multiply the intensity — but it is linear in ``u_0 = I`` and ``u_k = I a_k``,
so a power law + edges with fine structure (fixed onsets) is a power law over
constant columns ``σ(1 − χ_R)``, ``B_k`` (convolved with each pixel's low loss
when there is one): the compiled kernel of
:mod:`swiftfit.optimizers._varpro_kernel` fits it, one non-linear parameter
(the exponent) per pixel, instead of Levenberg–Marquardt over ~100.

Mapped back, ``I = u_0`` and ``a_k = u_k / u_0`` is the same point of the
user's problem (the map is a bijection where ``I ≠ 0``), and because the
Jacobians are related by ``J_θ = J_u T`` (``T = ∂u/∂θ``), the user's
``JᵀJ``, ``Jᵀr`` and covariance are ``Tᵀ (J_uᵀJ_u) T``, ``Tᵀ J_uᵀ r`` and
``T⁻¹ (J_uᵀJ_u)⁻¹ T⁻ᵀ`` — the delta method, exact for the Gauss–Newton
covariance. Pixels it cannot finish (an intensity 0, an ill-conditioned
system, the iteration limit) go to the NumPy Levenberg–Marquardt path from
where they were left, as :mod:`swiftfit.optimizers.varpro` does.

:func:`solve` returns None where the structure is not this one (a twin or an
expression on an edge parameter, a free onset, bounds, weights that are not
positive, ...): then the caller runs the usual path.
"""

from __future__ import annotations

import numpy as np

from ..problem.solution import Solution, Status

__all__ = ["solve"]

_MODEL_TOL = 1e-10  # the columns must rebuild the problem's own model to this (relative)


def _layout(problem):
    """``(power, edges)`` or None: ``power`` = (component, A column, r column, origin,
    cutoff); ``edges`` = [(component, I column, coefficient columns or None, onset,
    angle, fixed coefficients or None)].
    """
    from ..components.background import PowerLaw
    from .edge import EELSCLEdge

    if len(problem.segments) != 1 or not problem.active.all():
        return None
    conv = getattr(problem, "convolved", None)
    power, edges, any_fs = None, [], False
    for c, comp in enumerate(problem.components):
        plans = [problem.plans[i] for i in problem.slots[c]]
        kinds = [p.kind for p in plans]
        fixed = [problem.fixed[:, i] for i in problem.slots[c]]
        if isinstance(comp, PowerLaw):
            if power is not None or kinds != ["free", "free", "fixed", "fixed"] or (conv is not None and conv[c]):
                return None
            if np.ptp(fixed[2]) or np.ptp(fixed[3]):
                return None
            power = (comp, plans[0].column, plans[1].column, float(fixed[2][0]), float(fixed[3][0]))
        elif isinstance(comp, EELSCLEdge):
            if kinds[:3] != ["free", "fixed", "fixed"] or np.ptp(fixed[1]) or np.ptp(fixed[2]):
                return None
            coeff = None
            fs_fixed = None
            if comp.fine_structure_active and len(kinds) > 3:
                if all(k == "free" for k in kinds[3:]):
                    coeff = [p.column for p in plans[3:]]
                    any_fs = True
                elif all(k == "fixed" for k in kinds[3:]):
                    fs_fixed = np.array([f[0] for f in fixed[3:]])
                    if any(np.ptp(f) for f in fixed[3:]):
                        return None
                else:
                    return None
            edges.append((comp, plans[0].column, coeff, float(fixed[2][0]), float(fixed[1][0]), fs_fixed))
        else:
            return None
    if power is None or not edges or not any_fs:
        return None
    return power, edges


def _edge_columns(comp, x, onset, angle, coeff, fs_fixed):
    """The edge's columns on ``x`` (rows): ``σ(1 − χ_R)`` then the ``B_k`` (free fine
    structure), or its one shape column.
    """
    sigma = np.array(comp._sigma(x, onset, angle), dtype=float)
    if not comp.fine_structure_active:
        return sigma[None, :]
    region, basis = comp._basis(x, onset)
    sigma[region] = 0.0
    if coeff is None:  # fixed coefficients: one column
        if fs_fixed is not None and fs_fixed.size:
            sigma[region] = basis @ fs_fixed
        return sigma[None, :]
    cols = np.zeros((1 + basis.shape[1], x.size))
    cols[0] = sigma
    cols[1:, region] = basis.T
    return cols


def _columns(problem, edges):
    """The weighted constant columns (1 or B, Kc, N) and, per edge, its slice of them."""
    conv = getattr(problem, "convolved", None)
    x = np.asarray(problem.ext_coords[0] if conv is not None else problem.coords[0], dtype=float)
    blocks, where, k = [], [], 0
    for comp, _, coeff, onset, angle, fs_fixed in edges:
        cols = _edge_columns(comp, x, onset, angle, coeff, fs_fixed)
        blocks.append(cols)
        where.append(slice(k, k + cols.shape[0]))
        k += cols.shape[0]
    X = np.concatenate(blocks, axis=0)
    binscale = np.asarray(problem.binscale, dtype=float)
    w = problem.weights
    if conv is None:
        X = X[None] * binscale
        return np.ascontiguousarray(X if w is None else X * w[:, None, :]), where
    op = problem.operator
    from scipy import fft as sfft

    spec = sfft.rfft(X, op.nfft, axis=-1)  # (Kc, nf): one forward FFT per column
    kern = op.kernels  # (1 or B, nf)
    B = max(kern.shape[0], 1 if w is None else w.shape[0])
    out = np.empty((B, X.shape[0], int(op.switches.sum())))
    every = bool(op.switches.all())
    for b in range(B):  # one batched inverse FFT per pixel (its columns), scaled in cache
        full = sfft.irfft(spec * kern[b if kern.shape[0] > 1 else 0], op.nfft, axis=-1,
                          workers=-1)[:, op.L - 1:op.L - 1 + op.N]
        scale = binscale if w is None else binscale * w[b]
        np.multiply(full if every else full[:, op.switches], scale, out=out[b])
    X = out
    return X, where


def solve(problem, loss=None, *, bounded=False, ftol=1e-12, xtol=1e-10, max_nfev=None, **unused):
    """Fit an EELS problem with free fine structure by variable projection (module
    docstring); None where its structure is not the one handled here.

    Examples
    --------
    >>> solve(m.compile([()])) is None   # a Gaussian model: not an EELS fine structure
    True
    """
    from .. import losses

    if bounded or (loss is not None and type(loss).__name__ != "LeastSquares") or problem.grad == "fd":
        return None
    w = problem.weights
    if w is not None and not (np.asarray(w) > 0).all():
        return None
    lay = _layout(problem)
    if lay is None:
        return None
    try:
        from numba import get_num_threads

        from ..optimizers._varpro_columns import _GRAM_COND
        from ..optimizers._varpro_kernel import fit_power
    except ImportError:
        return None
    (pcomp, colA, colr, origin, cutoff), edges = lay
    B, P = problem.B, problem.P
    x = np.asarray(problem.coords[0], dtype=float)
    mask, L = pcomp._log_base(x, origin, cutoff)
    X, where = _columns(problem, edges)
    Kc = X.shape[1]
    # the problem's columns of the linear unknowns (A, then each edge's u) in kernel order
    theta0 = np.array(problem.p0, dtype=float)
    if not _rebuilds(problem, theta0, X, mask, L, lay, where):
        return None
    yw = problem.data if w is None else problem.data * w
    yw = np.ascontiguousarray(yw, dtype=float)
    mb = (mask * np.asarray(problem.binscale, dtype=float)).astype(float)[None, :]
    if w is None:
        mbw, winv = mb, np.zeros((0, x.size))
    else:
        mbw, winv = np.ascontiguousarray(mb * w), np.ascontiguousarray(1.0 / w)
    G = X @ X.transpose(0, 2, 1)  # BLAS: (1 or B, Kc, Kc)
    bc = np.ascontiguousarray((X @ yw[:, :, None])[..., 0] if X.shape[0] > 1 else yw @ X[0].T)
    limit = 200 if max_nfev is None else int(max_nfev)
    hold = np.zeros((B, Kc + 1), dtype=bool)
    r, c, cost, status, nfev, nit, gram_u, jtr_u, model_sq, colsq_u = fit_power(
        X, np.arange(Kc, dtype=np.int64), np.ascontiguousarray(G), bc, yw, np.ascontiguousarray(L, dtype=float),
        mbw, winv, yw, hold, np.zeros((B, Kc + 1)), np.ascontiguousarray(theta0[:, colr]), -np.inf, np.inf,
        np.sqrt(np.einsum("bn,bn->b", yw, yw)), float(ftol), float(xtol), limit, _GRAM_COND,
        4 * get_num_threads())
    status = status.astype(int)
    nfev = nfev.astype(int)
    # back to the user's parameters: θ, and T = ∂u/∂θ (kernel columns [A, u.., r] by θ's)
    theta = theta0.copy()
    theta[:, colA], theta[:, colr] = c[:, 0], r
    T = np.zeros((B, Kc + 2, P))
    T[:, 0, colA] = 1.0
    T[:, Kc + 1, colr] = 1.0
    ok = status > 0
    for (comp, colI, coeff, *_), sl in zip(edges, where):
        u = c[:, 1 + sl.start:1 + sl.stop]
        theta[:, colI] = u[:, 0]
        T[:, 1 + sl.start, colI] = 1.0
        if coeff is not None:
            with np.errstate(all="ignore"):
                a = u[:, 1:] / u[:, :1]
            ok &= np.isfinite(a).all(axis=1) & (u[:, 0] != 0)
            theta[:, coeff] = np.where(np.isfinite(a), a, theta0[:, coeff])
            rows = np.arange(1 + sl.start + 1, 1 + sl.stop)
            T[:, rows, colI] = theta[:, coeff]
            T[:, rows, coeff] = u[:, :1]
    with np.errstate(all="ignore"):
        gram = T.transpose(0, 2, 1) @ gram_u @ T
        jtr = np.einsum("bkp,bk->bp", T, jtr_u)
    done = ok
    cov = np.full((B, P, P), np.nan)
    d = np.sqrt(np.einsum("bpp->bp", gram))
    d = np.where(d > 0, d, 1.0)
    with np.errstate(all="ignore"):
        gs = gram / (d[:, :, None] * d[:, None, :])
        ev = np.linalg.eigvalsh(np.where(np.isfinite(gs), gs, np.eye(P)))
        fine = done & (ev[:, 0] > ev[:, -1] * 1e-14)
        cov[fine] = (np.linalg.inv(np.where(fine[:, None, None], gs, np.eye(P))) / (d[:, :, None] * d[:, None, :]))[fine]
    status[done & ~fine] = Status.SINGULAR
    info = {"path": "varpro", "varpro": fine.copy(), "chisq": cost.copy(), "fine_structure": True}
    rest = np.flatnonzero(~fine)
    if rest.size:
        from ..optimizers.lm import levenberg_marquardt

        sub = problem.take(rest)
        sub.p0 = np.where(np.isfinite(theta[rest]), theta[rest], problem.p0[rest])
        sol = levenberg_marquardt(sub, loss, ftol=ftol, xtol=xtol, kernel="numpy")
        theta[rest], status[rest], cov[rest] = sol.theta, sol.status, sol.covariance
        nfev[rest] += sol.nfev
        cost[rest] = sol.objective
        info["chisq"][rest] = sol.objective
    else:
        from ..problem.verify import newton_gaps

        loss = losses.get("ls") if loss is None else loss
        # the column norms of the user's Jacobian J_θ = J_u T: without weights the
        # Gram diagonal; with weights the verification evaluates the problem
        if w is None:
            colsq = np.einsum("bpp->bp", gram)
            with np.errstate(all="ignore"):
                gap = newton_gaps(problem, loss, theta, np.sqrt(colsq)[:, None, :],
                                  derivatives=(cost, -2 * jtr, 2 * gram))
            info["checks"] = {"gram": gram, "model_sq": model_sq, "gap": gap, "relevant": np.ones((B, P), bool)}
    return Solution(theta, status, nfev, cost, cov, nfev.copy(), nit.astype(int), info)


def _rebuilds(problem, theta, X, mask, L, lay, where) -> bool:
    """Whether the columns rebuild the problem's own model on two pixels, at the start
    values with the coefficients set to a non-trivial pattern (so every column counts).
    """
    (pcomp, colA, colr, *_), edges = lay
    rows = np.arange(min(problem.B, 2))
    t = theta[rows].copy()
    model = np.zeros((rows.size, problem.N))
    w = problem.weights
    for (comp, colI, coeff, *_), sl in zip(edges, where):
        if coeff is not None:
            t[:, coeff] = np.cos(np.arange(len(coeff)))[None, :] * 0.5 + 1.0
        t[:, colI] = np.where(t[:, colI] != 0, t[:, colI], 1.0)
        u = np.ones((rows.size, sl.stop - sl.start)) * t[:, [colI]]
        if coeff is not None:
            u[:, 1:] = t[:, coeff] * t[:, [colI]]
        Xb = X[rows] if X.shape[0] > 1 else X[[0] * rows.size]
        model += np.einsum("bk,bkn->bn", u, Xb[:, sl])
    with np.errstate(all="ignore"):
        power = t[:, [colA]] * np.exp(-t[:, [colr]] * L) * mask * np.asarray(problem.binscale, dtype=float)
        want = problem.take(rows).evaluate(t)
        if w is not None:
            power, want = power * w[rows], want * w[rows]
        model += power
        err = np.abs(model - want).max() / max(np.abs(want).max(), 1e-300)
    return bool(np.isfinite(err) and err <= _MODEL_TOL)
