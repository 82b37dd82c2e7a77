"""The Newton check of :mod:`swiftfit.problem.verify`, compiled, for one pixel.

The fused Levenberg–Marquardt (:mod:`.kernels`) ends with the Gram matrix
``JᵀJ`` and ``Jᵀr`` of the accepted point in hand; :func:`gap` turns them into
the same measure as :func:`swiftfit.problem.verify.newton_gaps` — one
Gauss–Newton step from the answer (parameters it would push across a bound
held there), compared parameter by parameter with the most lenient of a tenth
of the standard deviation, 1e-3 of the value and the step that moves the
model by 1e-4 of the data's norm — so the verification needs no second
evaluation of the model after the fit.

This is a copy of that formula (the NumPy one stays the definition every other
door uses); ``tests/optimizers/test_fused_verify.py`` holds the two together
on random inputs. The one difference of method: the scaled Hessian's
eigenvalues (the conditioning test ``λ_min > 1e-12 λ_max``), the step and the
inverse's diagonal come from one LAPACK eigendecomposition (``syevd``, as
NumPy's ``eigvalsh``) of the small ``P×P`` matrix, where NumPy calls LAPACK
three times (``eigvalsh``, ``solve``, ``inv``); the two agree to the rounding
of the conditioning (relative ``cond·ε``). Where the matrix is provably well
conditioned (``trace(A)·trace(A⁻¹) < 1e6``, a bound on ``cond``) the inverse
comes from its Cholesky factor instead (:func:`_inverse`): the LAPACK call
cost more than a 5-parameter fit's iteration (issue 16, Cpufit's 5×5 ROIs). (A hand-written cyclic Jacobi
eigensolver cost ~10 P³ flops a sweep: at 63 free parameters more than the
fit itself.)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_TINY = np.finfo(np.float64).tiny
CONDITION = 1e-12  # as newton_gaps: judged only where λ_min > CONDITION·λ_max
FAST_CONDITION = 1e6  # below this bound on cond, the inverse by Cholesky (see _inverse)


@njit(cache=True, error_model="numpy", _nrt=False)
def _nanmax2(a, b):
    """``np.maximum``: NaN if either is NaN."""
    if math.isnan(a) or math.isnan(b):
        return np.nan
    return a if a >= b else b


@njit(cache=True, error_model="numpy")
def cholesky(A, L, lam):
    """Lower Cholesky factor of ``A + lam·I`` into ``L`` (upper triangle zeroed);
    False if not positive definite. The one compiled Cholesky: the fused LM's
    damped steps (:mod:`.kernels`) and :func:`_inverse` use it.
    """
    for i in range(A.shape[0]):
        if not cholesky_row(A, L, lam, i):
            return False
    return True


@njit(cache=True, error_model="numpy", _nrt=False, inline="always")
def cholesky_row(A, L, lam, i):
    """Row ``i`` of :func:`cholesky`'s factor, rows ``0 … i−1`` done; False
    where the pivot is not positive (or not finite). Shared by :func:`cholesky`
    and the factorisations that solve as they go (``lm_linalg._solve_damped``,
    ``_gn_factor``), so that all compute the same ``L`` bit for bit.
    """
    for j in range(i + 1):
        s = A[i, j] + (lam if i == j else 0.0)
        for k in range(j):
            s -= L[i, k] * L[j, k]
        if i == j:
            if not (s > 0.0) or not math.isfinite(s):
                return False
            L[i, i] = math.sqrt(s)
        else:
            L[i, j] = s / L[j, j]
    for j in range(i + 1, A.shape[0]):
        L[i, j] = 0.0
    return True


@njit(cache=True, error_model="numpy")
def _inverse(A, L, out):
    """``out = A⁻¹`` of the symmetric ``A`` by Cholesky (``L`` scratch) when
    ``A`` is positive definite and ``trace(A)·trace(A⁻¹) < FAST_CONDITION``;
    else False. Since ``λ_max ≤ trace(A)`` and ``1/λ_min ≤ trace(A⁻¹)``, this
    bounds ``cond(A)`` by 1e6: far inside the ``CONDITION`` test (which then
    passes) and where the inverse is accurate to ~1e-10, as the
    eigendecomposition (which the other cases keep: a LAPACK call and its
    allocations cost more than the whole 5-parameter fit's iteration).
    """
    P = A.shape[0]
    trace = 0.0
    for i in range(P):
        trace += A[i, i]
    if not cholesky(A, L, 0.0):
        return False
    # out ← L⁻¹ (lower), then A⁻¹ = L⁻ᵀ L⁻¹
    for j in range(P):
        for i in range(P):
            if i < j:
                out[i, j] = 0.0
            elif i == j:
                out[i, i] = 1.0 / L[i, i]
            else:
                s = 0.0
                for k in range(j, i):
                    s -= L[i, k] * out[k, j]
                out[i, j] = s / L[i, i]
    inv_trace = 0.0
    for i in range(P):
        for k in range(i, P):
            inv_trace += out[k, i] * out[k, i]
    if not (trace * inv_trace < FAST_CONDITION):
        return False
    for i in range(P):
        for j in range(i, P):
            s = 0.0
            for k in range(j, P):
                s += out[k, i] * out[k, j]
            L[i, j] = s
    for i in range(P):
        for j in range(i, P):
            out[i, j] = L[i, j]
            out[j, i] = L[i, j]
    return True


@njit(cache=True, error_model="numpy")
def gap(f, g, H, col, norm, theta, lo, hi, free_in, errordef, rescale, N):
    """``max_j |δ_j| / tol_j`` of :func:`swiftfit.problem.verify.newton_gaps` for one pixel.

    ``f`` the loss value, ``g`` (P) its gradient, ``H`` (P, P) the
    Gauss–Newton/Fisher Hessian, ``col`` (P) the norms of the (unweighted)
    Jacobian's columns (non-finite where the Jacobian is), ``norm`` the data's
    norm, ``lo``/``hi`` (P) the bounds, ``free_in`` (P) the columns that reach
    the model, ``rescale`` (least squares without a variance) scales the
    standard deviations by the residual variance ``f / (N − free)``. 0 where it
    cannot judge.

    Examples
    --------
    A gradient of 2 against a Hessian of 2 (χ² = (θ − 1)² at θ = 2): the step
    ``δ = 1`` is 10× the tolerance ``0.1·σ`` (σ = 1), so the gap is 10.

    >>> one, inf = np.ones(1), np.full(1, np.inf)
    >>> round(float(gap(1.0, 2 * one, 2 * np.ones((1, 1)), one, 0.0, 2 * one, -inf, inf,
    ...                 np.ones(1, dtype=bool), 1.0, False, 10)), 12)
    10.0
    """
    P = theta.size
    mats = np.empty((3, P, P))
    return gap_into(f, g, H, col, norm, theta, lo, hi, free_in, errordef, rescale, N, np.empty(P, dtype=np.bool_),
                    np.empty((5, P)), mats, mats[0], False)


@njit(cache=True, error_model="numpy", _nrt=False)
def _step_from_inverse(inv, gs, d, delta, inv_diag, P):
    """The Newton step ``delta = D⁻¹ inv gs`` and the inverse's diagonal
    ``inv_diag = diag(inv) / d²``, from the inverse ``inv`` of the scaled
    Hessian (``d``: the scales, ``gs``: the scaled gradient), over the first
    ``P`` entries of the work vectors.
    """
    for i in range(P):
        step = 0.0
        for k in range(P):
            step += inv[i, k] * gs[k]
        delta[i] = step / d[i]
        inv_diag[i] = inv[i, i] / (d[i] * d[i])


@njit(cache=True, error_model="numpy")
def gap_into(f, g, H, col, norm, theta, lo, hi, free_in, errordef, rescale, N, free, vecs, mats, pre_inv, pre_ok):
    """:func:`gap` with its scratch passed in (``free`` P bools, ``vecs``
    ``(≥5, P)``, ``mats`` ``(≥3, P, P)``), so that a fit allocates nothing:
    nine small arrays per pixel cost ~0.5 µs, a tenth of a 5×5 fit's kernel
    time (issue 16). The same arithmetic as :func:`gap`, which calls it.

    ``pre_ok``: ``pre_inv`` (P, P) already holds the inverse of the scaled
    Hessian ``hs = H_ij / √(H_ii H_jj)`` over the columns of ``free_in``
    (identity elsewhere), known to be well conditioned (the bound of
    :func:`_inverse` below ``FAST_CONDITION``) — the fused kernel's
    covariance computed it (``lm_linalg._cov_core``; the same matrix up to
    rounding): the first pass takes it instead of factoring ``hs`` again,
    provided every column of ``free_in`` has ``H_ii > 0``.
    """
    P = theta.size
    if P == 0:
        return 0.0
    ok = math.isfinite(f)
    for i in range(P):
        if not (math.isfinite(g[i]) and math.isfinite(col[i])):
            ok = False
        for j in range(P):
            if not math.isfinite(H[i, j]):
                ok = False
    if not ok:
        return 0.0
    for i in range(P):
        free[i] = free_in[i] and H[i, i] > 0
        if free_in[i] and not free[i]:
            pre_ok = False
    d, gs, coef, delta, inv_diag = vecs[0], vecs[1], vecs[2], vecs[3], vecs[4]
    hs, L, Ainv = mats[0], mats[1], mats[2]
    for i in range(P):
        delta[i] = 0.0
        inv_diag[i] = 0.0
    for _ in range(P + 1):
        n_free = 0
        for i in range(P):
            n_free += free[i]
        if n_free == 0:
            return 0.0
        for i in range(P):
            d[i] = math.sqrt(H[i, i]) if free[i] else 1.0
        for i in range(P):
            gs[i] = g[i] / d[i] if free[i] else 0.0
        if pre_ok:
            # the first pass, with the inverse already in hand (see the docstring)
            pre_ok = False
            _step_from_inverse(pre_inv, gs, d, delta, inv_diag, P)
        else:
            for i in range(P):
                for j in range(P):
                    v = H[i, j] / (d[i] * d[j]) if (free[i] and free[j]) else (1.0 if i == j else 0.0)
                    hs[i, j] = v if math.isfinite(v) else (1.0 if i == j else 0.0)
            if _inverse(hs, L, Ainv):
                # well conditioned (see _inverse): the eigenvalue test passes and
                # the step and the inverse's diagonal come from the Cholesky inverse
                _step_from_inverse(Ainv, gs, d, delta, inv_diag, P)
            else:
                w, V = np.linalg.eigh(hs)  # LAPACK (syevd), ascending
                if not (w[0] > CONDITION * w[P - 1]):
                    return 0.0
                for k in range(P):  # Vᵀ gs / λ
                    proj = 0.0
                    for j in range(P):
                        proj += V[j, k] * gs[j]
                    coef[k] = proj / w[k]
                for i in range(P):
                    step = 0.0
                    inv = 0.0
                    for k in range(P):
                        step += V[i, k] * coef[k]
                        inv += V[i, k] * V[i, k] / w[k]
                    delta[i] = step / d[i]
                    inv_diag[i] = inv / (d[i] * d[i])
        crossing = False
        for i in range(P):
            trial = theta[i] - delta[i]
            if free[i] and (trial < lo[i] or trial > hi[i]):
                crossing = True
        if not crossing:
            break
        for i in range(P):
            trial = theta[i] - delta[i]
            if free[i] and (trial < lo[i] or trial > hi[i]):
                free[i] = False
    s2 = 1.0
    if rescale:
        n_free = 0
        for i in range(P):
            n_free += free[i]
        if N > n_free:
            s2 = f / max(N - n_free, 1)
    worst = -np.inf
    seen = False
    for i in range(P):
        if not free[i]:
            ratio = 0.0
        else:
            sigma = math.sqrt(2 * errordef * inv_diag[i])
            if rescale:
                sigma = sigma * math.sqrt(max(s2, 0.0))
            model_step = 1e-4 * norm / col[i] if col[i] > 0 else np.inf
            tol = _nanmax2(_nanmax2(0.1 * sigma, 1e-3 * abs(theta[i])), model_step)
            if not (tol > 0):
                tol = _TINY
            ratio = abs(delta[i]) / tol
        if not math.isnan(ratio):
            worst = ratio if (not seen or ratio > worst) else worst
            seen = True
    return worst if seen else np.nan


@njit(cache=True, error_model="numpy")
def gaps(f, g, H, col, norm, theta, lo, hi, free, errordef, rescale, N):
    """:func:`gap` for every pixel (``(B,)``): what the tests compare with
    :func:`swiftfit.problem.verify.newton_gaps`.
    """
    B = theta.shape[0]
    out = np.empty(B)
    for b in range(B):
        out[b] = gap(f[b], g[b], H[b], col[b], norm[b], theta[b], lo, hi, free[b], errordef, rescale, N)
    return out
