"""Compiled (numba) Levenberg–Marquardt of the fused path, one pixel per fit.

Pixels are independent fits and run in parallel (threads over blocks); the model,
its weighted Jacobian and the Gram matrix come from :mod:`.model`
without a Python round trip and without materialising ``J`` for more than
one pixel at a time.

The iteration is the same Levenberg–Marquardt as the NumPy reference
(:mod:`swiftfit.optimizers.lm`; its step logic in :mod:`swiftfit.optimizers._lm_rules`,
of which ``_gain_ratio``, ``_radius_update``, ``_accept``, ``_point_tests``, ``_step_tests``,
``_polish_code`` and ``_polish_ends`` are the scalar copies, tested piece by
piece in ``tests/optimizers/test_one_lm.py``): MINPACK's scaling ``D`` (running maximum of
the column norms), a trust region on the scaled step with ``λ`` from Moré's
Newton iteration, MINPACK's ``ftol``/``xtol`` tests, then undamped
Gauss–Newton "polishing" steps until they stop gaining; a Gauss–Newton
step that points back along the last accepted step (a zig-zag across a slow
mode, as on large-residual problems) is shortened to that mode's minimum
(``_unzigzag``, the copy of ``_lm_rules.unzigzag``; no extra evaluation).
It solves the damped
normal equations by Cholesky (``P`` is small; the reference factors through
an SVD), which is why the two agree to the precision of the minimum (tested
to 1e-8 relative), not bit for bit.

At each pixel's answer the kernel also computes what the verification
(:func:`swiftfit.problem.verify.verify`) needs — ``JᵀJ``, the model's norm and
the Newton gap (:mod:`.newton`) — from the evaluation it already has, so a
verified fit costs no second evaluation of the model (:func:`_check_point`).

Why hand-written: numba compiles this once (cached on disk) and then a
pixel's iteration costs a few microseconds; NumPy batching spends most of
its time in temporaries of shape ``(B, N, P)`` and in per-call overhead.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from . import model2d as _m2
from . import newton as _newton
from . import svd as _svd
from .model import _residuals
from .model import evaluate as _evaluate
from .model import gram_grid as _gram
from .model import mark_relevant as _mark_relevant
from .psf import PLAIN_TABLES as _PLAIN_TABLES
from .psf import convolved as _convolved  # model.evaluate through a PSF operator (psf.py)
from .roi2d import evaluate as _roi_evaluate  # one unrotated Gaussian2D (+ Offset) on a small ROI, one pass
from .roi2d import plan as _roi_plan

_EPS = np.finfo(np.float64).eps
_RCOND = 1e-13
GRAM_MAX_COND = 1e5  # as _lm_steps.GRAM_MAX_COND: the largest cond(J D⁻¹) solved through JᵀJ
# the linear projection's second test (see _fit_rows): some linear value moves
# by more than this factor (or changes sign). 10: an order of magnitude off
LINEAR_FACTOR = 10.0
ZIG_COS = 0.9  # as _lm_rules.ZIG_COS (see _unzigzag)
# as _lm_rules.STALL_EVALS, STALL_GAIN, STALL_GROWTH, STALL_WINDOWS (see _stalled_window)
STALL_EVALS = 50
STALL_GAIN = 1e-5
STALL_GROWTH = 1.2
STALL_WINDOWS = 3
NO_PROGRESS = -13  # Status.NO_PROGRESS
NEEDS_REFERENCE = 99  # status of a pixel handed back to the NumPy reference (no longer produced)


@njit(cache=True, error_model="numpy")
def _forward(L, b, out):
    P = b.size
    for i in range(P):
        s = b[i]
        for k in range(i):
            s -= L[i, k] * out[k]
        out[i] = s / L[i, i]


@njit(cache=True, error_model="numpy")
def _backward(L, b, out):
    P = b.size
    for i in range(P - 1, -1, -1):
        s = b[i]
        for k in range(i + 1, P):
            s -= L[k, i] * out[k]
        out[i] = s / L[i, i]


@njit(cache=True, error_model="numpy")
def _norm(v):
    s = 0.0
    for i in range(v.size):
        s += v[i] * v[i]
    return math.sqrt(s)


@njit(cache=True, error_model="numpy")
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


@njit(cache=True, error_model="numpy")
def _inverse_trace(L, rel, col):
    """``Σ_{i relevant} (Gs⁻¹)_ii`` from the Cholesky factor ``L`` (the
    irrelevant rows and columns of ``Gs`` are the identity's: Gs⁻¹ is block
    diagonal), one column of ``L⁻¹`` at a time in ``col``.
    """
    P = L.shape[0]
    acc = 0.0
    for j in range(P):
        if not rel[j]:
            continue
        for i in range(P):
            if i < j:
                col[i] = 0.0
            elif i == j:
                col[i] = 1.0 / L[i, i]
            else:
                s = 0.0
                for k in range(j, i):
                    s -= L[i, k] * col[k]
                col[i] = s / L[i, i]
        for i in range(j, P):
            acc += col[i] * col[i]
    return acc


@njit(cache=True, error_model="numpy")
def _ill_conditioned(Gs, L, tmp, v, rel):
    """True when the scaled Gram matrix (Cholesky factor ``L``) is too ill
    conditioned for the normal equations: ``trace / λ_min > GRAM_MAX_COND²``,
    ``λ_min`` from a few inverse-power iterations (cheap: two triangular
    solves each). The NumPy reference factorises ``J`` itself (SVD) there.
    """
    P = Gs.shape[0]
    trace = 0.0
    for i in range(P):
        v[i] = 1.0 / math.sqrt(P) if rel[i] else 0.0
        trace += Gs[i, i] if rel[i] else 0.0
    # the same answer cheaper where the bound 1/λ_min ≤ trace(Gs⁻¹) = ‖L⁻¹‖_F²
    # (over the relevant columns; P³/6 flops, against 4 power iterations' 8 P²)
    # already settles it: the iteration's estimate never exceeds 1/λ_min
    if _inverse_trace(L, rel, tmp) * trace <= GRAM_MAX_COND * GRAM_MAX_COND:
        return False
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


@njit(cache=True, error_model="numpy")
def _solve_damped(Gs, gs, lam, L, tmp, z):
    """``z = (Gs + λI)⁻¹ gs``; returns False if the factorisation failed."""
    if not _newton.cholesky(Gs, L, lam):
        return False
    _forward(L, gs, tmp)
    _backward(L, tmp, z)
    return True


@njit(cache=True, error_model="numpy")
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


@njit(cache=True, error_model="numpy")
def _cov(G, rel, D, out, L, tmp, e, colv, Gs):
    """``(JᵀJ)⁻¹`` over the relevant columns (NaN where irrelevant) by
    Cholesky; False (and NaN) where the Gram matrix is singular or too ill
    conditioned for it (the caller then takes the SVD). ``Gs`` is scratch.
    See :func:`_cov_core`, which this calls.
    """
    return _cov_core(G, rel, D, out, L, tmp, e, colv, Gs)[0]


@njit(cache=True, error_model="numpy")
def _cov_core(G, rel, D, out, L, tmp, e, colv, Gs):
    """:func:`_cov`, and what the Newton check can take from it:
    ``(ok, bound)``, with ``L`` left holding ``Gs⁻¹`` (``Gs = D⁻¹GD⁻¹``; the
    identity's rows and columns where not relevant) and ``bound`` the
    Newton check's bound on its condition number (``trace(Gs)·trace(Gs⁻¹)``
    over the whole ``P×P`` matrix, see :func:`.newton._inverse`; inf when not ok).

    One inverse of the Cholesky factor ``M = L⁻¹`` (its columns are those
    :func:`_inverse_trace` sums, in the same order, so the conditioning test
    is the same arithmetic), then ``Gs⁻¹ = MᵀM``: no triangular solve per
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
        if not (inv_trace * trace <= GRAM_MAX_COND * GRAM_MAX_COND):
            growth = 0.0
            for i in range(P):
                e[i] = 1.0 / math.sqrt(P) if rel[i] else 0.0
            for _ in range(4):
                _forward(L, e, tmp)
                _backward(L, tmp, e)
                growth = _norm(e)
                if not (growth > 0) or not math.isfinite(growth):
                    growth = np.inf
                    break
                for i in range(P):
                    e[i] = e[i] / growth if rel[i] else 0.0
            ok = not (trace * growth > GRAM_MAX_COND * GRAM_MAX_COND)
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


