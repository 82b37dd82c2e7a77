"""Batched Levenberg–Marquardt with scaled damping and projected bounds.

All pixels iterate together; each keeps its own damping (a trust radius ``Δ``
or a damping ``λ``), its own scaling ``D`` (MINPACK's running maximum of the
Jacobian column norms) and its own convergence state, and leaves the working
set when it has converged or failed, so finished pixels stop costing work.

Why our own: scipy's ``least_squares``/MINPACK solve one problem at a time;
looping them over 10⁵ pixels is what makes HyperSpy's multifit slow. Each step
solves the damped problem ``min ||r - J δ||² + λ ||D δ||²`` through the SVD of
the scaled Jacobian (numerically as careful as MINPACK's QR, and a rejected
step is re-solved for a new ``λ`` without a new factorisation). Bounds are
handled by a projected step with an active set: a parameter at a bound whose
gradient points outward is held there for that step, and trial points are
projected onto the box, so a fit converges *to* a bound (KKT point) instead
of being clipped after the fact.

Damping. By default ``λ`` follows a trust region on the scaled step length
(Moré's form of MINPACK's ``lmder``): ``Δ`` starts at ``radius0 · ‖D θ₀‖``,
doubles after a step the linear model predicted well and halves after a
poor one, and ``λ`` is the root of ``‖z(λ)‖ = Δ``, found in a few Newton
iterations on the SVD; the Gauss–Newton step is taken as soon as it fits in
the region, so the last iterations converge like Gauss–Newton. On large-residual problems
(where ``JᵀJ`` misses ``Σ rᵢ∇²fᵢ``) Gauss–Newton overshoots a slow mode and
zig-zags, converging linearly; a Gauss–Newton step that points back along the
last accepted step is shortened to that mode's minimum (``_lm_rules.unzigzag``;
trust region only; the compiled kernel takes the same steps). A fit that walks
a degenerate valley (a parameter running off while the cost stays flat: three
windows of 50 evaluations in a row, ``_lm_rules.stalled_window``) ends early as
failed, ``Status.NO_PROGRESS``, not at ``max_nfev``. Nielsen's
``λ`` update and Transtrum & Sethna's "delayed gratification" are options.
Evidence (``benchmarks/accuracy.py --variants`` and ``--random``): on the 26
one-predictor NIST StRD problems the trust region reaches the certified
values from all 52 published starts with 1542 evaluations (Nielsen 49/52
with 2631, delayed gratification 47/52 with 3789), and from 780 random far
starts it reaches the certified minimum 700 times (Nielsen 661, delayed 638).

Geodesic acceleration (Transtrum & Sethna 2012), ``geodesic=True``: the
second directional derivative of the model along the step ``v`` costs one
extra evaluation; the acceleration ``a`` solves the damped problem for it,
the step becomes ``v + a/2``, and a step whose ``2‖a‖/‖v‖`` exceeds ``alpha``
is rejected (the damping grows). It rescues the ``λ`` updates (Nielsen 661
→ 676 random starts, 49 → 51 NIST starts) but not the trust region (700 →
694, 52 → 51: it loses MGH10 from Start 1) and costs a third more
evaluations, so it is not the default.

Accuracy. Near the minimum the stopping tests of MINPACK (relative reduction
below ``ftol``, step below ``xtol``) locate the minimum only to about the
square root of the precision of the cost: on ENSO, a large-residual problem
where Gauss–Newton converges linearly, they stop 5 digits from the certified
values. Once they hold, or once all a Gauss–Newton step could still gain is
below the rounding noise of the cost, the fit switches to undamped
Gauss–Newton steps ("polishing"), accepted unless they make the cost
measurably worse (the reduction is computed as ``Σ (r − r')(r + r')``,
without cancellation), until the steps stop shrinking or are below ``xtol``
with nothing left to gain. A polishing step longer than the trust region
means a flat valley rather than a located minimum and ends the fit. The
parameters end accurate to nearly what the data and the model evaluation
allow: 8–11 digits on every NIST problem.
"""

