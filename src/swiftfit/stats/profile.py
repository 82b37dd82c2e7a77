"""Profiles of the fit objective: scans, MINOS-like intervals, contours, surfaces.

Every function takes a fitted model ``m`` (Model1D, Model2D or JointModel:
any :class:`~swiftfit.problem.fittable.Fittable`) at its current navigation
position and works on the Problem/Loss layer: the model is compiled for the
current pixel (``m.compile()``; a joint model: its joint problem, parameters
named ``"<model name>.Component.parameter"``), the loss objective (``loss.value``, the same
units as ``m.fit_output.fun``: χ² for ls, Σ(m − d ln m) for ML-poisson) is
evaluated with one or two parameters held at given values, and — for a
*profile* — the other free parameters are re-optimised with the ``"lm"``
optimizer, started from the best fit.

The best fit is the model's current parameter values; ``std`` below is the
standard deviation the objective itself implies (``2·errordef·H⁻¹`` of the
loss at the best fit, never rescaled by the reduced χ²), so that a scan of
``±n_sigma·std`` covers the objective rising by about ``n_sigma²·errordef``.

The loss is the last fit's (``m.fit_output.loss_function``, or the last
batched multifit's; ls when the model was never fitted); ``loss_function=`` overrides it with a name or a
:class:`~swiftfit.losses.Loss` object (e.g. ``Huber(delta=2.0)``: the name
"huber" alone means δ = 1). Custom loss functions are refused (ValueError).
Re-optimisation respects bounds when the last fit did (``bounded=``
overrides).

The model is left exactly as it was: values, free flags and maps.

Examples
--------
>>> _ = m.fit()
>>> r = confidence(m, m[0].centre)
>>> round(r["errn"], 3), round(r["errp"], 3), r["success"]
(-0.191, 0.191, True)
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from scipy.optimize import brentq

from .. import losses as _losses
from ..errors import InvalidInputError

__all__ = ["confidence", "joint_view", "scan_values", "stat_contour", "stat_profile", "stat_surface"]

_MAX_EXPAND = 60


# ------------------------------------------------------------- helpers
@contextmanager
def _preserved(m):
    """Restore every parameter's map and free flag on exit."""
    saved = [(p, p._map.copy(), p._free) for p in m.parameters()]
    try:
        yield
    finally:
        for p, mp, free in saved:
            if p._map.shape == mp.shape:
                p._map[...] = mp
            else:  # pragma: no cover - a map is never resized here
                p._map = mp
            p._free = free


def joint_view(joint):
    """``joint`` itself: a :class:`~swiftfit.model.joint.JointModel` is
    fittable (:class:`~swiftfit.problem.fittable.Fittable`) and is profiled as
    it is. Kept so that code written for the former adapter still runs.

    Examples
    --------
    >>> confidence(jm, "m1.Gaussian.A", loss_function=PoissonML())  # doctest: +SKIP
    """
    return joint


def scan_values(parameter, best, std, name=None):
    """Gammapy's scan of ``parameter``: its ``scan_values`` when set, else
    ``scan_n_values`` points over ``[scan_min, scan_max]`` when both are set,
    else over ``best ± scan_n_sigma·std`` (clipped to the parameter's bounds).

    Raises
    ------
    InvalidInputError
        An explicit scan (``scan_values`` or ``scan_min``/``scan_max``) leaves
        the parameter's bounds, or no ``std`` is known for the default scan.
    """
    name = name or parameter.name
    lo, hi = parameter._bounds()
    explicit = getattr(parameter, "scan_values", None)
    smin, smax = getattr(parameter, "scan_min", None), getattr(parameter, "scan_max", None)
    n = int(getattr(parameter, "scan_n_values", 11))
    if explicit is not None:
        values, what = np.asarray(explicit, dtype=float), "scan_values"
    elif smin is not None and smax is not None:
        values, what = np.linspace(float(smin), float(smax), n), f"scan_min..scan_max [{smin}, {smax}]"
    else:
        n_sigma = float(getattr(parameter, "scan_n_sigma", 3.0))
        if not (std is not None and np.isfinite(std) and std > 0):
            raise InvalidInputError(
                f"parameter {name!r}: no error known for a scan of ±scan_n_sigma·error; fit first, or set "
                "scan_min/scan_max or scan_values"
            )
        return np.clip(np.linspace(best - n_sigma * std, best + n_sigma * std, n), lo, hi)
    outside = (values < lo) | (values > hi)
    if outside.any():
        raise InvalidInputError(
            f"parameter {name!r}: {what} holds {values[outside][:3]}, outside its bounds "
            f"[bmin, bmax] = [{lo}, {hi}]"
        )
    return values