@njit(cache=True, error_model="numpy")
def _radius_update(delta, pn, rho, lam_step, first):
    """The trust radius after a damped step: ``_lm_rules.trust_radius``, scalar."""
    rad = min(delta, pn) if first else delta
    if rho < 0.25:
        return 0.5 * min(rad, 10.0 * pn)
    if rho >= 0.75 or lam_step == 0.0:
        return max(rad, 2.0 * pn)
    return rad


@njit(cache=True, error_model="numpy")
def _unzigzag(z, prev, Dn):
    """Shorten a Gauss–Newton step ``z`` (scaled) that zig-zags against the
    last accepted step ``prev`` (unscaled), in place: ``_lm_rules.unzigzag``,
    one pixel (``z / (1 + κ)``, ``κ = −zᵀp/pᵀp``, ``p = D prev``, where the
    cosine of ``z`` and ``p`` is below ``−ZIG_COS`` and ``0 < κ < 1``).
    """
    dot = 0.0
    pp = 0.0
    zz = 0.0
    for i in range(z.size):
        p = Dn[i] * prev[i]
        dot += z[i] * p
        pp += p * p
        zz += z[i] * z[i]
    if not (pp > 0.0 and zz > 0.0) or dot >= -ZIG_COS * math.sqrt(pp * zz):
        return
    kappa = -dot / pp
    if 0.0 < kappa < 1.0:
        for i in range(z.size):
            z[i] = z[i] / (1.0 + kappa)


@njit(cache=True, error_model="numpy")
def _stalled_window(cost_ref, cost, theta_ref, theta):
    """A window of ``STALL_EVALS`` evaluations without progress while a
    parameter runs off: ``_lm_rules.stalled_window``, one pixel.
    """
    if not cost_ref - cost <= STALL_GAIN * cost:
        return False
    for i in range(theta.size):
        if abs(theta[i]) > STALL_GROWTH * abs(theta_ref[i]):
            return True
    return False


@njit(cache=True, error_model="numpy")
def _gain_ratio(actual, pred):
    """``actual / pred``, ``−∞`` where ``pred ≤ 0``: ``_lm_rules.gain_ratio``, scalar."""
    return actual / pred if pred > 0 else -np.inf


@njit(cache=True, error_model="numpy")
def _accept(finite, rho, polish, actual, noise):
    """Is the trial taken: ``_lm_rules.accepted``, scalar."""
    return finite and (rho > 1e-4 or (polish and actual >= -noise))


@njit(cache=True, error_model="numpy")
def _point_tests(zn, gain, xn, cost, noise, ftol, xtol):
    """``(x_ok, f_ok)`` at a new point: ``_lm_rules.point_tests``, scalar."""
    return zn <= xtol * max(xn, xtol), gain <= max(ftol * cost, noise)