from __future__ import annotations

import numpy as np

from ..engines.numba import lower as _fused
from ..engines.numba import warmup as _warmup
from ..errors import OptimizerError
from ..problem.problem import Problem, relevance
from ..problem.solution import Solution, Status
from . import _lm_rules as rules
from . import _lm_steps as steps
from ._lm_steps import covariance as _covariance
from .registry import OptimizerSpec, register

__all__ = ["levenberg_marquardt"]

_DAMPING = ("trust", "nielsen", "delayed")
_KERNELS = ("auto", "numba", "numpy")


def levenberg_marquardt(
    problem: Problem,
    loss=None,
    *,
    bounded: bool = False,
    ftol: float = 1e-12,
    xtol: float = 1e-10,
    gtol: float = 0.0,
    max_nfev: int | None = None,
    damping: str = "trust",
    radius0: float = 1.0,
    lambda0: float = 1e-3,
    geodesic: bool = False,
    alpha: float = 0.75,
    kernel: str = "auto",
    tolerance: float | None = None,
    linear_start: bool = True,
    **unused,
) -> Solution:
    """Fit every pixel of ``problem`` by Levenberg–Marquardt.

    Parameters
    ----------
    problem : Problem
    bounded : bool
        Respect ``problem.lower``/``problem.upper``.
    ftol, xtol, gtol : float
        MINPACK's tolerances on relative reduction, relative (scaled) step
        and gradient. When the reduction or the step is below them, the fit
        finishes with Gauss–Newton steps (see the module docstring).
    max_nfev : int, optional
        Maximum model evaluations per pixel (default ``100 * (P + 1)``),
        the evaluations of the geodesic acceleration included.
    damping : {"trust", "nielsen", "delayed"}
        ``"trust"``: ``λ`` from a trust region on the scaled step (MINPACK).
        ``"nielsen"``: ``λ`` scaled by ``max(1/3, 1 − (2ρ − 1)³)`` after an
        accepted step and by 2, 4, 8, ... after rejected ones. ``"delayed"``:
        ``λ / 3`` after an accepted step, ``2 λ`` after a rejected one.
    radius0 : float
        Initial trust radius relative to ``‖D θ₀‖`` (``"trust"``; where
        ``θ₀ = 0`` the first radius is the Gauss–Newton step's length).
    lambda0 : float
        Initial ``λ`` relative to the largest squared singular value of the
        scaled Jacobian (``"nielsen"``, ``"delayed"``).
    geodesic : bool
        Add the geodesic acceleration to each step (one more evaluation per
        step); a step whose acceleration is too large is rejected.
    alpha : float
        Largest accepted ``2‖a‖/‖v‖`` (acceleration over velocity, scaled).
    tolerance : float, optional
        One tolerance for both tests, as Gpufit/Cpufit take one (theirs stops
        when ``|Δχ²| < tolerance·χ²``, default 1e-4): sets ``ftol`` and
        ``xtol`` to it. ``tolerance=1e-4`` matches Cpufit's stopping point
        (``benchmarks/cpufit.py``): about half the evaluations of the
        defaults; the answers move by a small fraction of a standard error
        (median ~1 % on Gpufit's problems) — less polished, not less converged.
    linear_start : bool
        Compiled kernel only: once, at the start, move the parameters the
        model is affine in (amplitudes, offsets, polynomial coefficients) to
        their linear least-squares optimum at the starting non-linear values
        (:mod:`swiftfit.engines.numba.linear_start`), where that removes more
        than 80 % of ``χ²`` and moves some linear value by more than 10×
        (amplitudes started far off then cost one evaluation, not a walk of
        damped steps); models with an Expression are left out. ``False``
        runs the plain iteration (the NumPy code here always does, so a
        pixel fitted on the NumPy path — ``kernel="numpy"``, or the first
        fits while the kernel compiles — starts from the given values).
    kernel : {"auto", "numba", "numpy"}
        ``"auto"``: the compiled fused kernel (:mod:`._fused`) when numba is
        installed and the problem allows it (components that declare a
        compiled form — every built-in but ScalableFixedPattern — least
        squares, no bounds, default damping), else this
        NumPy code, which is
        the reference the fast path is tested against. ``"numba"`` insists
        on the kernel (an error says why it cannot), ``"numpy"`` refuses it.
        A problem that asks for it (``problem.prefer_varpro``: an EELS
        model's) runs variable projection under ``"auto"`` where that applies
        (:mod:`.varpro`); ``"numpy"`` keeps it on this code.

    Returns
    -------
    Solution
    """
    if unused:
        raise OptimizerError(f"optimizer 'lm' got unknown options {sorted(unused)}")
    if tolerance is not None:
        if not (isinstance(tolerance, (int, float, np.floating)) and 0 < tolerance < 1):
            raise OptimizerError(f"`tolerance` must be a number in (0, 1), got {tolerance!r}")
        ftol = xtol = float(tolerance)
    if damping not in _DAMPING:
        raise OptimizerError(f"`damping` must be one of {_DAMPING}, got {damping!r}")
    if kernel not in _KERNELS:
        raise OptimizerError(f"`kernel` must be one of {_KERNELS}, got {kernel!r}")
    if kernel == "auto" and getattr(problem, "prefer_varpro", False):
        # a model that asks for it (EELS) and is separable: variable projection
        from .varpro import try_varpro

        sol = try_varpro(problem, loss, bounded=bounded, ftol=ftol, xtol=xtol, max_nfev=max_nfev)
        if sol is not None:
            return sol
    if kernel != "numpy":
        low = None
        if _fused.available() and damping == "trust" and not geodesic and gtol == 0:
            low = _fused.lower(problem, loss, bounded)
        # on a fresh install the kernel compiles in a background process; until
        # it is cached, "auto" fits here on the NumPy path (engines/numba/warmup.py)
        if low is not None and _warmup.ready(wait=kernel == "numba", low=low):
            return _fused.fused_lm(problem, low, ftol=ftol, xtol=xtol, max_nfev=max_nfev, radius0=radius0,
                                   linear_start=bool(linear_start))
        if kernel == "numba":
            why = _fused.why_not(problem, loss, bounded) if _fused.available() else "numba is not installed"
            raise OptimizerError(
                "kernel='numba' needs numba installed, damping='trust', no geodesic acceleration, gtol=0 "
                "and a problem whose components declare a compiled form, fitted by least squares "
                f"without bounds, PSF or expr ties; here: {why or 'damping, geodesic or gtol'}"
            )
    B, P, N = problem.B, problem.P, problem.N
    lo, hi, max_nfev, theta, status, nfev, njev, nit = steps.start(problem, bounded, max_nfev)
    r = problem.residuals(theta)
    cost = np.einsum("bn,bn->b", r, r)
    status[~np.isfinite(cost)] = Status.NONFINITE
    if P == 0:
        status[status == Status.NOT_FITTED] = Status.CLOSED_FORM
        return Solution(theta, status, nfev, cost, np.zeros((B, 0, 0)), njev, nit)
    rel = relevance(problem, theta)
    yw = steps.scales(problem)

    lam = np.full(B, np.nan)
    nu = np.full(B, 2.0)
    radius = np.full(B, np.nan)
    D = np.zeros((B, P))
    # cached factorisation per pixel, refreshed when the pixel's theta moves:
    # J D⁻¹ = U diag(S) Vt and C = Uᵀ r; the steps need only these (P-sized)
    # arrays, U itself is kept for the geodesic acceleration alone
    U = np.zeros((B, N, P) if geodesic else (B, 0, P))
    S = np.zeros((B, P))
    Vt = np.zeros((B, P, P))
    C = np.zeros((B, P))
    Dn = np.ones((B, P))
    frozen = np.zeros((B, P), dtype=bool)
    noise = np.zeros(B)  # rounding noise of a change of the cost
    stale = np.ones(B, dtype=bool)
    # polishing: undamped Gauss-Newton steps once the minimum is located
    polish = np.zeros(B, dtype=bool)
    zlast = np.full(B, np.inf)  # length of the previous polishing step
    located = np.zeros(B, dtype=int)  # polishing steps taken below xtol
    code = np.zeros(B, dtype=int)  # status to report when polishing ends
    # the last accepted step (unscaled; 0: none), for the zig-zag correction
    # of Gauss–Newton steps (rules.unzigzag; the trust region's, as the kernel)
    prev = np.zeros((B, P))
    # the stall test (rules.stalled_window): the cost and theta at the last look
    # back, the evaluation count of the next one, and the stalled windows in a row
    cost_ref = cost.copy()
    theta_ref = theta.copy()
    check_at = np.full(B, rules.STALL_EVALS)
    stalls = np.zeros(B, dtype=int)

    def start_polish(rows, f_ok, x_ok):
        code[rows] = rules.polish_code(f_ok, x_ok)
        polish[rows] = True
        zlast[rows] = np.inf

    while True:
        idx = np.flatnonzero(status == Status.NOT_FITTED)
        if idx.size == 0:
            break
        # --- refresh Jacobians where theta moved
        need = idx[stale[idx]]
        if need.size:
            J = steps.weighted_jacobian(problem.take(need), theta[need])
            njev[need] += 1
            bad = ~np.isfinite(J).all(axis=(1, 2))
            status[need[bad]] = Status.NONFINITE
            J[bad] = 0.0
            g = np.einsum("bnp,bn->bp", J, r[need])
            frz = ((theta[need] <= lo) & (g < 0)) | ((theta[need] >= hi) & (g > 0)) | ~rel[need]
            norms = np.sqrt(np.einsum("bnp,bnp->bp", J, J))
            D[need] = np.maximum(D[need], norms)
            u, s, vt, dn, c = steps.factorize(J, D[need], frz, r[need], need_u=geodesic)
            S[need], Vt[need], C[need], Dn[need], frozen[need] = s, vt, c, dn, frz
            if geodesic:
                U[need] = u
            first = np.isnan(lam[need])
            lam[need[first]] = lambda0 * np.maximum(s[first, 0] ** 2, np.finfo(float).tiny)
            xn = np.linalg.norm(dn * theta[need], axis=1)
            noise[need] = steps.cost_noise(r[need], yw[need])
            # gradient test on the free (not frozen) columns, MINPACK's gnorm
            hit = rules.gradient_test(g, norms, cost[need], frz, gtol)
            status[need[hit & (status[need] == Status.NOT_FITTED)]] = Status.GTOL
            # the Gauss-Newton step from here: below xtol, or gaining less than
            # ftol (or than rounding), it starts (or ends) the polishing
            zgn, gain = steps.gauss_newton(c, s, vt, N)
            zn = np.linalg.norm(zgn, axis=1)
            # the first trust radius: radius0 ‖D θ₀‖, or the Gauss-Newton step at θ₀ = 0
            fresh = np.isnan(radius[need])
            radius[need[fresh]] = rules.first_radius(xn, zn, radius0)[fresh]
            x_ok, f_ok = rules.point_tests(zn, gain, xn, cost[need], noise[need], ftol, xtol)
            new = (x_ok | f_ok) & (status[need] == Status.NOT_FITTED) & ~polish[need]
            start_polish(need[new], f_ok[new], x_ok[new])
            # polishing ends when the steps stop shrinking (rounding), or when the
            # step is below xtol and gains less than ftol or has done so 3 times
            located[need] += polish[need] & x_ok
            ends = rules.polish_ends(x_ok, gain, cost[need], ftol, located[need], zn, zlast[need])
            stalled = polish[need] & ends & (status[need] == Status.NOT_FITTED)
            status[need[stalled]] = code[need[stalled]]
            stale[need] = False
            idx = np.flatnonzero(status == Status.NOT_FITTED)
            if idx.size == 0:
                break
        # --- one trial step per pixel
        pol = polish[idx]
        if damping == "trust":
            lam[idx] = steps.trust_lambda(C[idx], S[idx], radius[idx], lam[idx], N)
        lam_step = np.where(pol, 0.0, lam[idx])
        z = steps.damped(C[idx], S[idx], Vt[idx], lam_step, N)
        # a polishing step must stay small (in the trust region): a long one
        # means a flat valley, not a located minimum, and the fit ends there
        cap = radius[idx] if damping == "trust" else 0.1 * np.linalg.norm(Dn[idx] * theta[idx], axis=1)
        bail = pol & (np.linalg.norm(z, axis=1) > cap)
        if bail.any():
            status[idx[bail]] = code[idx[bail]]
            keep = ~bail
            idx, pol, lam_step, z = idx[keep], pol[keep], lam_step[keep], z[keep]
            if idx.size == 0:
                continue
        if damping == "trust" and not geodesic:
            gn = lam_step == 0
            z[gn] = rules.unzigzag(z[gn], prev[idx[gn]], Dn[idx[gn]])
        sub = problem.take(idx)
        v = np.where(frozen[idx], 0.0, z / Dn[idx])
        acc = np.zeros_like(v)
        veto = np.zeros(idx.size, dtype=bool)
        if geodesic:
            rows = np.flatnonzero(~pol & ((theta[idx] + v >= lo) & (theta[idx] + v <= hi)).all(axis=1))
            if rows.size:
                sel = idx[rows]
                a, ratio = steps.acceleration(sub.take(rows), theta[sel], r[sel], v[rows], U[sel], S[sel],
                                              Vt[sel], Dn[sel], frozen[sel], lam_step[rows])
                nfev[sel] += 1
                good = ratio <= alpha
                acc[rows[good]] = a[good]
                veto[rows[~good]] = True
        want = theta[idx] + v + 0.5 * acc
        trial = np.clip(want, lo, hi)
        step = trial - theta[idx]
        # predicted reduction of the linear model along the velocity (the
        # acceleration only corrects for the curvature of the model)
        lin = np.where((acc.any(axis=1) & (trial == want).all(axis=1))[:, None], v, step)
        pred = steps.predicted(C[idx], S[idx], Vt[idx], Dn[idx], lin)
        r_new = sub.residuals(trial)
        nfev[idx] += 1
        nit[idx] += 1
        cost_new = np.einsum("bn,bn->b", r_new, r_new)
        finite = np.isfinite(cost_new)
        with np.errstate(invalid="ignore", over="ignore"):  # the reduction, without cancellation
            actual = np.einsum("bn,bn->b", r[idx] - r_new, r[idx] + r_new)
        actual = np.where(finite, actual, -np.inf)
        rho = rules.gain_ratio(actual, pred)
        nz = noise[idx]
        accept = rules.accepted(rho, finite, pol, actual, nz, veto)
        pn = np.linalg.norm(Dn[idx] * step, axis=1)
        # --- damping update (not while polishing)
        if damping == "trust":
            rad = rules.trust_radius(radius[idx], pn, rho, lam_step, nit[idx] == 1, veto)
            radius[idx] = np.where(pol, radius[idx], rad)
        elif damping == "nielsen":
            new_lam, new_nu = rules.nielsen(lam[idx], nu[idx], rho, accept)
            lam[idx] = np.where(pol, lam[idx], new_lam)
            nu[idx] = np.where(pol, nu[idx], new_nu)
        else:  # delayed gratification: lower fast, raise slowly
            lam[idx] = np.where(pol, lam[idx], rules.delayed(lam[idx], accept))
        # --- convergence tests on this trial (MINPACK's, relative to the current cost)
        xnorm = np.linalg.norm(Dn[idx] * theta[idx], axis=1)
        f_ok, x_ok = rules.step_tests(actual, pred, rho, cost[idx], nz, pn, xnorm, ftol, xtol)
        acc_idx = idx[accept]
        prev[acc_idx] = step[accept]
        theta[acc_idx] = trial[accept]
        r[acc_idx] = r_new[accept]
        cost[acc_idx] = cost_new[accept]
        stale[acc_idx] = True
        # a polishing step ends the fit when it was refused
        zlast[idx] = np.where(pol, np.linalg.norm(z, axis=1), zlast[idx])
        done = pol & ~accept
        status[idx[done]] = code[idx[done]]
        new = ~pol & (f_ok | x_ok)
        start_polish(idx[new], f_ok[new], x_ok[new])
        # every STALL_EVALS evaluations: a degenerate walk (not while polishing)
        due = idx[(status[idx] == Status.NOT_FITTED) & (nfev[idx] >= check_at[idx])]
        if due.size:
            win = rules.stalled_window(cost_ref[due], cost[due], theta_ref[due], theta[due]) & ~polish[due]
            stalls[due] = np.where(win, stalls[due] + 1, 0)
            cost_ref[due], theta_ref[due] = cost[due], theta[due]
            check_at[due] = nfev[due] + rules.STALL_EVALS
            status[due[stalls[due] >= rules.STALL_WINDOWS]] = Status.NO_PROGRESS
        over = (status[idx] == Status.NOT_FITTED) & (nfev[idx] >= max_nfev)
        status[idx[over]] = Status.MAX_NFEV

    # one Jacobian at the answer serves the covariance and the verification's checks
    # (problem.verify's `checks`: the write-back evaluates nothing again), and χ² is the cost
    Jw, checks = steps.answer_checks(problem, theta, r, rel)
    cov = _covariance(problem, theta, rel, Jw)
    singular = np.isnan(cov).all(axis=(1, 2)) & (status > 0) & rel.any(axis=1)
    status[singular] = Status.SINGULAR
    return Solution(theta, status, nfev, cost, cov, njev, nit, info={"chisq": cost.copy(), "checks": checks})