class _Context:
    """The compiled problem at the best fit, the loss, and how to hold
    parameters at given values and re-optimise the others.
    """

    def __init__(self, m, loss_function=None, bounded=None):
        self.m = m
        # the last fit of any kind (fit, multifit, joint, Fit) recorded its loss
        # and bounds; fit_output for models restored from older code paths
        out = m.last_fit_setup or getattr(m, "fit_output", None)
        if loss_function is None:
            loss_function = "ls" if out is None else out.get("loss_function", "ls")
        if loss_function == "custom" or isinstance(loss_function, _losses.CustomLoss) or (
                callable(loss_function) and not isinstance(loss_function, _losses.Loss)):
            raise ValueError(
                "a custom loss cannot be profiled; use a built-in loss ('ls', 'ML-poisson', "
                "'huber' or a Loss object)"
            )
        self.bounded = bool(out.get("bounded", False)) if (bounded is None and out is not None) else bool(bounded)
        # the one request (swiftfit.problem.request): priors (MAP fits) are part of the
        # statistic being profiled, and the re-optimisation minimises it too, as the fit did
        from ..problem.request import make_request

        request = make_request("lm", loss_function, bounded=self.bounded, parameters=m.parameters(),
                               options={"backend": "numpy"})
        self.loss, self.solver = request.loss, request.optimizer
        self.problem = m.compile()  # the fittable interface: the current position
        self.params = m.parameters()
        self.best = np.array(self.problem.p0[0], dtype=float)
        with np.errstate(all="ignore"):
            self.f0 = float(self.loss.value(self.problem, self.best[None, :])[0])
            cov = np.asarray(self.loss.covariance(self.problem, self.best[None, :]), dtype=float)[0]
        self.std = np.sqrt(np.abs(np.diag(cov))) if cov.size else np.zeros(0)
        self.errordef = float(self.loss.errordef)
        self.nfev = 0
        self._held = {}

    # -------------------------------------------------- parameter lookup
    def resolve(self, parameter, what="parameter"):
        """``(index in the model's parameter list, theta column)`` of a free parameter."""
        problem = self.problem
        index = None
        if isinstance(parameter, str):
            labels = [plan.name for plan in problem.plans]
            matches = [i for i, lab in enumerate(labels) if lab == parameter]
            if not matches:  # "Component.param" inside a joint problem's "m0.Component.param"
                tail = [i for i, lab in enumerate(labels) if lab.endswith("." + parameter)]
                matches = tail if len(tail) == 1 else []
            if not matches:
                short = [i for i, p in enumerate(self.params) if p.name == parameter]
                matches = short if len(short) == 1 else []
                if len(short) > 1:
                    raise ValueError(
                        f"{what} {parameter!r} is ambiguous in this model; name it as "
                        f"'Component.parameter', one of {labels}"
                    )
            if not matches:
                raise ValueError(f"{what} {parameter!r} is not a parameter of this model; one of {labels}")
            index = matches[0]
        else:
            for i, p in enumerate(self.params):
                if p is parameter:
                    index = i
                    break
            if index is None:
                raise ValueError(f"{what} {parameter!r} is not a parameter of this model")
        plan = problem.plans[index]
        if plan.kind != "free":
            raise ValueError(
                f"{what} {plan.name!r} is not free (it is {plan.kind}); only free parameters "
                "can be profiled"
            )
        return index, plan.column

    def name(self, index):
        return self.problem.plans[index].name

    def check_values(self, index, column, values):
        values = np.atleast_1d(np.asarray(values, dtype=float))
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"scan values of {self.name(index)!r} must be a non-empty 1-D sequence")
        if not np.isfinite(values).all():
            raise ValueError(f"scan values of {self.name(index)!r} must be finite")
        lo, hi = self.problem.lower[column], self.problem.upper[column]
        outside = (values < lo) | (values > hi)
        if outside.any():
            raise ValueError(
                f"scan values of {self.name(index)!r} such as {values[outside][:3]} are outside "
                f"its bounds [{lo}, {hi}]"
            )
        return values

    # ------------------------------------------------------------ scans
    def held_problem(self, indices):
        """The problem compiled with the parameters ``indices`` fixed (cached)."""
        key = tuple(indices)
        if key not in self._held:
            with _preserved(self.m):
                for i in indices:
                    self.params[i].free = False
                self._held[key] = self.m.compile()
        return self._held[key]

    def fixed_value(self, columns, values):
        """Objective with the free columns ``columns`` at ``values``, the others at the best fit."""
        theta = self.best.copy()
        theta[list(columns)] = values
        with np.errstate(all="ignore"):
            f = float(self.loss.value(self.problem, theta[None, :])[0])
        self.nfev += 1
        return f

    def profiled_value(self, indices, columns, values):
        """Objective with the parameters ``indices`` held at ``values`` and the
        other free parameters re-optimised.
        """
        held = self.held_problem(indices)
        one = held.take([0])
        one.fixed = np.array(one.fixed, dtype=float, copy=True)
        for i, v in zip(indices, values):
            one.fixed[:, i] = v
        keep = [c for c in range(self.best.size) if c not in set(columns)]
        one.p0 = self.best[keep][None, :].copy()
        held_prior = self.held_prior_stat(indices, values)
        if one.P == 0:
            with np.errstate(all="ignore"):
                f = float(self.loss.value(one, one.p0)[0])
            self.nfev += 1
            return f + held_prior
        bounded = self.bounded and one.bounded
        if bounded:
            one.p0 = np.clip(one.p0, one.lower, one.upper)
        with np.errstate(all="ignore"):
            solution = self.solver.solve(one, self.loss, bounded=bounded)
            f = float(self.loss.value(one, np.asarray(solution.theta, dtype=float))[0])
        self.nfev += int(np.sum(solution.nfev)) + 1
        return f + held_prior

    def held_prior_stat(self, indices, values) -> float:
        """The priors' term of the parameters held at ``values``: the held
        problem has them fixed, so its loss leaves them out (errordef · −2 ln π).
        """
        total = 0.0
        if isinstance(self.loss, _losses.PriorLoss):
            for i, v in zip(indices, values):
                prior = getattr(self.params[i], "prior", None)
                if prior is not None:
                    total += self.errordef * float(np.asarray(prior.stat(np.array([float(v)])))[0])
        return total

    def value(self, indices, columns, values, reoptimize):
        if reoptimize:
            return self.profiled_value(indices, columns, values)
        return self.fixed_value(columns, values)