@njit(cache=True, error_model="numpy")
def _step_tests(actual, pred, rho, cost, noise, pn, xnorm, ftol, xtol):
    """``(f_ok, x_ok)`` of a trial step: ``_lm_rules.step_tests``, scalar."""
    tol = max(ftol * (cost if cost > 0 else 1.0), noise)
    return abs(actual) <= tol and pred <= tol and rho <= 2.0, pn <= xtol * max(xnorm, xtol)


@njit(cache=True, error_model="numpy")
def _polish_code(f_ok, x_ok):
    """The status polishing ends with: ``_lm_rules.polish_code``, scalar."""
    return 3 if (f_ok and x_ok) else (1 if f_ok else 2)


@njit(cache=True, error_model="numpy")
def _polish_ends(x_ok, gain, cost, ftol, located, zn, zlast):
    """Does polishing end at a new point: ``_lm_rules.polish_ends``, scalar."""
    return (x_ok and (gain <= ftol * cost or located > 3)) or zn >= zlast

@njit(cache=True, error_model="numpy")
def _linear_step(Gs, gs, lin, act, H, L, tmp, gl, z):
    """The best step of the linear columns alone (``lin`` and ``act``), the
    others held: ``z`` (scaled, zero off those columns) solves the linear
    columns' block of the scaled normal equations, ``Gs_LL z_L = gs_L``.
    For a model affine in those columns this is their exact weighted linear
    least squares at the current non-linear values (one Cholesky of a
    ``P×P`` matrix whose other rows are the identity's). Returns the
    predicted reduction of ``Σ r²`` (``gs_Lᵀ z_L``, exact for an affine
    model), or −1 where the block is singular or there is no linear column.
    ``H`` and ``gl`` are scratch.
    """
    P = Gs.shape[0]
    some = False
    for i in range(P):
        on = lin[i] and act[i]
        some = some or on
        gl[i] = gs[i] if on else 0.0
        for j in range(P):
            if on and lin[j] and act[j]:
                H[i, j] = Gs[i, j]
            else:
                H[i, j] = 1.0 if i == j else 0.0
    if not some or not _gn_ok(H, L):
        return -1.0
    _forward(L, gl, tmp)
    _backward(L, tmp, z)
    pred = 0.0
    for i in range(P):
        pred += gl[i] * z[i]
    return pred


@njit(cache=True, error_model="numpy")
def _fill_q(q, col, th, P):
    """The model's parameter vector ``q`` at the free values ``th`` (a tie's
    ``col`` is its Jacobian row: its value comes from :func:`.model.evaluate`).
    """
    for k in range(q.size):
        if 0 <= col[k] < P:
            q[k] = th[col[k]]


