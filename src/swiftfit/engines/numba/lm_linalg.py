"""The small dense linear algebra of the compiled Levenberg–Marquardt step
(:mod:`.kernels`): triangular solves, the Gauss–Newton and damped steps by
Cholesky of the scaled ``P×P`` normal equations, the trust-region step
(Moré's λ iteration), the covariance and its conditioning bound, and the
linear columns' own step (the linear projection at the start).

``P`` is small (a handful to a few dozen parameters), so these are plain
loops that numba compiles inline into the kernel; LAPACK through NumPy would
cost a call and an allocation per step.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import newton as _newton

_EPS = np.finfo(np.float64).eps
_RCOND = 1e-13
GRAM_MAX_COND = 1e5  # as _lm_steps.GRAM_MAX_COND: the largest cond(J D⁻¹) solved through JᵀJ



@njit(cache=True, error_model="numpy", _nrt=False)
def _forward(L, b, out):
    P = b.size
    for i in range(P):
        s = b[i]
        for k in range(i):
            s -= L[i, k] * out[k]
        out[i] = s / L[i, i]


@njit(cache=True, error_model="numpy", _nrt=False)
def _backward(L, b, out):
    P = b.size
    for i in range(P - 1, -1, -1):
        s = b[i]
        for k in range(i + 1, P):
            s -= L[k, i] * out[k]
        out[i] = s / L[i, i]


@njit(cache=True, error_model="numpy", _nrt=False)
def _norm(v):
    s = 0.0
    for i in range(v.size):
        s += v[i] * v[i]
    return math.sqrt(s)


@njit(cache=True, error_model="numpy", _nrt=False)
def _gn_ok(Gs, L):
    """Cholesky of the scaled Gram matrix for an undamped step, refused when the
    matrix is numerically singular (pivot below the reference's rank cut).
    """
    if not _newton.cholesky(Gs, L, 0.0):
        return False
    P = Gs.shape[0]
    big = 0.0
    small = np.inf
    for i in range(P):
        d = L[i, i]
        big = max(big, d)
        small = min(small, d)
    return small > _RCOND * big * max(P, 1)


@njit(cache=True, error_model="numpy", _nrt=False)
def _inverse_trace(L, rel, col, rdiag):
    """``Σ_{i relevant} (Gs⁻¹)_ii`` from the Cholesky factor ``L`` (the
    irrelevant rows and columns of ``Gs`` are the identity's: Gs⁻¹ is block
    diagonal), one column of ``L⁻¹`` at a time in ``col``; ``rdiag`` (scratch)
    takes the reciprocals of ``L``'s diagonal.

    Multiplied by those ``P`` reciprocals, not divided by the diagonal in
    each of the ``P(P+1)/2`` entries: the divisions were one dependent chain
    per column, ~0.1 µs of each iteration of a 5-parameter fit (issue 16).
    The sum then differs from the divided one by a few roundings; it only
    decides whether a bound settles the conditioning test (see
    :func:`_ill_conditioned`), which could change only where
    ``trace·trace(Gs⁻¹)`` lies within those roundings of ``GRAM_MAX_COND²``
    — and there the power iteration then decides, as it does above it.
    """
    P = L.shape[0]
    for i in range(P):
        rdiag[i] = 1.0 / L[i, i]
    acc = 0.0
    for j in range(P):
        if not rel[j]:
            continue
        col[j] = rdiag[j]
        acc += col[j] * col[j]
        for i in range(j + 1, P):
            s = 0.0
            for k in range(j, i):
                s -= L[i, k] * col[k]
            col[i] = s * rdiag[i]
            acc += col[i] * col[i]
    return acc


@njit(cache=True, error_model="numpy", _nrt=False)
def _ill_conditioned(Gs, L, tmp, v, rel):
    """True when the scaled Gram matrix (Cholesky factor ``L``) is too ill
    conditioned for the normal equations: ``trace / λ_min > GRAM_MAX_COND²``,
    ``λ_min`` from a few inverse-power iterations (cheap: two triangular
    solves each). The NumPy reference factorises ``J`` itself (SVD) there.
    """
    P = Gs.shape[0]
    trace = 0.0
    for i in range(P):
        trace += Gs[i, i] if rel[i] else 0.0
    # the same answer cheaper where the bound 1/λ_min ≤ trace(Gs⁻¹) = ‖L⁻¹‖_F²
    # (over the relevant columns; P³/6 flops, against 4 power iterations' 8 P²)
    # already settles it: the iteration's estimate never exceeds 1/λ_min
    if _inverse_trace(L, rel, tmp, v) * trace <= GRAM_MAX_COND * GRAM_MAX_COND:
        return False
    return _power_ill(L, trace, rel, tmp, v)


@njit(cache=True, error_model="numpy", _nrt=False)
def _power_ill(L, trace, rel, tmp, v):
    """The conditioning test where the bound ``trace(Gs⁻¹)`` did not settle it:
    ``λ_min`` of ``Gs = L Lᵀ`` over the ``rel`` columns from four inverse-power
    iterations (two triangular solves each); True (too ill conditioned, or a
    non-finite iterate) where ``trace / λ_min > GRAM_MAX_COND²``. Shared by
    :func:`_ill_conditioned`, :func:`_gn_factor` and :func:`_cov_core`.
    """
    P = L.shape[0]
    for i in range(P):
        v[i] = 1.0 / math.sqrt(P) if rel[i] else 0.0
    growth = 0.0
    for _ in range(4):
        _forward(L, v, tmp)
        _backward(L, tmp, v)
        growth = _norm(v)
        if not (growth > 0) or not math.isfinite(growth):
            return True
        for i in range(P):
            v[i] = v[i] / growth if rel[i] else 0.0
    return trace * growth > GRAM_MAX_COND * GRAM_MAX_COND


@njit(cache=True, error_model="numpy", _nrt=False)
def _solve_damped(Gs, gs, lam, L, tmp, z):
    """``z = (Gs + λI)⁻¹ gs``; returns False if the factorisation failed.

    :func:`.newton.cholesky` of ``Gs + λI`` and :func:`_forward`, fused: each
    row of the forward solve as soon as its row of ``L`` is known (the same
    operations in the same order, so the same ``z`` bit for bit; issue 16:
    the trust region's up to 12 factorisations per damped step).
    """
    for i in range(Gs.shape[0]):
        if not _factor_row(Gs, L, lam, gs, tmp, i):
            return False
    _backward(L, tmp, z)
    return True


@njit(cache=True, error_model="numpy", _nrt=False, inline="always")
def _factor_row(Gs, L, lam, gs, t, i):
    """Row ``i`` of :func:`.newton.cholesky` of ``Gs + λI`` and at once row
    ``i`` of :func:`_forward`'s ``L t = gs`` (the same operations in the same
    order as the two one after the other); False where the pivot fails.
    """
    if not _newton.cholesky_row(Gs, L, lam, i):
        return False
    s = gs[i]
    for k in range(i):
        s -= L[i, k] * t[k]
    t[i] = s / L[i, i]
    return True


@njit(cache=True, error_model="numpy", _nrt=False)
def _trust_step(Gs, gs, delta, lam, L, tmp, z):
    """Damping ``λ > 0`` whose step has scaled length ``‖z(λ)‖ ≈ Δ``, and that
    step in ``z``: the same safeguarded Newton iteration on ``1/‖z(λ)‖``
    (Hebden; Moré) as the reference (``_lm_steps.trust_lambda``) — same start,
    bounds and number of iterations, so both take the same steps — with
    ``d‖z‖/dλ = −‖L⁻¹z‖²/‖z‖`` from the Cholesky factor instead of the SVD.
    """
    upper = _norm(gs) / delta
    floor = 1e-15 * upper
    if not (lam > 0.0) or not math.isfinite(lam):
        lam = 1e-3 * upper
    lam = min(max(lam, floor), upper)
    for _ in range(12):
        if not _solve_damped(Gs, gs, lam, L, tmp, z):
            lam = upper
            continue
        n = _norm(z)
        _forward(L, z, tmp)
        qn = _norm(tmp)
        new = lam + (n / qn) ** 2 * (n - delta) / delta
        if not math.isfinite(new):
            new = upper
        new = min(max(new, floor), upper)
        if new == lam:
            # a fixed point (bit for bit): every further iteration would
            # repeat this one, and z is already the step at lam. Exact, not a
            # tolerance: the answer is the 12 iterations' (issue 16, small fits)
            return lam
        lam = new
    _solve_damped(Gs, gs, lam, L, tmp, z)
    return lam


@njit(cache=True, error_model="numpy", _nrt=False)
def _cov(G, rel, D, out, L, tmp, e, colv, Gs):
    """``(JᵀJ)⁻¹`` over the relevant columns (NaN where irrelevant) by
    Cholesky; False (and NaN) where the Gram matrix is singular or too ill
    conditioned for it (the caller then takes the SVD). ``Gs`` is scratch.
    See :func:`_cov_core`, which this calls.
    """
    return _cov_core(G, rel, D, out, L, tmp, e, colv, Gs)[0]


@njit(cache=True, error_model="numpy", _nrt=False)
def _cov_core(G, rel, D, out, L, tmp, e, colv, Gs):
    """:func:`_cov`, and what the Newton check can take from it:
    ``(ok, bound)``, with ``L`` left holding ``Gs⁻¹`` (``Gs = D⁻¹GD⁻¹``; the
    identity's rows and columns where not relevant) and ``bound`` the
    Newton check's bound on its condition number (``trace(Gs)·trace(Gs⁻¹)``
    over the whole ``P×P`` matrix, see :func:`.newton._inverse`; inf when not ok).

    One inverse of the Cholesky factor ``M = L⁻¹`` (its columns are those
    :func:`_inverse_trace` sums, in the same order; divided here, so the
    covariance is unchanged, where the per-iteration test multiplies by the
    reciprocals: the same test up to a few roundings of the bound), then ``Gs⁻¹ = MᵀM``: no triangular solve per
    column (issue 16: the per-fit fixed cost of a 5×5 ROI), and the Newton
    check (:func:`_check_point`) reuses ``Gs⁻¹`` instead of factoring the
    same matrix again. ``Gs`` ends as scratch (it holds ``M``).
    """
    P = G.shape[0]
    for i in range(P):
        colv[i] = 1.0 / D[i]  # one division per column, not per entry
    for i in range(P):
        for j in range(P):
            if rel[i] and rel[j]:
                Gs[i, j] = G[i, j] * colv[i] * colv[j]
            else:
                Gs[i, j] = 1.0 if i == j else 0.0
    ok = _gn_ok(Gs, L)
    trace = 0.0
    n_irr = 0
    for i in range(P):
        if rel[i]:
            trace += Gs[i, i]
        else:
            n_irr += 1
    inv_trace = 0.0
    if ok:
        # M = L⁻¹ over the relevant columns (into Gs), as _inverse_trace computes it
        for j in range(P):
            for i in range(P):
                Gs[i, j] = 0.0
        for j in range(P):
            if not rel[j]:
                continue
            Gs[j, j] = 1.0 / L[j, j]
            for i in range(j + 1, P):
                acc = 0.0
                for k in range(j, i):
                    acc -= L[i, k] * Gs[k, j]
                Gs[i, j] = acc / L[i, i]
            for i in range(j, P):
                inv_trace += Gs[i, j] * Gs[i, j]
        # _ill_conditioned's test: the bound settles it, else inverse power iterations
        # (here trace > 0 and finite: every pivot passed, so a non-finite iterate, which
        # _power_ill calls ill conditioned, is the old `trace · inf > bound`)
        if not (inv_trace * trace <= GRAM_MAX_COND * GRAM_MAX_COND):
            ok = not _power_ill(L, trace, rel, tmp, e)
    if not ok:
        for i in range(P):
            for j in range(P):
                out[i, j] = np.nan
        return False, np.inf
    # Gs⁻¹ = MᵀM (M lower triangular, zero off the relevant columns) into L
    for i in range(P):
        for j in range(i, P):
            if rel[i] and rel[j]:
                acc = 0.0
                for k in range(j, P):
                    acc += Gs[k, i] * Gs[k, j]
            else:
                acc = 1.0 if i == j else 0.0
            L[i, j] = acc
            L[j, i] = acc
    for i in range(P):
        for j in range(P):
            out[i, j] = L[i, j] * colv[i] * colv[j] if (rel[i] and rel[j]) else np.nan
    return True, (trace + n_irr) * (inv_trace + n_irr)


@njit(cache=True, error_model="numpy", _nrt=False)
def _linear_step(Gs, gs, lin, act, H, L, tmp, gl, z):
    """The best step of the linear columns alone (``lin`` and ``act``), the
    others held: ``z`` (scaled, zero off those columns) solves the linear
    columns' block of the scaled normal equations, ``Gs_LL z_L = gs_L``.
    For a model affine in those columns this is their exact weighted linear
    least squares at the current non-linear values. Returns the
    predicted reduction of ``Σ r²`` (``gs_Lᵀ z_L``, exact for an affine
    model), or −1 where the block is singular or there is no linear column.
    ``H`` is unused (kept for the callers' signature); ``gl`` is scratch.

    The arithmetic of one Cholesky of the ``P×P`` matrix whose other rows
    and columns are the identity's (and of its two triangular solves, and
    of :func:`_gn_ok`'s rank test over all ``P`` pivots), with the exact
    zeros and ones of those rows skipped: the same values bit for bit, on
    the linear block alone (issue 16: a 5×5 Gaussian's two linear columns,
    not five, at each fit's start).
    """
    P = Gs.shape[0]
    some = False
    n_on = 0
    for i in range(P):
        on = lin[i] and act[i]
        some = some or on
        n_on += on
        gl[i] = gs[i] if on else 0.0
    if not some:
        return -1.0
    # Cholesky of the linear block (newton.cholesky's loops, the off rows skipped)
    big = 1.0 if n_on < P else 0.0  # the identity's pivots
    small = 1.0 if n_on < P else np.inf
    for i in range(P):
        if not (lin[i] and act[i]):
            continue
        for j in range(i + 1):
            if not (lin[j] and act[j]):
                continue
            s = Gs[i, j]
            for k in range(j):
                if lin[k] and act[k]:
                    s -= L[i, k] * L[j, k]
            if i == j:
                if not (s > 0.0) or not math.isfinite(s):
                    return -1.0
                L[i, i] = math.sqrt(s)
            else:
                L[i, j] = s / L[j, j]
        big = max(big, L[i, i])
        small = min(small, L[i, i])
    if not (small > _RCOND * big * max(P, 1)):
        return -1.0
    # forward then backward solve over the linear block (_forward, _backward)
    for i in range(P):
        if not (lin[i] and act[i]):
            continue
        s = gl[i]
        for k in range(i):
            if lin[k] and act[k]:
                s -= L[i, k] * tmp[k]
        tmp[i] = s / L[i, i]
    for i in range(P - 1, -1, -1):
        if not (lin[i] and act[i]):
            z[i] = 0.0
            continue
        s = tmp[i]
        for k in range(i + 1, P):
            if lin[k] and act[k]:
                s -= L[k, i] * z[k]
        z[i] = s / L[i, i]
    pred = 0.0
    for i in range(P):
        pred += gl[i] * z[i]
    return pred


@njit(cache=True, error_model="numpy", _nrt=False)
def _scale(G, g, Dn, act, Gs, gs):
    """The scaled normal equations of an iteration: ``Gs = Dn⁻¹ G Dn⁻¹`` and
    ``gs = Dn⁻¹ g`` over the ``act`` columns, the identity's rows and zeros
    elsewhere. ``Gs[j, i]`` is ``Gs[i, j]``'s quotient where ``G[j, i]``
    equals ``G[i, j]`` (every Gram matrix here is symmetric; ``Dn[j]·Dn[i]`` is
    ``Dn[i]·Dn[j]`` exactly), so each pair is divided once: the same values bit
    for bit as dividing all ``P²`` (zeros divided again: their sign is the
    quotient's). Issue 16: ~10 divisions less per iteration on a 5×5 fit.
    """
    P = G.shape[0]
    for i in range(P):
        gs[i] = g[i] / Dn[i] if act[i] else 0.0
        for j in range(i + 1):
            if act[i] and act[j]:
                v = G[i, j] / (Dn[i] * Dn[j])
                Gs[i, j] = v
                Gs[j, i] = v if (G[j, i] == G[i, j] and G[i, j] != 0.0) else G[j, i] / (Dn[j] * Dn[i])
            else:
                Gs[i, j] = 1.0 if i == j else 0.0
                Gs[j, i] = Gs[i, j]


@njit(cache=True, error_model="numpy", _nrt=False)
def _gn_factor(Gs, gs, act, L, M, rdiag, tmp, v, zgn):
    """The Gauss–Newton step of the scaled normal equations ``Gs z = gs`` in
    ``zgn`` and its gain ``‖L⁻¹gs‖²``, or −1 where the step must come from
    the SVD: ``Gs`` not positive definite, a pivot below the rank cut
    (:func:`_gn_ok`'s test) or too ill conditioned (:func:`_ill_conditioned`'s
    test, ``trace(Gs) / λ_min > GRAM_MAX_COND²`` over the ``act`` columns).

    :func:`_gn_ok`, :func:`_ill_conditioned`, :func:`_forward` and
    :func:`_backward` in one call, with the same arithmetic in the same order:
    the same decisions and the same step bit for bit (the fit's iterates are
    unchanged). What is new is where the conditioning bound's work goes: the
    inverse ``M = L⁻¹`` (its lower triangle, every column; a column off
    ``act`` is the identity's, as ``L``'s is), computed with the pivots' reciprocals in
    ``rdiag`` exactly as :func:`_inverse_trace` computes its columns, is kept
    in the ``P×P`` scratch ``M``, valid until the next call, so that the
    fit's end (:func:`_cov_reuse`) takes it instead of factoring the same
    Gram matrix again (issue 16, a 5×5 fit's fixed cost). ``trace(Gs⁻¹) =
    ‖M‖_F²`` over the ``act`` columns bounds ``1/λ_min`` from above; where it
    does not settle the test, the same four inverse-power iterations decide.

    The forward solve ``L t = gs`` runs inside the factorisation, each row
    as soon as ``L``'s row is known (the same operations in the same order as
    :func:`_forward` after it): its chain of divisions then overlaps the
    factorisation's and the inverse's instead of following them (issue 16,
    ~20 ns of each 5-parameter iteration).

    (Tried: the step as the two products ``t = M gs``, ``zgn = Mᵀt`` instead
    of the triangular solves, and the Cholesky with reciprocal pivots: ~0.3 µs
    less per 5×5 fit at the default tolerances, but the iterates move by
    roundings, and broad3's flat minima turned that into 1.9e-7 relative on
    its maps, past the 1e-9 a rounding-level change may move them.)
    """
    P = Gs.shape[0]
    for i in range(P):
        # _forward(L, gs, tmp)'s row i, as soon as L's row i is known (see the docstring;
        # λ = 0 adds +0.0 to the pivot's sum: the same value, a −0.0 fails the test either way)
        if not _factor_row(Gs, L, 0.0, gs, tmp, i):
            return -1.0
    big = 0.0
    small = np.inf
    trace = 0.0
    for i in range(P):
        big = max(big, L[i, i])
        small = min(small, L[i, i])
        trace += Gs[i, i] if act[i] else 0.0
    if not (small > _RCOND * big * max(P, 1)):
        return -1.0
    for i in range(P):
        rdiag[i] = 1.0 / L[i, i]
    # M = L⁻¹, column by column (a column off `act` is the identity's: L's is); its lower
    # triangle only (the upper one is left as it was: nothing reads it)
    inv_trace = 0.0
    for j in range(P):
        M[j, j] = rdiag[j]
        for i in range(j + 1, P):
            s = 0.0
            for k in range(j, i):
                s -= L[i, k] * M[k, j]
            M[i, j] = s * rdiag[i]
        if act[j]:
            for i in range(j, P):
                inv_trace += M[i, j] * M[i, j]
    # the bound does not settle it: _ill_conditioned's inverse-power iterations
    if not (inv_trace * trace <= GRAM_MAX_COND * GRAM_MAX_COND):
        if _power_ill(L, trace, act, tmp, v):
            return -1.0
        _forward(L, gs, tmp)  # _power_ill took tmp as scratch
    gain = 0.0
    for i in range(P):
        gain += tmp[i] * tmp[i]
    _backward(L, tmp, zgn)
    return gain


@njit(cache=True, error_model="numpy", _nrt=False)
def _cov_reuse(G, rel, Dn, M, out, pre, da):
    """:func:`_cov_core`'s answer from the last iteration's factorisation:
    ``M = L⁻¹`` of ``Gs = Dn⁻¹ G Dn⁻¹`` (:func:`_gn_factor` at this point, over
    these ``rel`` columns), so no second Cholesky of the same ``G`` at the
    fit's end (issue 16: a 5×5 fit's fixed cost). ``(JᵀJ)⁻¹ = Dn⁻¹ MᵀM Dn⁻¹``
    into ``out`` (NaN off ``rel``); ``pre`` ← the inverse of the Jacobi-scaled
    ``G`` (``Da = √diag G``: ``Da (JᵀJ)⁻¹ Da``, the identity's rows off ``rel``),
    which the Newton check takes; ``da`` scratch. Returns ``(ok, bound)`` as
    :func:`_cov_core`: ``bound = (trace + n_irr)(trace⁻¹ + n_irr)`` of the
    Jacobi-scaled matrix. ``ok`` is False (nothing decided: the caller runs
    :func:`_cov_core`) unless that matrix's ``trace·trace(inverse)`` is at
    most ``GRAM_MAX_COND²`` — where :func:`_cov_core`'s own bound settles its
    test, and its pivot test holds too (pivots lie in ``[λ_min, λ_max]``, so
    their ratio is below ``√cond ≤ GRAM_MAX_COND``). The same covariance,
    inverse and bound as :func:`_cov_core` up to a few roundings.
    """
    P = G.shape[0]
    trace = 0.0
    n_irr = 0
    for i in range(P):
        d = math.sqrt(G[i, i]) if G[i, i] > 0 else 1.0
        da[i] = d / Dn[i]  # Da/Dn: the covariance's scaled inverse to the Jacobi-scaled one
        if rel[i]:
            r = 1.0 / d
            trace += G[i, i] * r * r
        else:
            n_irr += 1
    inv_trace = 0.0
    for i in range(P):
        for j in range(i, P):
            if rel[i] and rel[j]:
                acc = 0.0
                for k in range(j, P):
                    acc += M[k, i] * M[k, j]
                c = acc / (Dn[i] * Dn[j])
                p = acc * (da[i] * da[j])
                if i == j:
                    inv_trace += p
            else:
                c = np.nan
                p = 1.0 if i == j else 0.0
            out[i, j] = c
            out[j, i] = c
            pre[i, j] = p
            pre[j, i] = p
    if not (inv_trace * trace <= GRAM_MAX_COND * GRAM_MAX_COND):
        return False, np.inf
    return True, (trace + n_irr) * (inv_trace + n_irr)