def _check_positive(name, value):
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be a positive number, got {value!r}")
    return value


def _context(m, loss_function=None, bounded=None) -> _Context:
    """``m`` compiled for profiling. A caller that already has the
    :class:`_Context` (built with the same loss and bounds) passes it as
    ``m``: the problem is compiled and the covariance computed once, and the
    held problems it caches are reused across calls; ``nfev`` counts each
    call's own evaluations.
    """
    if isinstance(m, _Context):
        m.nfev = 0
        return m
    return _Context(m, loss_function, bounded)


# ------------------------------------------------------------ public API
def stat_profile(m, parameter, values=None, reoptimize=False, n_values=11, n_sigma=3, *,
                 loss_function=None, bounded=None):
    """The objective along a scan of one parameter.

    Parameters
    ----------
    m : Model1D or Model2D
        Fitted, at the current navigation position.
    parameter : Parameter or str
        A free parameter of ``m`` (object, ``"Component.parameter"`` or a
        parameter name unique in the model).
    values : array_like, optional
        Where to evaluate; default ``n_values`` points evenly over
        ``best ± n_sigma·std`` (clipped to the parameter's bounds).
    reoptimize : bool
        Re-optimise the other free parameters at each value (the profile
        likelihood); otherwise they stay at the best fit (a slice).

    Returns
    -------
    dict
        ``values`` (the scan), ``stat`` (the objective there, same units as
        ``m.fit_output.fun``), ``best`` (best-fit value), ``stat_min`` (the
        objective at the best fit), ``parameter`` (its name), ``nfev``.

    Raises
    ------
    ValueError
        The parameter is not free or not in the model, or a value is outside
        its bounds.
    """
    ctx = _context(m, loss_function, bounded)
    index, column = ctx.resolve(parameter)
    best = ctx.best[column]
    if values is None:
        n_values = int(n_values)
        if n_values < 1:
            raise ValueError(f"`n_values` must be at least 1, got {n_values}")
        n_sigma = _check_positive("n_sigma", n_sigma)
        std = ctx.std[column]
        if not (np.isfinite(std) and std > 0):
            raise ValueError(f"the standard deviation of {ctx.name(index)!r} is not defined; give `values`")
        values = np.linspace(best - n_sigma * std, best + n_sigma * std, n_values)
        values = np.clip(values, ctx.problem.lower[column], ctx.problem.upper[column])
    values = ctx.check_values(index, column, values)
    with _preserved(ctx.m):
        stat = np.array([ctx.value([index], [column], [v], reoptimize) for v in values])
    return {"parameter": ctx.name(index), "values": values, "stat": stat, "best": float(best),
            "stat_min": ctx.f0, "nfev": ctx.nfev}