@njit(cache=True, error_model="numpy")
def _fit_rows(b0, b1, x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED, col, THETA,
              ftol, xtol, max_nfev, radius0, cov, fb, Jb, jlob, jhib, rb, ex, R, wk, lo, hi, gram, check,
              bounded, linear, lin_tau, status_out, nfev_out, njev_out, nit_out, cost_out, nsvd_out):
    """Levenberg–Marquardt of the pixels (rows) ``b0:b1``, one after the other;
    ``THETA[b]`` is updated in place and the other outputs written at ``b``.
    ``fb, Jb, jlob, jhib, rb`` are work buffers reused from pixel to pixel
    (``Jb`` zero outside the ranges ``jlob``/``jhib``, which keeps them cheap;
    two of each: the current point's and the trial's), and so are the small
    arrays in ``wk`` (see :func:`_work`): a fit allocates nothing, which
    matters on small problems (a 5×5 ROI).
    Writes ``(status, nfev, njev, nit, cost, nsvd)`` of each pixel into the
    ``*_out`` arrays, ``nsvd`` the number of SVD factorisations
    (ill-conditioned points) it took. At the answer it also fills what the
    verification needs (:func:`_check_point`): ``gram[b]`` (``JwᵀJw``) and
    ``check[b]`` (``Σ (w·model)²``, the Newton gap); NaN where the fit ended
    on non-finite values.

    ``bounded``: the box ``[lo, hi]`` is kept as the NumPy reference keeps it
    (:mod:`swiftfit.optimizers.lm`): at each new point a parameter at a bound
    whose gradient points outward is frozen for the step (``act``), trial
    points are projected onto the box, and the predicted reduction, the
    trust radius and the ``xtol`` test use the projected step.

    ``linear`` (P bool): the columns the model is affine in (amplitudes,
    offsets, polynomial coefficients: :mod:`.linear_start`). At the start,
    when the linear columns' own least squares at the start's non-linear
    values (:func:`_linear_step`) promises to remove more than ``lin_tau``
    of ``χ²`` *and* moves some linear value by more than ``LINEAR_FACTOR``
    (or flips its sign), the fit first moves there (one evaluation, kept only
    where ``χ²`` drops; repeated while that holds, which for an affine model
    is once). Why: a start with amplitudes 20× low sits far down the linear
    directions; the trust region walks there in many short damped steps
    and often ends in a worse local minimum on the way, while the linear
    solve gets there in one. Why only then: where the linear values are
    within a factor of a few, the damped steps fix them together with the
    non-linear parameters they are coupled to, and projecting first can cost
    (a power law's ``A`` projected at a wrong exponent ``r`` lands in the
    wrong part of the (A, r) valley: 12 → 28 evaluations). A start that
    fails either test runs exactly the plain LM's iterates.
    ``lin_tau = inf`` turns it off.
    """
    N = x.size
    P = THETA.shape[1]
    Q = FIXED.shape[1]
    vecs, mats, rel, q, A, qtr, gw = wk
    g, gs, tmp, z, zgn, D, Dn, trial, e, colv, sv, cv, grad, colnorm = vecs
    G, Gs, L, vt, Rt, H = mats
    # a raster with flat column ranges and no tie table: roi2d.plan is asked per evaluation
    roi = grid[0] > 0 and grid[6] <= 0 and ex[7].shape[0] == 0
    PT = Jb.shape[1] - 1  # the Jacobian's rows less the scratch row (P, plus the ties')
    for b in range(b0, b1):
        # this pixel's rows (the loop over pixels is here, not in fit_block: a call of
        # this function with its ~70 arrays cost ~0.7 µs in reference counts, issue 16)
        y = Y[b]
        w = W[b] if use_w else W[0]
        active = ACTIVE[b]
        fixedq = FIXED[b]
        theta = THETA[b]
        out_cov = cov[b]
        out_gram = gram[b]
        out_check = check[b]
        for i in range(P):
            for j in range(P):
                out_gram[i, j] = np.nan
        out_check[0] = np.nan
        out_check[1] = np.nan
        for k in range(Q):
            q[k] = fixedq[k]
        for j in range(P):
            D[j] = 0.0
            Dn[j] = 1.0
            rel[j] = False
        # the SVD of J D⁻¹ at points where Cholesky of the Gram matrix is not
        # trusted (see svd.py); sv, vt, cv, Rt, A and qtr are its work arrays
        svd = False
        _mark_relevant(kinds, qoff, nq, active, col, ex, P, rel)

        # the columns a step moves: the relevant ones, less those frozen at a bound
        act = rel
        if bounded:
            act = gw[3]
            for j in range(P):
                act[j] = rel[j]

        cur = 0
        _fill_q(q, col, theta, P)
        if len(ex) > _PLAIN_TABLES:  # a PSF operator: a constant when compiled (psf.convolved)
            cost, noise_sum = _convolved(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col,
                                         fb[cur], rb[cur], Jb[cur], jlob[cur], jhib[cur], ex, R)
        elif roi and _roi_plan(kinds, qoff, nq, active, col, q, grid, PT, N):
            # one unrotated Gaussian2D (+ Offset) on a small raster in one pass (roi2d: bit for bit the same)
            _roi_evaluate(kinds, qoff, q, col, x, xy, grid, bs, w, use_w, fb[cur], Jb[cur], jlob[cur], jhib[cur], R, PT)
            cost, noise_sum = _residuals(y, fb[cur], bs, w, use_w, rb[cur])
        else:
            cost, noise_sum = _evaluate(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col,
                                        fb[cur], rb[cur], Jb[cur], jlob[cur], jhib[cur], ex, R)
        nfev = 1
        njev = 1
        nit = 0
        nsvd = 0
        status = 0
        if not math.isfinite(cost) or P == 0:
            status_out[b] = -2 if not math.isfinite(cost) else 5
            nfev_out[b] = nfev
            njev_out[b] = njev
            nit_out[b] = nit
            cost_out[b] = cost
            nsvd_out[b] = nsvd
            continue
        delta = np.nan
        lam = 0.0
        polish = False
        zlast = np.inf
        located = 0
        code = 0
        stale = True
        noise = 0.0
        zn = np.inf
        gain = np.inf
        lam_step = 0.0
        project = lin_tau < np.inf
        # the last accepted step (unscaled), for the zig-zag test; `grad` is free
        # until _check_point
        prev = grad
        have_prev = False
        # the stall test (_stalled_window): theta and the cost at the last look
        # back (`colnorm` is free until _check_point), the next look, windows in a row
        ref = colnorm
        for i in range(P):
            ref[i] = theta[i]
        cost_ref = cost
        check_at = STALL_EVALS
        stalls = 0
        while status == 0:
            r = rb[cur]
            if stale:
                stale = False
                J = Jb[cur]
                jlo = jlob[cur]
                jhi = jhib[cur]
                _gram(J, jlo, jhi, grid, r, G, g)
                # a non-finite entry of a column makes its squared norm non-finite
                finite = True
                for j in range(P):
                    if not (math.isfinite(G[j, j]) and math.isfinite(g[j])):
                        finite = False
                if not finite:
                    status = -2
                    break
                for j in range(P):
                    D[j] = max(D[j], math.sqrt(G[j, j]))
                    Dn[j] = D[j] if D[j] > 0 else 1.0
                if bounded:
                    for j in range(P):
                        act[j] = rel[j] and not ((theta[j] <= lo[j] and g[j] < 0) or (theta[j] >= hi[j] and g[j] > 0))
                for i in range(P):
                    gs[i] = g[i] / Dn[i] if act[i] else 0.0
                    for j in range(P):
                        if act[i] and act[j]:
                            Gs[i, j] = G[i, j] / (Dn[i] * Dn[j])
                        else:
                            Gs[i, j] = 1.0 if i == j else 0.0
                noise = 8 * _EPS * math.sqrt(noise_sum)
                xn = 0.0
                for j in range(P):
                    xn += (Dn[j] * theta[j]) ** 2
                xn = math.sqrt(xn)
                if cost == 0.0:
                    status = 4
                    break
                if project and nit == 0:
                    # linear projection (see the docstring): the linear columns'
                    # exact optimum at the current non-linear values, taken only
                    # at the start, when it promises more than lin_tau of χ², moves
                    # a linear value by more than LINEAR_FACTOR, and delivers a decrease
                    pl = _linear_step(Gs, gs, linear, act, H, L, tmp, e, z)
                    far = False
                    for i in range(P):
                        trial[i] = theta[i] + z[i] / Dn[i]
                        if bounded:
                            trial[i] = min(max(trial[i], lo[i]), hi[i])
                        if linear[i] and act[i] and trial[i] != theta[i]:
                            ratio = abs(trial[i] / theta[i]) if theta[i] != 0 else np.inf
                            far = far or not (1.0 / LINEAR_FACTOR <= ratio <= LINEAR_FACTOR) or trial[i] * theta[i] < 0
                    if far and pl > lin_tau * cost:
                        nxt = 1 - cur
                        _fill_q(q, col, trial, P)
                        if len(ex) > _PLAIN_TABLES:  # a PSF operator: a constant when compiled (psf.convolved)
                            cost_new, noise_new = _convolved(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff,
                                                             nq, active, q, col, fb[nxt], rb[nxt], Jb[nxt], jlob[nxt],
                                                             jhib[nxt], ex, R)
                        elif roi and _roi_plan(kinds, qoff, nq, active, col, q, grid, PT, N):
                            # one unrotated Gaussian2D (+ Offset) on a small raster in one pass (roi2d: bit for bit the same)
                            _roi_evaluate(kinds, qoff, q, col, x, xy, grid, bs, w, use_w,
                                          fb[nxt], Jb[nxt], jlob[nxt], jhib[nxt], R, PT)
                            cost_new, noise_new = _residuals(y, fb[nxt], bs, w, use_w, rb[nxt])
                        else:
                            cost_new, noise_new = _evaluate(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff,
                                                            nq, active, q, col, fb[nxt], rb[nxt], Jb[nxt], jlob[nxt],
                                                            jhib[nxt], ex, R)
                        nfev += 1
                        njev += 1
                        if math.isfinite(cost_new) and cost_new < cost:
                            for i in range(P):
                                theta[i] = trial[i]
                            cost = cost_new
                            noise_sum = noise_new
                            cur = nxt
                            stale = True
                            if nfev >= max_nfev:
                                status = -1
                            continue
                        # not affine after all (a tie, a bound): no more projections
                        project = False
                        _fill_q(q, col, theta, P)
                        if nfev >= max_nfev:
                            status = -1
                            break
                svd = not _gn_ok(Gs, L) or _ill_conditioned(Gs, L, tmp, e, act)
                if svd:
                    # a rank-deficient or badly conditioned Jacobian: the
                    # reference's SVD of J D⁻¹ (QR + Jacobi), here in the kernel
                    _svd.factor(Jb[cur], jlob[cur], jhib[cur], r, Dn, act, A, qtr, Rt, vt, sv, cv)
                    nsvd += 1
                    gain = _svd.gauss_newton(sv, vt, cv, N, zgn)
                else:
                    # from here on the undamped (Gauss-Newton) step always exists
                    _forward(L, gs, tmp)
                    gain = 0.0
                    for i in range(P):
                        gain += tmp[i] * tmp[i]
                    _backward(L, tmp, zgn)
                zn = _norm(zgn)
                if not math.isfinite(delta):
                    delta = radius0 * xn if xn > 0 else max(zn, 1.0)
                x_ok, f_ok = _point_tests(zn, gain, xn, cost, noise, ftol, xtol)
                if (x_ok or f_ok) and not polish:
                    code = _polish_code(f_ok, x_ok)
                    polish = True
                    zlast = np.inf
                if polish:
                    if x_ok:
                        located += 1
                    if _polish_ends(x_ok, gain, cost, ftol, located, zn, zlast):
                        status = code
                        break
            # --- one trial step
            if polish:
                for i in range(P):
                    z[i] = zgn[i]
                lam_step = 0.0
                if _norm(z) > delta:
                    status = code
                    break
            else:
                if zn <= 1.1 * delta:
                    lam_step = 0.0
                    lam = 0.0  # as the reference: the next damped step starts afresh
                    for i in range(P):
                        z[i] = zgn[i]
                elif svd:
                    lam = _svd.trust_step(sv, vt, cv, N, delta, lam, z)
                    lam_step = lam
                else:
                    lam = _trust_step(Gs, gs, delta, lam, L, tmp, z)
                    lam_step = lam
            if lam_step == 0.0 and have_prev:
                _unzigzag(z, prev, Dn)
            for i in range(P):
                trial[i] = theta[i] + (z[i] / Dn[i] if act[i] else 0.0)
            zlen = _norm(z)
            if bounded:
                # the projected step, scaled: what the predictions and tests below use
                for i in range(P):
                    trial[i] = min(max(trial[i], lo[i]), hi[i])
                    z[i] = Dn[i] * (trial[i] - theta[i])
            # predicted reduction 2 zᵀgs − zᵀGs z (scaled variables)
            pred = 0.0
            if svd:
                pred = _svd.predicted(sv, vt, cv, z)
            else:
                for i in range(P):
                    acc = 0.0
                    for j in range(P):
                        acc += Gs[i, j] * z[j]
                    pred += z[i] * (2.0 * gs[i] - acc)
            nxt = 1 - cur
            _fill_q(q, col, trial, P)
            if len(ex) > _PLAIN_TABLES:  # a PSF operator: a constant when compiled (psf.convolved)
                cost_new, noise_new = _convolved(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active,
                                                 q, col, fb[nxt], rb[nxt], Jb[nxt], jlob[nxt], jhib[nxt], ex, R)
            elif roi and _roi_plan(kinds, qoff, nq, active, col, q, grid, PT, N):
                # one unrotated Gaussian2D (+ Offset) on a small raster in one pass (roi2d: bit for bit the same)
                _roi_evaluate(kinds, qoff, q, col, x, xy, grid, bs, w, use_w,
                              fb[nxt], Jb[nxt], jlob[nxt], jhib[nxt], R, PT)
                cost_new, noise_new = _residuals(y, fb[nxt], bs, w, use_w, rb[nxt])
            else:
                cost_new, noise_new = _evaluate(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q,
                                                col, fb[nxt], rb[nxt], Jb[nxt], jlob[nxt], jhib[nxt], ex, R)
            nfev += 1
            njev += 1
            nit += 1
            rn = rb[nxt]
            finite = math.isfinite(cost_new)
            actual = -np.inf
            if finite:
                actual = 0.0
                for n in range(N):
                    actual += (r[n] - rn[n]) * (r[n] + rn[n])
            rho = _gain_ratio(actual, pred)
            accept = _accept(finite, rho, polish, actual, noise)
            pn = 0.0
            xnorm = 0.0
            for i in range(P):
                pn += z[i] * z[i]
                xnorm += (Dn[i] * theta[i]) ** 2
            pn = math.sqrt(pn)
            xnorm = math.sqrt(xnorm)
            if not polish:
                delta = _radius_update(delta, pn, rho, lam_step, nit == 1)
            f_ok, x_ok = _step_tests(actual, pred, rho, cost, noise, pn, xnorm, ftol, xtol)
            if accept:
                for i in range(P):
                    prev[i] = trial[i] - theta[i]
                    theta[i] = trial[i]
                have_prev = True
                cost = cost_new
                noise_sum = noise_new
                cur = nxt
                stale = True
            elif not polish:
                # the current point's Jacobian is still in Jb[cur]: restore its
                # parameter vector for the next trial
                _fill_q(q, col, theta, P)
            if polish:
                zlast = zlen
                if not accept:
                    status = code
                    break
            elif f_ok or x_ok:
                code = _polish_code(f_ok, x_ok)
                polish = True
                zlast = np.inf
            if status == 0 and nfev >= check_at:
                # every STALL_EVALS evaluations: a degenerate walk (not while polishing)
                stalls = stalls + 1 if not polish and _stalled_window(cost_ref, cost, ref, theta) else 0
                for i in range(P):
                    ref[i] = theta[i]
                cost_ref = cost
                check_at = nfev + STALL_EVALS
                if stalls >= STALL_WINDOWS:
                    status = NO_PROGRESS
            if status == 0 and nfev >= max_nfev:
                status = -1
        # covariance at the final point (the Gram matrix of the current Jacobian)
        _fill_q(q, col, theta, P)
        if status != -2 and status != NEEDS_REFERENCE:
            if stale:  # G is already the Gram matrix at theta unless a step was just accepted
                _gram(Jb[cur], jlob[cur], jhib[cur], grid, rb[cur], G, g)
            for j in range(P):
                Dn[j] = math.sqrt(G[j, j]) if G[j, j] > 0 else 1.0
            ok, bound = _cov_core(G, rel, Dn, out_cov, L, tmp, e, colv, Gs)
            if not ok:
                # singular or too ill conditioned for Cholesky: the reference's
                # SVD and rank test decide
                _svd.factor(Jb[cur], jlob[cur], jhib[cur], rb[cur], Dn, rel, A, qtr, Rt, vt, sv, cv)
                _svd.covariance(sv, vt, rel, Dn, N, out_cov)
                nsvd += 1
            # the Newton check's scaled Hessian is Gs (Jacobi-scaled JᵀJ): its inverse is in L
            _check_point(G, g, cost, fb[cur], Jb[cur], jlob[cur], jhib[cur], grid, bs, y, w, use_w, theta, rel,
                         lo, hi, H, grad, colnorm, out_gram, out_check, gw[0], gw[1], gw[2], L,
                         ok and bound < _newton.FAST_CONDITION)
        status_out[b] = status
        nfev_out[b] = nfev
        njev_out[b] = njev
        nit_out[b] = nit
        cost_out[b] = cost
        nsvd_out[b] = nsvd


