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

Where the pieces are: the loop over a run of pixels (:func:`_fit_rows`)
here; the threads and their work buffers (``fit_block``, ``fit_pixels``) in
:mod:`.driver`; the step's linear algebra (Cholesky solves, the
trust-region step, the covariance) in :mod:`.lm_linalg`; the scalar step
rules in :mod:`.lm_rules`; the end-of-fit check and the work arrays in
:mod:`.endcheck`; one evaluation or check at given parameters for the tests
and the verification in :mod:`.probe`.

Why hand-written: numba compiles this once (cached on disk) and then a
pixel's iteration costs a few microseconds; NumPy batching spends most of
its time in temporaries of shape ``(B, N, P)`` and in per-call overhead.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import newton as _newton
from . import svd as _svd
from .endcheck import _check_point, _check_ready
from .expr_gram import evaluate_gram as _evaluate_gram
from .expr_gram import fusable as _fusable
from .gram import gram_grid as _gram
from .kernel_at import reduction_at as _reduction_at  # by buffer index: no views' refcounts (kernel_at)
from .lm_linalg import _cov_core, _cov_reuse, _gn_factor, _linear_step, _norm, _scale, _trust_step
from .lm_rules import (
    NO_PROGRESS,
    STALL_EVALS,
    STALL_WINDOWS,
    _accept,
    _gain_ratio,
    _point_tests,
    _polish_code,
    _polish_ends,
    _radius_update,
    _settled,
    _stalled_window,
    _step_tests,
    _unzigzag,
)
from .model import CLAIM_MIN as _CLAIM_MIN
from .model import _evaluate_claimed
from .model import evaluate as _evaluate
from .model import mark_relevant as _mark_relevant
from .psf import PLAIN_TABLES as _PLAIN_TABLES
from .psf import convolved as _convolved  # model.evaluate through a PSF operator (psf.py)
from .roi2d import covers as _roi_covers
from .roi2d import evaluate_gram_at as _roi_gram  # the same, with JᵀJ and Jᵀr in its residuals' pass
from .roi2d import evaluate_residuals as _roi_evaluate  # one unrotated Gaussian2D (+ Offset) on a small ROI, one pass
from .roi2d import fits as _roi_fits

_EPS = np.finfo(np.float64).eps
# the linear projection's second test (see _fit_rows): some linear value moves
# by more than this factor (or changes sign). 10: an order of magnitude off
LINEAR_FACTOR = 10.0
NEEDS_REFERENCE = 99  # status of a pixel handed back to the NumPy reference (no longer produced)