def _crossing(g, start, step, limit):
    """Root of ``g`` on the ray ``start + t·step`` (t > 0, ``g(start) < 0``),
    bracketed by doubling ``t`` up to ``limit`` (the largest t allowed).
    Returns ``t`` or None when ``g`` stays negative.
    """
    t_lo, t = 0.0, 1.0
    for _ in range(_MAX_EXPAND):
        t = min(t, limit)
        gt = g(start + t * step)
        if np.isfinite(gt) and gt > 0:
            return brentq(lambda s: g(start + s * step), t_lo, t, xtol=1e-10 * max(t, 1.0), rtol=1e-12)
        if t >= limit:
            return None
        if np.isfinite(gt):
            t_lo = t
        t *= 2.0
    return None


def _limit_along(lower, upper, start, step):
    """Largest t with ``start + t·step`` inside [lower, upper]."""
    limit = np.inf
    for lo, hi, s, d in zip(np.atleast_1d(lower), np.atleast_1d(upper), np.atleast_1d(start), np.atleast_1d(step)):
        if d > 0 and np.isfinite(hi):
            limit = min(limit, (hi - s) / d)
        elif d < 0 and np.isfinite(lo):
            limit = min(limit, (lo - s) / d)
    return limit


def confidence(m, parameter, sigma=1, reoptimize=True, *, loss_function=None, bounded=None):
    """MINOS-like interval of one parameter: where its profile rises by
    ``sigma²·errordef`` above the minimum.

    Each side is found with :func:`scipy.optimize.brentq` on the profile
    (other free parameters re-optimised; ``reoptimize=False``: held at the
    best fit), bracketed by doubling steps of the standard deviation.

    Returns
    -------
    dict
        ``errp`` (≥ 0) and ``errn`` (≤ 0, MINOS's sign): offsets of the
        upper and lower ends from the best fit, NaN for a side that stays
        below the level up to the parameter's bound; ``success`` (both sides
        found); ``nfev`` (model evaluations, re-optimisations included);
        ``lower``/``upper`` (the ends), ``best``, ``parameter``.

    Raises
    ------
    ValueError
        The parameter is not free or not in the model; ``sigma`` not positive.
    """
    sigma = _check_positive("sigma", sigma)
    ctx = _context(m, loss_function, bounded)
    index, column = ctx.resolve(parameter)
    best = ctx.best[column]
    std = ctx.std[column]
    if not (np.isfinite(std) and std > 0):
        std = max(abs(best) * 1e-2, 1e-8)
    level = ctx.f0 + sigma**2 * ctx.errordef
    lo, hi = ctx.problem.lower[column], ctx.problem.upper[column]

    def g(v):
        return ctx.value([index], [column], [float(v)], reoptimize) - level

    errs = {}
    with _preserved(ctx.m):
        for key, direction in (("errp", 1.0), ("errn", -1.0)):
            step = direction * sigma * std
            limit = _limit_along(lo, hi, best, step)
            t = _crossing(g, best, step, limit)
            errs[key] = np.nan if t is None else float(t * step)
    success = bool(np.isfinite(errs["errp"]) and np.isfinite(errs["errn"]))
    return {"parameter": ctx.name(index), "best": float(best), "errp": errs["errp"], "errn": errs["errn"],
            "lower": float(best + errs["errn"]), "upper": float(best + errs["errp"]),
            "success": success, "nfev": ctx.nfev}