@njit(cache=True, error_model="numpy")
def _check_point(G, g, cost, f, J, jlo, jhi, grid, bs, y, w, use_w, theta, rel, lo, hi, H, grad, colnorm,
                 out_gram, out_check, gfree, gvecs, gmats, pre_inv, pre_ok):
    """What :func:`swiftfit.problem.verify.verify` needs at the answer, from
    this point's evaluation (no second one): ``out_gram`` ← ``JwᵀJw``,
    ``out_check[0]`` ← ``Σ (w·model)²`` and ``out_check[1]`` ← the Newton gap
    (:func:`.newton.gap` with the least-squares derivatives ``χ²``,
    ``−2 Jwᵀr``, ``2 JwᵀJw``, the unweighted columns' norms and the data's norm).
    ``G``/``g`` are ``JwᵀJw``/``Jwᵀr`` as :func:`.model.gram_grid` made them;
    on a large 2-D raster (``grid[6] > 0``) a column's range is a box
    (:mod:`.model2d`) and its norm is summed over the box. ``H``, ``grad``,
    ``colnorm`` are scratch (from :func:`_work`), and so are ``gfree``,
    ``gvecs``, ``gmats`` (:func:`.newton.gap_into`'s). With ``pre_ok``,
    ``pre_inv`` is the inverse of the Jacobi-scaled ``G`` over ``rel`` (from
    :func:`_cov_core`), which the Newton check then takes instead of
    inverting the same matrix again.
    """
    P = theta.size
    N = y.size
    boxes = grid[6] > 0
    Wr = int(grid[0]) if boxes else 0
    for i in range(P):
        grad[i] = -2 * g[i]
        for j in range(P):
            out_gram[i, j] = G[i, j]
            H[i, j] = 2 * G[i, j]
        if not (boxes or use_w):
            # the column's norm is G's diagonal: the same products over the same
            # range (model.gram), so no second pass over J (issue 16, per-fit cost)
            colnorm[i] = math.sqrt(G[i, i])
            continue
        acc = 0.0
        if boxes:
            r0, r1, c0, c1 = _m2._decode(jlo[i], jhi[i], Wr)
        else:
            r0, r1, c0, c1 = 0, 1, jlo[i], jhi[i]
        for row in range(r0, r1):
            for n in range(row * Wr + c0, row * Wr + c1):
                v = J[i, n] / w[n] if use_w else J[i, n]
                acc += v * v
        colnorm[i] = math.sqrt(acc)
    model_sq = 0.0
    data_sq = 0.0
    for n in range(N):
        wm = f[n] * bs[n] * w[n] if use_w else f[n] * bs[n]
        model_sq += wm * wm
        data_sq += y[n] * y[n]
    out_check[0] = model_sq
    out_check[1] = _newton.gap_into(cost, grad, H, colnorm, math.sqrt(data_sq), theta, lo, hi, rel, 1.0, not use_w, N,
                                    gfree, gvecs, gmats, pre_inv, pre_ok)