def solve_lm(problem: Problem, loss=None, *, bounded: bool = False, **options) -> Solution:
    """``"lm"``: least squares on the residuals; for ``ML-poisson`` and
    ``huber`` the same damped Gauss–Newton idea on the loss itself (Fisher
    scoring / iteratively reweighted least squares, :mod:`.damped_newton`).
    """
    if loss is None or loss.name == "ls":
        return levenberg_marquardt(problem, loss, bounded=bounded, **options)
    from .damped_newton import damped_newton

    # "auto"/"numba": the compiled twin of damped_newton where the problem lowers
    kernel = options.pop("kernel", "auto")
    if kernel not in _KERNELS:
        raise OptimizerError(f"`kernel` must be one of {_KERNELS}, got {kernel!r}")
    if kernel != "numpy" and _fused.available():
        low = _fused.lower(problem, loss, bounded)
        unused = set(options) - {"xtol", "dtol", "max_nfev", "lambda0"}
        # as for least squares: on a fresh install the Poisson/Huber kernel compiles in
        # a background process when first asked for, and "auto" fits here on NumPy meanwhile
        if low is not None and not unused and _warmup.ready(wait=kernel == "numba", low=low, family="newton"):
            return _fused.fused_newton(problem, low, loss, **options)
    if kernel == "numba":
        why = _fused.why_not(problem, loss, bounded) if _fused.available() else "numba is not installed"
        raise OptimizerError(f"kernel='numba' cannot run loss_function={loss.name!r} here: {why or 'options'}")
    return damped_newton(problem, loss, bounded=bounded, **options)


register(
    OptimizerSpec(
        name="lm",
        solve=solve_lm,
        bounds=True,
        gradients=True,
        errors=True,
        losses=frozenset({"ls", "ML-poisson", "huber"}),
        batched=True,
        description="batched Levenberg–Marquardt (swiftfit)",
        aliases=("leastsq",),
    )
)