def _pair(ctx, x, y):
    ix, cx = ctx.resolve(x, "parameter x")
    iy, cy = ctx.resolve(y, "parameter y")
    if ix == iy:
        raise ValueError(f"x and y are the same parameter {ctx.name(ix)!r}; give two different parameters")
    return ix, cx, iy, cy


def stat_contour(m, x, y, numpoints=10, sigma=1, *, loss_function=None, bounded=None):
    """The contour where the 2-parameter profile rises by ``sigma²·errordef``.

    MINUIT's ``mncontour`` definition (its projections onto either axis are
    the ``sigma`` MINOS intervals). For ``numpoints`` directions at angles
    ``2πk/numpoints`` around the best fit, in the (x, y) plane scaled by
    the two standard deviations, the crossing along the ray is found with
    :func:`scipy.optimize.brentq` on the profile (other free parameters
    re-optimised at every point).

    Returns
    -------
    dict
        ``{x name: array, y name: array}`` of the contour points in order
        (NaN where a ray leaves the bounds below the level), plus ``angles``,
        ``success`` (every ray crossed) and ``nfev``.

    Raises
    ------
    ValueError
        A parameter is not free or not in the model, x and y are the same,
        or ``numpoints`` < 3.
    """
    sigma = _check_positive("sigma", sigma)
    numpoints = int(numpoints)
    if numpoints < 3:
        raise ValueError(f"`numpoints` must be at least 3, got {numpoints}")
    ctx = _context(m, loss_function, bounded)
    ix, cx, iy, cy = _pair(ctx, x, y)
    start = ctx.best[[cx, cy]]
    scale = ctx.std[[cx, cy]].copy()
    for k in range(2):
        if not (np.isfinite(scale[k]) and scale[k] > 0):
            scale[k] = max(abs(start[k]) * 1e-2, 1e-8)
    level = ctx.f0 + sigma**2 * ctx.errordef
    lower = ctx.problem.lower[[cx, cy]]
    upper = ctx.problem.upper[[cx, cy]]

    def g(point):
        return ctx.profiled_value([ix, iy], [cx, cy], [float(point[0]), float(point[1])]) - level

    angles = 2 * np.pi * np.arange(numpoints) / numpoints
    xs = np.full(numpoints, np.nan)
    ys = np.full(numpoints, np.nan)
    with _preserved(ctx.m):
        for k, phi in enumerate(angles):
            step = sigma * scale * np.array([np.cos(phi), np.sin(phi)])
            step[np.abs(step) < 1e-15 * sigma * scale] = 0.0
            t = _crossing(g, start, step, _limit_along(lower, upper, start, step))
            if t is not None:
                xs[k], ys[k] = start + t * step
    return {ctx.name(ix): xs, ctx.name(iy): ys, "angles": angles,
            "success": bool(np.isfinite(xs).all()), "nfev": ctx.nfev}


def stat_surface(m, x, y, x_values, y_values, reoptimize=False, *, loss_function=None, bounded=None):
    """The objective on the grid ``x_values × y_values``.

    ``reoptimize=True`` re-optimises the other free parameters at every grid
    point (the 2-parameter profile); otherwise they stay at the best fit.

    Returns
    -------
    dict
        ``x_values``, ``y_values``, ``stat`` of shape
        ``(len(x_values), len(y_values))`` (``stat[i, j]`` at
        ``(x_values[i], y_values[j])``), ``stat_min``, ``x``/``y`` (names),
        ``nfev``.

    Raises
    ------
    ValueError
        A parameter is not free or not in the model, x and y are the same,
        or a value is outside its parameter's bounds.
    """
    ctx = _context(m, loss_function, bounded)
    ix, cx, iy, cy = _pair(ctx, x, y)
    xv = ctx.check_values(ix, cx, x_values)
    yv = ctx.check_values(iy, cy, y_values)
    stat = np.empty((xv.size, yv.size))
    with _preserved(ctx.m):
        for i, a in enumerate(xv):
            for j, b in enumerate(yv):
                stat[i, j] = ctx.value([ix, iy], [cx, cy], [a, b], reoptimize)
    return {"x": ctx.name(ix), "y": ctx.name(iy), "x_values": xv, "y_values": yv, "stat": stat,
            "stat_min": ctx.f0, "nfev": ctx.nfev}