@njit(cache=True, error_model="numpy")
def _work(P, Q, N):
    """The small work arrays of :func:`_fit_rows`, made once per block:
    14 vectors and 6 matrices of ``P`` (the last two vectors and the last
    matrix are :func:`_check_point`'s), the relevance mask, the parameter
    vector ``q`` (``Q``), the SVD's ``(P, N)`` and ``N`` arrays and the
    Newton check's scratch (:func:`.newton.gap_into`).
    """
    vecs = np.empty((14, P))
    mats = np.empty((6, P, P))
    v = (vecs[0], vecs[1], vecs[2], vecs[3], vecs[4], vecs[5], vecs[6], vecs[7], vecs[8], vecs[9], vecs[10],
         vecs[11], vecs[12], vecs[13])
    return (v, (mats[0], mats[1], mats[2], mats[3], mats[4], mats[5]), np.zeros(P, dtype=np.bool_), np.empty(Q),
            np.empty((P, N)), np.empty(N),
            (np.zeros(P, dtype=np.bool_), np.zeros((5, P)), np.zeros((3, P, P)), np.zeros(P, dtype=np.bool_)))


@njit(cache=True, nogil=True, error_model="numpy")
def fit_block(b0, b1, x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED, col, THETA,
              ftol, xtol, max_nfev, radius0, ex, n_reg, lo, hi, status, nfev, njev, nit, cost, cov, nsvd, gram,
              check, bounded, linear, lin_tau):
    """Fit rows ``b0:b1`` of ``Y`` into the output arrays, with one set of
    work buffers (runs without the GIL: :func:`fit_pixels` calls it from
    threads).
    """
    P = THETA.shape[1]
    N = Y.shape[1]
    T = ex[7].shape[0]  # tied parameters' Jacobian rows (see model._ties)
    fb = np.empty((2, N))
    Jb = np.zeros((2, P + 1 + T, N))
    jlob = np.zeros((2, P + 1 + T), dtype=np.int64)
    jhib = np.zeros((2, P + 1 + T), dtype=np.int64)
    rb = np.empty((2, N))
    R = np.empty((n_reg, N))
    wk = _work(P, FIXED.shape[1], N)
    _fit_rows(b0, b1, x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED, col, THETA, ftol,
              xtol, max_nfev, radius0, cov, fb, Jb, jlob, jhib, rb, ex, R, wk, lo, hi, gram, check, bounded, linear,
              lin_tau, status, nfev, njev, nit, cost, nsvd)


