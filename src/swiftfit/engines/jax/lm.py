"""Batched Levenberg–Marquardt in JAX (``backend="jax"``).

The algorithm is that of the NumPy reference (:mod:`swiftfit.optimizers.lm`,
default ``damping="trust"``), with its step logic — radius update, gain ratio
and acceptance, convergence and polishing tests — from the same functions
(:mod:`swiftfit.optimizers._lm_rules`, called with ``xp=jax.numpy``): Moré's trust region on the scaled step, with
MINPACK's running column scaling ``D``, its stopping tests (relative
reduction below ``ftol``, scaled step below ``xtol``, gradient cosine below
``gtol``), a projected step with an active set for bounds, and, once a test
holds, undamped Gauss–Newton "polishing" steps until they stop shrinking or
are below ``xtol`` with nothing left to gain, and a Gauss–Newton step that
zig-zags against the last accepted one shortened (``rules.unzigzag``) -- so both engines end at the
minimum to nearly the precision of the cost, and agree there to ~1e-10 and
better. Status codes are those of :data:`~swiftfit.problem.solution.STATUS_MESSAGES`
(1, 2, 3, 4 converged; -1 evaluation limit; -2 non-finite; -3 singular).

JAX form. The iteration is written for one pixel and ``jax.vmap``-ed over
the chunk; the ``lax.while_loop`` then runs until every pixel has stopped,
each pixel keeping its own damping and its own convergence state (a stopped
pixel's state no longer changes). Each trial point is evaluated together
with its Jacobian (``jax.jacfwd``, forward-mode autodiff: the model and its
``P`` tangents in one pass), which becomes the next Jacobian if the step is
accepted. The damped steps come from the eigen-decomposition of the scaled
``P×P`` Gram matrix (the NumPy engine does the same when the scaled Jacobian
has a condition number below 1e5, and an SVD otherwise; here always the
Gram matrix: for worse-conditioned pixels the steps are less accurate but
the point converged to is the same). The covariance ``(JᵀWJ)⁻¹`` at the end
comes from an SVD of the weighted Jacobian over the relevant columns, with
the NumPy engine's rank test (NaN and status -3 where singular).

Compilation. One jitted function per problem structure (components, ties,
segments; see :func:`~.jax_problem.lower_problem`), bounds flag and dtype,
cached; jax re-traces it per input shape. To keep shapes few, a batch is
padded (with copies of its first pixel) to the size of a batch already
compiled for that structure when that wastes at most half of it (the last,
smaller chunk of a multifit reuses the full chunks' compilation) or when the
compiled size is at most 64 pixels (a single-pixel ``fit`` after a small
multifit: running 64 pixels costs far less than compiling), else compiled
at its own size. Bounds are arguments, so bounded and unbounded fits share
a compilation.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from ...errors import OptimizerError
from ...optimizers import _lm_rules as rules
from ...optimizers import _lm_steps as steps
from ...problem.problem import Problem, relevance
from ...problem.solution import Solution, Status
from .. import check_dtype, enable_jax
from .problem import NotLowerable, lower_problem

__all__ = ["jax_levenberg_marquardt", "jax_spec"]

_log = logging.getLogger("swiftfit")
_OPTIONS = ("ftol", "xtol", "gtol", "max_nfev", "radius0")
_CACHE: dict = {}
_SIZES: dict = {}  # structure key -> batch sizes compiled so far
_SMALL = 64  # a batch is padded up to this many pixels rather than compiled anew


def _rcond(dtype) -> float:
    # the NumPy engine's rank cut (1e-13, ~450 ulps) scaled to the precision
    return 1e-13 if dtype == "float64" else 450 * float(np.finfo(np.float32).eps)


def _build(low, dtype: str):
    """The jitted solver of one structure: ``run(batch, consts, lo, hi, settings)``."""
    import jax
    import jax.numpy as jnp

    dt = jnp.float64 if dtype == "float64" else jnp.float32
    eps = float(np.finfo(dtype).eps)
    rcond = _rcond(dtype)
    model = low.model

    def pixel(p0, data, w, fixed, active, rel, consts, lo, hi, settings):
        ftol, xtol, gtol, max_nfev, radius0 = settings
        N, P = data.shape[0], p0.shape[0]
        cut = rcond * max(N, P)
        yw = jnp.abs(data) * w

        def fjac(theta):
            def f(t):
                m = model(t, fixed, active, consts)
                return m, m

            J, m = jax.jacfwd(f, has_aux=True)(theta)
            return (data - m) * w, J * w[:, None]

        def kept(s):
            return s > cut * s[0]

        def factorize(J, Dn, frozen):
            G = (J.T @ J) / (Dn[:, None] * Dn[None, :])
            live = ~frozen
            G = jnp.where(live[:, None] & live[None, :], G, 0.0)
            ev, V = jnp.linalg.eigh(G)
            ev, V = ev[::-1], V[:, ::-1]
            s = jnp.sqrt(jnp.clip(ev, 0.0, None))
            return s, V.T

        def solve_parts(J, r, Dn, frozen, s, Vt):
            g = jnp.where(frozen, 0.0, (J.T @ r) / Dn)
            return jnp.where(s > 0, (Vt @ g) / jnp.where(s > 0, s, 1.0), 0.0)

        def gauss_newton(c, s, Vt):
            # the very expression of damped(..., lam=0): a polishing step and
            # the step tested at the next point must compare exactly
            k = kept(s)
            cg = jnp.where(k, c, 0.0)
            return damped(c, s, Vt, jnp.zeros((), s.dtype)), jnp.sum(cg * cg)

        def damped(c, s, Vt, lam):
            k = kept(s)
            filt = jnp.where(lam > 0, s / (s * s + lam), jnp.where(k, 1.0 / jnp.where(k, s, 1.0), 0.0))
            return Vt.T @ (filt * c)

        def predicted(c, s, Vt, Dn, step):
            wv = s * (Vt @ (Dn * step))
            return jnp.sum(wv * (2 * c - wv))

        def trust_lambda(c, s, delta, lam0):
            k = kept(s)
            sc2 = jnp.where(k, s * c, 0.0) ** 2
            s2 = jnp.where(k, s * s, 0.0)
            n0 = jnp.sqrt(jnp.sum(jnp.where(k, c * c / jnp.where(k, s2, 1.0), 0.0)))
            upper = jnp.sqrt(jnp.sum(sc2)) / delta
            floor = 1e-15 * upper
            lam = jnp.clip(jnp.where(jnp.isfinite(lam0) & (lam0 > 0), lam0, 1e-3 * upper), floor, upper)
            def newton(_, lam):
                d = s2 + lam
                n = jnp.sqrt(jnp.sum(sc2 / d**2))
                dn = -jnp.sum(sc2 / d**3) / n
                return jnp.clip(jnp.nan_to_num(lam + (n / dn) * (delta - n) / delta, nan=upper), floor, upper)

            lam = jax.lax.fori_loop(0, 12, newton, lam)  # a loop, not 12 unrolled copies: faster to compile
            return jnp.nan_to_num(jnp.where(n0 <= 1.1 * delta, 0.0, lam), nan=0.0, posinf=0.0)

        def noise_of(r):
            return 8 * eps * jnp.sqrt(jnp.sum((r * (2 * yw + jnp.abs(r))) ** 2))

        theta0 = jnp.clip(p0, lo, hi)
        r0, J0 = fjac(theta0)
        cost0 = jnp.sum(r0 * r0)
        zero = jnp.zeros((), dt)
        state = dict(
            theta=theta0, r=r0, J=J0, cost=cost0,
            status=jnp.where(jnp.isfinite(cost0), 0, -2).astype(jnp.int32),
            nfev=jnp.ones((), jnp.int32), nit=jnp.zeros((), jnp.int32),
            fresh=jnp.ones((), bool), D=jnp.zeros((P,), dt), Dn=jnp.ones((P,), dt),
            frozen=jnp.zeros((P,), bool), s=jnp.zeros((P,), dt), Vt=jnp.eye(P, dtype=dt),
            c=jnp.zeros((P,), dt), lam=zero + jnp.nan, radius=zero + jnp.nan, noise=zero,
            polish=jnp.zeros((), bool), zlast=zero + jnp.inf, located=jnp.zeros((), jnp.int32),
            code=jnp.zeros((), jnp.int32), prev=jnp.zeros((P,), dt),
            # the stall test (rules.stalled_window): the cost and theta at the last
            # look back, the evaluation count of the next one, stalled windows in a row
            cost_ref=cost0, theta_ref=theta0, check_at=jnp.full((), rules.STALL_EVALS, jnp.int32),
            stalls=jnp.zeros((), jnp.int32),
        )

        def at_fresh_point(st):
            """Factorise at a new point; the stopping and polishing tests there."""
            theta, r, J, cost = st["theta"], st["r"], st["J"], st["cost"]
            bad = ~jnp.all(jnp.isfinite(J))
            J = jnp.where(bad, 0.0, J)
            status = jnp.where(bad & (st["status"] == 0), -2, st["status"])
            g = J.T @ r
            frz = ((theta <= lo) & (g < 0)) | ((theta >= hi) & (g > 0)) | ~rel
            norms = jnp.sqrt(jnp.sum(J * J, axis=0))
            D = jnp.maximum(st["D"], norms)
            Dn = jnp.where(D > 0, D, 1.0)
            s, Vt = factorize(J, Dn, frz)
            c = solve_parts(J, r, Dn, frz, s, Vt)
            lam = jnp.where(jnp.isnan(st["lam"]), 1e-3 * jnp.maximum(s[0] ** 2, np.finfo(dtype).tiny), st["lam"])
            xn = jnp.sqrt(jnp.sum((Dn * theta) ** 2))
            noise = noise_of(r)
            hit = rules.gradient_test(g, norms, cost, frz, gtol, xp=jnp)
            status = jnp.where(hit & (status == 0), 4, status)
            zgn, gain = gauss_newton(c, s, Vt)
            zn = jnp.sqrt(jnp.sum(zgn * zgn))
            radius = jnp.where(jnp.isnan(st["radius"]), rules.first_radius(xn, zn, radius0, xp=jnp), st["radius"])
            x_ok, f_ok = rules.point_tests(zn, gain, xn, cost, noise, ftol, xtol, xp=jnp)
            polish, code, zlast = st["polish"], st["code"], st["zlast"]
            new = (x_ok | f_ok) & (status == 0) & ~polish
            code = jnp.where(new, rules.polish_code(f_ok, x_ok, xp=jnp), code)
            zlast = jnp.where(new, jnp.inf, zlast)
            polish = polish | new
            located = st["located"] + (polish & x_ok)
            stalled = polish & rules.polish_ends(x_ok, gain, cost, ftol, located, zn, zlast) & (status == 0)
            status = jnp.where(stalled, code, status)
            return dict(st, J=J, status=status, frozen=frz, D=D, Dn=Dn, s=s, Vt=Vt, c=c, lam=lam, noise=noise,
                        radius=radius, polish=polish, code=code, zlast=zlast, located=located)

        def body(st):
            st = jax.tree_util.tree_map(lambda a, b: jnp.where(st["fresh"], a, b), at_fresh_point(st), st)
            st = dict(st, fresh=jnp.zeros((), bool))
            run = st["status"] == 0
            theta, r, cost, Dn, s, Vt, c = st["theta"], st["r"], st["cost"], st["Dn"], st["s"], st["Vt"], st["c"]
            pol = st["polish"]
            lam = trust_lambda(c, s, st["radius"], st["lam"])
            lam_step = jnp.where(pol, 0.0, lam)
            z = damped(c, s, Vt, lam_step)
            znorm = jnp.sqrt(jnp.sum(z * z))
            bail = run & pol & (znorm > st["radius"])
            go = run & ~bail
            # a Gauss–Newton step that zig-zags against the last accepted one is
            # shortened (rules.unzigzag: as the NumPy reference and the kernel)
            z = jnp.where(lam_step == 0, rules.unzigzag(z, st["prev"], Dn, xp=jnp), z)
            znorm = jnp.sqrt(jnp.sum(z * z))
            v = jnp.where(st["frozen"], 0.0, z / Dn)
            trial = jnp.clip(theta + v, lo, hi)
            step = trial - theta
            pred = predicted(c, s, Vt, Dn, step)
            r_new, J_new = fjac(trial)
            cost_new = jnp.sum(r_new * r_new)
            finite = jnp.isfinite(cost_new)
            actual = jnp.where(finite, jnp.sum((r - r_new) * (r + r_new)), -jnp.inf)
            rho = rules.gain_ratio(actual, pred, xp=jnp)
            nz = st["noise"]
            accept = go & rules.accepted(rho, finite, pol, actual, nz)
            nit = st["nit"] + go
            nfev = st["nfev"] + go
            pn = jnp.sqrt(jnp.sum((Dn * step) ** 2))
            rad = rules.trust_radius(st["radius"], pn, rho, lam_step, nit == 1, xp=jnp)
            radius = jnp.where(go & ~pol, rad, st["radius"])
            xnorm = jnp.sqrt(jnp.sum((Dn * theta) ** 2))
            f_ok, x_ok = rules.step_tests(actual, pred, rho, cost, nz, pn, xnorm, ftol, xtol, xp=jnp)
            status = jnp.where(bail, st["code"], st["status"])
            # a polishing step that was refused, or that no longer moves theta
            # at this precision (float32 cannot meet xtol=1e-10), ends the fit
            still = jnp.all(trial == theta)
            status = jnp.where(go & pol & (~accept | still), st["code"], status)
            new = go & ~pol & (f_ok | x_ok)
            code = jnp.where(new, rules.polish_code(f_ok, x_ok, xp=jnp), st["code"])
            zlast = jnp.where(new, jnp.inf, jnp.where(go & pol, znorm, st["zlast"]))
            polish = pol | new
            theta_new = jnp.where(accept, trial, theta)
            cost_next = jnp.where(accept, cost_new, cost)
            # every STALL_EVALS evaluations: a degenerate walk (not while polishing)
            due = go & (status == 0) & (nfev >= st["check_at"])
            win = rules.stalled_window(st["cost_ref"], cost_next, st["theta_ref"], theta_new, xp=jnp) & ~polish
            stalls = jnp.where(due, jnp.where(win, st["stalls"] + 1, 0), st["stalls"])
            status = jnp.where(due & (stalls >= rules.STALL_WINDOWS), int(Status.NO_PROGRESS), status)
            status = jnp.where((status == 0) & (nfev >= max_nfev), -1, status)
            return dict(
                st, theta=theta_new, r=jnp.where(accept, r_new, r),
                J=jnp.where(accept, J_new, st["J"]), cost=cost_next,
                fresh=accept, status=status, nfev=nfev, nit=nit, lam=jnp.where(go, lam, st["lam"]),
                radius=radius, code=code, zlast=zlast, polish=polish, prev=jnp.where(accept, step, st["prev"]),
                cost_ref=jnp.where(due, cost_next, st["cost_ref"]), theta_ref=jnp.where(due, theta_new, st["theta_ref"]),
                check_at=jnp.where(due, nfev + rules.STALL_EVALS, st["check_at"]), stalls=stalls,
            )

        def running(st):
            # a pixel whose last accepted step left a fresh point may still stop
            # there (polishing ended); one more pass settles it
            return st["status"] == 0

        st = jax.lax.while_loop(running, body, state)
        # a final accepted step leaves its point unexamined only while running;
        # a pixel that stopped there has its final Jacobian in J already
        cov, singular = covariance(st["J"], rel, N, P)
        status = jnp.where(singular & (st["status"] > 0) & jnp.any(rel), -3, st["status"])
        # the weighted Jacobian and residuals at the answer: the verification's checks (float64)
        return st["theta"], status, st["nfev"], st["nit"], st["cost"], cov, st["J"], st["r"]

    def covariance(J, rel, N, P):
        ok = jnp.all(jnp.isfinite(J))
        Jr = jnp.where(rel[None, :], jnp.nan_to_num(J), 0.0)
        norms = jnp.sqrt(jnp.sum(Jr * Jr, axis=0))
        Dn = jnp.where(norms > 0, norms, 1.0)
        # irrelevant columns become unit columns orthogonal to the rest (a
        # block of the identity), so that the rank test sees the relevant ones only
        idx = jnp.cumsum(~rel) - 1
        extra = jnp.zeros((P, P), J.dtype).at[idx, jnp.arange(P)].set(jnp.where(~rel, 1.0, 0.0))
        Js = jnp.concatenate([Jr / Dn, extra], axis=0)
        _, s, vt = jnp.linalg.svd(Js, full_matrices=False)
        # the unit columns add singular values 1; the relevant block's columns
        # have norm 1, so its largest singular value is >= 1 and its smallest
        # <= 1: s[0] and s[-1] are the relevant block's extremes
        cov = (vt.T / s**2) @ vt / (Dn[:, None] * Dn[None, :])
        singular = ~ok | ~jnp.any(rel) | (s[-1] <= rcond * max(N, P) * s[0])
        mask = rel[:, None] & rel[None, :]
        cov = jnp.where(mask & ~singular, cov, jnp.nan)
        return cov, singular

    vpixel = jax.vmap(pixel, in_axes=(0, 0, 0, 0, 0, 0, None, None, None, None))
    return jax.jit(vpixel)


def _bucket(key, B: int) -> int:
    sizes = _SIZES.setdefault(key, set())
    fits = [s for s in sizes if B <= s <= max(2 * B, _SMALL)]
    if fits:
        return min(fits)
    sizes.add(B)
    return B


def jax_levenberg_marquardt(problem: Problem, loss=None, *, bounded: bool = False, dtype: str = "float64",
                            ftol: float = 1e-12, xtol: float = 1e-10, gtol: float = 0.0,
                            max_nfev: int | None = None, radius0: float = 1.0, **unused) -> Solution:
    """Fit every pixel of ``problem`` by Levenberg–Marquardt in JAX.

    Parameters
    ----------
    problem : Problem
    loss : Loss, optional
        Least squares only (``None`` or ``"ls"``).
    bounded : bool
        Respect ``problem.lower``/``problem.upper``.
    dtype : {"float64", "float32"}
        Precision of the whole fit.
    ftol, xtol, gtol, max_nfev, radius0
        As for :func:`swiftfit.optimizers.lm.levenberg_marquardt`.

    Returns
    -------
    Solution
        In NumPy float64.

    Raises
    ------
    NotLowerable
        When the problem has no JAX form (the caller falls back to NumPy).

    Examples
    --------
    >>> sol = jax_levenberg_marquardt(m.compile())
    >>> sol.status
    array([1])
    """
    if unused:
        raise OptimizerError(
            f"backend='jax' runs 'lm' with the options {_OPTIONS} (and dtype); got unknown options {sorted(unused)}"
        )
    if loss is not None and loss.name != "ls":
        raise OptimizerError(f"backend='jax' fits loss_function='ls' only, got {loss.name!r}")
    dtype = check_dtype(dtype)
    B, P, N = problem.B, problem.P, problem.N
    enable_jax(dtype)
    low = lower_problem(problem)  # may raise NotLowerable (the caller falls back to NumPy)
    import jax.numpy as jnp

    if P == 0:
        r = problem.residuals(problem.p0)
        return Solution(problem.p0.copy(), np.full(B, 5), np.ones(B, dtype=int), np.einsum("bn,bn->b", r, r),
                        np.zeros((B, 0, 0)), np.ones(B, dtype=int), np.zeros(B, dtype=int))
    lo, hi, limit, start, *_ = steps.start(problem, bounded, max_nfev)
    rel = relevance(problem, start)
    w = np.ones((B, N)) if problem.weights is None else problem.weights
    fixed = np.asarray(problem.fixed, dtype=float)
    active = np.asarray(problem.active, dtype=bool)
    cache_key = (low.key, dtype)  # bounds are arguments (infinite when not bounded)
    run = _CACHE.get(cache_key)
    if run is None:
        run = _CACHE[cache_key] = _build(low, dtype)
    size = _bucket(cache_key, B)
    arrays = [start, problem.data, w, fixed, active, rel]
    if size > B:  # pad with copies of the first pixel (discarded below)
        arrays = [np.concatenate([a, np.repeat(a[:1], size - B, axis=0)]) for a in arrays]
    dt = np.float64 if dtype == "float64" else np.float32
    cast = [jnp.asarray(a, dtype=dt) if a.dtype.kind == "f" else jnp.asarray(a) for a in arrays]
    consts = _cast_tree(low.consts, dt)
    settings = (jnp.asarray(ftol, dt), jnp.asarray(xtol, dt), jnp.asarray(gtol, dt),
                jnp.asarray(limit, jnp.int32), jnp.asarray(radius0, dt))
    out = run(*cast, consts, jnp.asarray(lo, dt), jnp.asarray(hi, dt), settings)
    theta, status, nfev, nit, cost, cov, Jw, r = (np.asarray(a)[:B] for a in out)
    nfev = nfev.astype(int)
    theta, cost = theta.astype(float), cost.astype(float)
    info = {"backend": "jax", "dtype": dtype}
    if dtype == "float64" and (problem.weights is None or (np.asarray(problem.weights) > 0).all()):
        # what the verification needs at the answer, from the Jacobian and residuals the fit
        # ended with (problem.verify's `checks`), and χ² = the cost: the write-back evaluates
        # nothing again.
        info["chisq"] = cost.copy()
        w = problem.weights
        info["checks"] = steps.checks(problem, theta, Jw if w is None else Jw / w[:, :, None], Jw, r, rel)
    else:
        # float32: the check needs a float64 evaluation at the answer. χ² (the maps of χ², red
        # χ², AIC/BIC and SAMFire's goodness tests) from the float32 cost differs from the float64
        # one at the same answer by 8e-7 .. 3e-5 relative (Poisson maps of 10 .. 4e6 counts,
        # measured), and the Newton gap from float32 residuals and Jacobian by ~10 % (median,
        # same maps): the float64 doors would judge the same answer differently. So the answer,
        # as written to the maps (float64), is judged on one float64 NumPy evaluation of the
        # model and the Jacobian, which gives χ² and the checks (the write-back and the
        # verification evaluated the model three times and the Jacobian once before).
        # Also float64 with a zero weight (Jw / w cannot give J back).
        r64 = problem.residuals(theta)
        info["chisq"] = np.einsum("bn,bn->b", r64, r64)
        info["checks"] = steps.answer_checks(problem, theta, r64, rel)[1]
    return Solution(theta, status.astype(int), nfev, cost, cov.astype(float), nfev.copy(), nit.astype(int),
                    info=info)


def _cast_tree(tree, dt):
    import jax.numpy as jnp

    if isinstance(tree, tuple):
        return tuple(_cast_tree(t, dt) for t in tree)
    a = np.asarray(tree)
    return jnp.asarray(a, dtype=dt) if a.dtype.kind in "fc" else jnp.asarray(a)


def jax_spec(spec, loss, dtype=None):
    """The optimizer spec ``spec`` (``"lm"``) run on JAX in ``dtype``.

    Refuses, with one message, what the JAX engine cannot do: another
    optimizer, a loss other than ``"ls"``, priors. A problem that cannot be
    lowered (user components, PSF) is fitted by ``spec`` itself on NumPy,
    with a logged message.

    Examples
    --------
    >>> spec = jax_spec(registry.get("lm"), losses.get("ls"))     # doctest: +SKIP
    """
    from ...losses import PriorLoss

    if spec.name != "lm":
        raise OptimizerError(f"backend='jax' supports optimizer='lm' (or None) only, got optimizer={spec.name!r}")
    if isinstance(loss, PriorLoss):
        raise OptimizerError("backend='jax' cannot fit parameters with priors; use backend='numpy'")
    if loss.name != "ls":
        raise OptimizerError(f"backend='jax' supports loss_function='ls' only, got loss_function={loss.name!r}")
    from .. import get_backend

    dtype = check_dtype(get_backend()[1] if dtype is None else dtype)
    enable_jax(dtype)
    numpy_solve = spec.solve

    def solve(problem, loss=None, *, bounded=False, **options):
        try:
            return jax_levenberg_marquardt(problem, loss, bounded=bounded, dtype=dtype, **options)
        except NotLowerable as exc:
            _log.warning("backend='jax': %s; this fit runs on the NumPy engine", exc)
            return numpy_solve(problem, loss, bounded=bounded, **options)

    return dataclasses.replace(spec, solve=solve, name="lm", description=f"batched Levenberg–Marquardt (JAX, {dtype})")