@njit(cache=True, error_model="numpy", _nrt=False)
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
    arrays in ``wk`` (see :func:`.endcheck._work`): a fit allocates nothing, which
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
    # a raster with flat column ranges and no tie table: roi2d.fits is asked per pixel, roi2d.covers per evaluation
    roi = grid[0] > 0 and grid[6] <= 0 and ex[7].shape[0] == 0
    PT = Jb.shape[1] - 1  # the Jacobian's rows less the scratch row (P, plus the ties')
    # 1-D, no ties, from CLAIM_MIN channels: what model.evaluate hands to _evaluate_claimed
    claimed = ex[7].shape[0] == 0 and xy.size == 0 and N >= _CLAIM_MIN
    # one Expression owning every column (expr_gram), or a roi2d pixel: the evaluation also
    # sums JᵀJ and Jᵀr; Gf[k], gf[k] are those of buffer k, valid while fresh[k]
    Gf = np.empty((2, P, P))
    gf = np.empty((2, P))
    fresh = np.zeros(2, dtype=np.bool_)
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
        roi_px = roi and _roi_fits(kinds, qoff, nq, active, col, grid, PT, N)
        fused = (claimed and len(ex) <= _PLAIN_TABLES and not roi_px
                 and _fusable(kinds, qoff, nq, active, col, ex, P, N, x, bs, R))
        fresh[0] = False
        fresh[1] = False

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
        elif roi_px and _roi_covers(q, qoff, grid, N):
            # one unrotated Gaussian2D (+ Offset) on a small raster in one pass (roi2d: bit for bit the same),
            # JᵀJ and Jᵀr summed in its residuals' pass
            cost, noise_sum, fresh[cur] = _roi_gram(kinds, qoff, q, col, x, xy, grid, bs, y, w, use_w, fb, Jb, jlob,
                                                    jhib, rb, cur, R, PT, Gf, gf)
        elif fused:
            cost, noise_sum = _evaluate_gram(x, bs, y, w, use_w, qoff, nq, q, col, fb[cur], rb[cur], Jb[cur],
                                             jlob[cur], jhib[cur], ex, R, Gf[cur], gf[cur])
            fresh[cur] = True
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
        xn = 0.0
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
        factored = False
        while status == 0:
            if stale:
                stale = False
                factored = False
                if fresh[cur]:  # summed by the evaluation (expr_gram, roi2d)
                    for i in range(P):
                        g[i] = gf[cur, i]
                        for j in range(P):
                            G[i, j] = Gf[cur, i, j]
                else:
                    _gram(Jb[cur], jlob[cur], jhib[cur], grid, rb[cur], G, g)
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
                _scale(G, g, Dn, act, Gs, gs)  # Gs = Dn⁻¹ G Dn⁻¹, gs = Dn⁻¹ g over the act columns
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
                        elif roi_px and _roi_covers(q, qoff, grid, N):
                            # one unrotated Gaussian2D (+ Offset) on a small raster in one pass (roi2d: bit for bit the same)
                            cost_new, noise_new = _roi_evaluate(kinds, qoff, q, col, x, xy, grid, bs, y, w, use_w,
                                                                fb[nxt], Jb[nxt], jlob[nxt], jhib[nxt], rb[nxt], R, PT)
                        else:
                            cost_new, noise_new = _evaluate(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff,
                                                            nq, active, q, col, fb[nxt], rb[nxt], Jb[nxt], jlob[nxt],
                                                            jhib[nxt], ex, R)
                        fresh[nxt] = False
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
                # Cholesky, its inverse M (in H) for the conditioning test, and the undamped step
                gain = _gn_factor(Gs, gs, act, L, H, colv, tmp, e, zgn)
                svd = gain < 0.0
                factored = not svd  # H holds L⁻¹ at this point (_cov_reuse at the end)
                if svd:
                    # a rank-deficient or badly conditioned Jacobian: the
                    # reference's SVD of J D⁻¹ (QR + Jacobi), here in the kernel
                    _svd.factor(Jb[cur], jlob[cur], jhib[cur], rb[cur], Dn, act, A, qtr, Rt, vt, sv, cv)
                    nsvd += 1
                    gain = _svd.gauss_newton(sv, vt, cv, N, zgn)
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
            fresh[nxt] = fused
            if len(ex) > _PLAIN_TABLES:  # a PSF operator: a constant when compiled (psf.convolved)
                cost_new, noise_new = _convolved(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active,
                                                 q, col, fb[nxt], rb[nxt], Jb[nxt], jlob[nxt], jhib[nxt], ex, R)
            elif roi_px and _roi_covers(q, qoff, grid, N):
                # one unrotated Gaussian2D (+ Offset) on a small raster in one pass (roi2d: bit for bit the same),
                # JᵀJ and Jᵀr summed in its residuals' pass (issue 16, Cpufit 5×5)
                cost_new, noise_new, fresh[nxt] = _roi_gram(kinds, qoff, q, col, x, xy, grid, bs, y, w, use_w, fb, Jb,
                                                            jlob, jhib, rb, nxt, R, PT, Gf, gf)
            elif fused:
                # the evaluation and, in its last pass, JᵀJ and Jᵀr (expr_gram; issue 16, multiexp)
                cost_new, noise_new = _evaluate_gram(x, bs, y, w, use_w, qoff, nq, q, col, fb[nxt], rb[nxt], Jb[nxt],
                                                     jlob[nxt], jhib[nxt], ex, R, Gf[nxt], gf[nxt])
            elif claimed:
                # model.evaluate's branch for these problems, called directly: one call level
                # less (its ~35 arrays' passing, ~0.2 µs per evaluation; issue 16, multiexp)
                cost_new, noise_new = _evaluate_claimed(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq,
                                                        active, q, col, fb[nxt], rb[nxt], Jb[nxt], jlob[nxt],
                                                        jhib[nxt], ex, R)
            else:
                cost_new, noise_new = _evaluate(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q,
                                                col, fb[nxt], rb[nxt], Jb[nxt], jlob[nxt], jhib[nxt], ex, R)
            nfev += 1
            njev += 1
            nit += 1
            finite = math.isfinite(cost_new)
            actual = -np.inf
            if finite:
                # from the costs where that decides every test as the residuals' sum would (_settled)
                actual = cost - cost_new
                if not _settled(actual, cost, cost_new, pred, noise, ftol, rb.shape[1]):
                    actual = _reduction_at(rb, cur, nxt)
            rho = _gain_ratio(actual, pred)
            accept = _accept(finite, rho, polish, actual, noise)
            # ‖z‖ (projected: bounded) and ‖Dn θ‖, the new point's xn (Dn, θ move only there): the same sums
            pn = _norm(z) if bounded else zlen
            if not polish:
                delta = _radius_update(delta, pn, rho, lam_step, nit == 1)
            f_ok, x_ok = _step_tests(actual, pred, rho, cost, noise, pn, xn, ftol, xtol)
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
            if stale and fresh[cur]:  # summed by the evaluation (expr_gram, roi2d)
                for i in range(P):
                    g[i] = gf[cur, i]
                    for j in range(P):
                        G[i, j] = Gf[cur, i, j]
            elif stale:  # G is already the Gram matrix at theta unless a step was just accepted
                _gram(Jb[cur], jlob[cur], jhib[cur], grid, rb[cur], G, g)
            # the last iteration factored G at this point over these columns: its L⁻¹ (in H) gives
            # the covariance and the Newton check's inverse, no second Cholesky (issue 16, 5×5)
            reuse = factored and not stale
            for j in range(P):
                reuse = reuse and act[j] == rel[j]
            ok = False
            bound = np.inf
            if reuse:
                ok, bound = _cov_reuse(G, rel, Dn, H, out_cov, L, colv)
            if not ok:
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
            pre_ok = ok and bound < _newton.FAST_CONDITION
            # _check_point's common case called here, one call level less (issue 16, 5×5); where it
            # declines (a bound crossed, a non-finite entry), _check_point's general check
            if not (pre_ok and grid[6] <= 0 and not use_w
                    and _check_ready(G, g, cost, fb[cur], bs, y, theta, rel, lo, hi, out_gram, out_check, L, gw[1])):
                _check_point(G, g, cost, fb[cur], Jb[cur], jlob[cur], jhib[cur], grid, bs, y, w, use_w, theta, rel,
                             lo, hi, H, grad, colnorm, out_gram, out_check, gw[0], gw[1], gw[2], L, pre_ok)
        status_out[b] = status
        nfev_out[b] = nfev
        njev_out[b] = njev
        nit_out[b] = nit
        cost_out[b] = cost
        nsvd_out[b] = nsvd