def fit_pixels(x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED, col, THETA,
               ftol, xtol, max_nfev, radius0, ex, n_reg, lo, hi, bounded=False, linear=None, lin_tau=np.inf):
    """Fit every row of ``Y`` (B, N); ``THETA`` (B, P) holds the starts and
    receives the results. Returns status, nfev, njev, nit, χ², covariance,
    the number of SVD factorisations per pixel, and what the verification
    takes from the final point: ``JwᵀJw`` (B, P, P) and ``(Σ (w·model)², Newton
    gap)`` (B, 2), NaN where the fit ended on non-finite values. ``lo``,
    ``hi`` (P): the bounds the Newton check holds parameters at, and with
    ``bounded`` the box the fit keeps to (see :func:`_fit_rows`);
    ``linear`` (P bool, default none) and ``lin_tau``: the linear projection
    (see :func:`_fit_rows`; off by default here, :func:`.lower.fused_lm`
    turns it on).

    Pixels go in contiguous blocks (at most 64) to ``numba.get_num_threads()``
    Python threads (the caller's and :mod:`.blocks`' workers, made once per
    process), each running :func:`fit_block` without the GIL. Why not
    ``prange``: the parallel (parfor) wrapper alone took as long to compile
    as the whole LM kernel (15 of 32 CPU-seconds of the first multifit on a
    fresh install), and threads over blocks give the same speed-up.
    """
    import numba

    B, N = Y.shape
    P = THETA.shape[1]
    linear = np.zeros(P, dtype=np.bool_) if linear is None else np.ascontiguousarray(linear, dtype=np.bool_)
    lin_tau = float(lin_tau)
    status = np.zeros(B, dtype=np.int64)
    nfev = np.zeros(B, dtype=np.int64)
    njev = np.zeros(B, dtype=np.int64)
    nit = np.zeros(B, dtype=np.int64)
    nsvd = np.zeros(B, dtype=np.int64)
    cost = np.empty(B)
    cov = np.empty((B, P, P))
    gram = np.empty((B, P, P))
    check = np.empty((B, 2))
    out = (status, nfev, njev, nit, cost, cov, nsvd, gram, check)
    args = (x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED, col, THETA,
            ftol, xtol, max_nfev, radius0, ex, n_reg, lo, hi)
    n_blocks = min(B, 64)
    edges = [blk * B // n_blocks for blk in range(n_blocks + 1)]
    threads = min(numba.get_num_threads(), n_blocks)
    if threads <= 1:
        fit_block(0, B, *args, *out, bounded, linear, lin_tau)
        return out
    from .blocks import run_blocks  # threads made once per process (issue #16: fixed cost per call)

    run_blocks(lambda b0, b1: fit_block(b0, b1, *args, *out, bounded, linear, lin_tau), edges, threads)
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def evaluate_pixels(x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED, col, THETA, ex, n_reg,
                    dense=True):
    """Model (B, N), weighted residuals, ``JᵀJ`` (B, P, P), ``Jᵀr`` (B, P),
    the weighted Jacobian (B, N, P; (B, 0, P) unless ``dense``) and the
    norms of the unweighted Jacobian's columns (B, P) at ``THETA``: what one
    iteration needs, for the tests and the verification of a fit.
    """
    B, N = Y.shape
    P = THETA.shape[1]
    F = np.empty((B, N))
    R = np.empty((B, N))
    G = np.empty((B, P, P))
    g = np.empty((B, P))
    Jout = np.zeros((B, N if dense else 0, P))
    C = np.empty((B, P))
    for b in prange(B):
        q = FIXED[b].copy()
        for k in range(q.size):
            if 0 <= col[k] < P:
                q[k] = THETA[b, col[k]]
        T = ex[7].shape[0]
        J = np.zeros((P + 1 + T, N))
        jlo = np.zeros(P + 1 + T, dtype=np.int64)
        jhi = np.zeros(P + 1 + T, dtype=np.int64)
        wb = W[b] if use_w else W[0]
        f = np.empty(N)
        Rg = np.empty((n_reg, N))
        if len(ex) > _PLAIN_TABLES:  # a PSF operator: a constant when compiled (psf.convolved)
            _convolved(x, xy, grid, ascending, dx, bs, Y[b], wb, use_w, kinds, qoff, nq, ACTIVE[b], q, col, f, R[b], J,
                       jlo, jhi, ex, Rg)
        else:
            _evaluate(x, xy, grid, ascending, dx, bs, Y[b], wb, use_w, kinds, qoff, nq, ACTIVE[b], q, col, f, R[b], J,
                      jlo, jhi, ex, Rg)
        for n in range(N):
            F[b, n] = f[n] * bs[n]
            if dense:
                for j in range(P):
                    Jout[b, n, j] = J[j, n]
        for j in range(P):
            s = 0.0
            for n in range(jlo[j], jhi[j]):
                v = J[j, n] / wb[n] if use_w else J[j, n]
                s += v * v
            C[b, j] = math.sqrt(s)
        _gram(J, jlo, jhi, grid, R[b], G[b], g[b])
    return F, R, G, g, Jout, C


@njit(cache=True, error_model="numpy")
def check_pixels(x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED, col, THETA, ex, n_reg, lo, hi):
    """What :func:`fit_pixels` hands the verification, at any ``THETA``:
    ``JwᵀJw`` (B, P, P), ``(Σ (w·model)², Newton gap)`` (B, 2) and the columns
    that reach the model (B, P), from :func:`_check_point` (the tests compare
    them with the NumPy verification).
    """
    B, N = Y.shape
    P = THETA.shape[1]
    gram = np.empty((B, P, P))
    check = np.empty((B, 2))
    relevant = np.zeros((B, P), dtype=np.bool_)
    wk = _work(P, FIXED.shape[1], N)
    g = wk[0][0]
    grad, colnorm = wk[0][12], wk[0][13]
    G, H = wk[1][0], wk[1][5]
    f = np.empty(N)
    r = np.empty(N)
    T = ex[7].shape[0]
    J = np.zeros((P + 1 + T, N))
    jlo = np.zeros(P + 1 + T, dtype=np.int64)
    jhi = np.zeros(P + 1 + T, dtype=np.int64)
    Rg = np.empty((n_reg, N))
    for b in range(B):
        q = FIXED[b].copy()
        for k in range(q.size):
            if 0 <= col[k] < P:
                q[k] = THETA[b, col[k]]
        _mark_relevant(kinds, qoff, nq, ACTIVE[b], col, ex, P, relevant[b])
        wb = W[b] if use_w else W[0]
        if len(ex) > _PLAIN_TABLES:  # a PSF operator: a constant when compiled (psf.convolved)
            cost, _ = _convolved(x, xy, grid, ascending, dx, bs, Y[b], wb, use_w, kinds, qoff, nq, ACTIVE[b], q, col, f,
                                 r, J, jlo, jhi, ex, Rg)
        else:
            cost, _ = _evaluate(x, xy, grid, ascending, dx, bs, Y[b], wb, use_w, kinds, qoff, nq, ACTIVE[b], q, col, f,
                                r, J, jlo, jhi, ex, Rg)
        _gram(J, jlo, jhi, grid, r, G, g)
        # as at the end of a fit (_fit_rows): the covariance's inverse goes to the Newton check
        vecs, mats = wk[0], wk[1]
        Dn = vecs[6]
        for j in range(P):
            Dn[j] = math.sqrt(G[j, j]) if G[j, j] > 0 else 1.0
        ok, bound = _cov_core(G, relevant[b], Dn, mats[4], mats[2], vecs[2], vecs[8], vecs[9], mats[1])
        _check_point(G, g, cost, f, J, jlo, jhi, grid, bs, Y[b], wb, use_w, THETA[b], relevant[b], lo, hi, H, grad,
                     colnorm, gram[b], check[b], wk[6][0], wk[6][1], wk[6][2], mats[2],
                     ok and bound < _newton.FAST_CONDITION)
    return gram, check, relevant
