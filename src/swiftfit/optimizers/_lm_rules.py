"""The step logic of Levenberg–Marquardt, one copy: damping updates,
accept/reject, convergence tests and the polishing rules.

:mod:`._lm_steps` holds the linear algebra (factorisation, damped step,
acceleration, covariance); this module holds the decisions taken from its
numbers. Both solvers of the NumPy engine use it — the residual LM
(:mod:`.lm`) and damped Newton on any loss (:mod:`.damped_newton`) — and so
does the JAX engine (:mod:`swiftfit.engines.jax.lm`, with ``xp=jax.numpy``).
The compiled numba kernel keeps scalar copies (``_radius_update``,
``_accept``, ... in :mod:`swiftfit.engines.numba.kernels`);
``tests/optimizers/test_one_lm.py`` holds every copy to these functions,
piece by piece, on seeded random states with edge cases.

Every function is elementwise over arrays of any shape (a block of pixels in
NumPy, one pixel under ``jax.vmap``) and takes the array namespace ``xp``
(``numpy`` or ``jax.numpy``).

Examples
--------
>>> import numpy as np
>>> rho = gain_ratio(np.array([0.9, -1.0]), np.array([1.0, 1.0]))
>>> rho
array([ 0.9, -1. ])
>>> accepted(rho, np.array([True, True]))
array([ True, False])
>>> trust_radius(np.array([2.0, 2.0]), np.array([1.0, 1.0]), rho, np.array([0.5, 0.5]), False)
array([2., 1.])
"""

from __future__ import annotations

import numpy as np

from ..problem.solution import Status

__all__ = ["ACCEPT_RHO", "gain_ratio", "accepted", "trust_radius", "nielsen", "delayed", "first_radius",
           "scaled_small", "point_tests", "step_tests", "polish_code", "polish_ends", "gradient_test",
           "ZIG_COS", "unzigzag", "STALL_EVALS", "STALL_GAIN", "STALL_GROWTH", "STALL_WINDOWS",
           "stalled_window"]

#: smallest gain ratio (actual / predicted reduction) of an accepted damped step
ACCEPT_RHO = 1e-4
#: a Gauss–Newton step whose cosine with the last accepted step is below −ZIG_COS zig-zags
ZIG_COS = 0.9
#: the stall test (:func:`stalled_window`) looks back every STALL_EVALS evaluations
STALL_EVALS = 50
#: ... at most this relative fall of the cost in a window is no progress ...
STALL_GAIN = 1e-5
#: ... while some parameter's magnitude grew by more than this factor in it ...
STALL_GROWTH = 1.2
#: ... and STALL_WINDOWS such windows in a row end the fit (``Status.NO_PROGRESS``)
STALL_WINDOWS = 3


def gain_ratio(actual, pred, xp=np):
    """``ρ = actual / predicted`` reduction; ``−∞`` where nothing was predicted
    (``pred ≤ 0``, or not a number) or the trial was not finite (``actual = −∞``).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.where(pred > 0, actual / xp.where(pred > 0, pred, 1.0), -xp.inf)


def accepted(rho, finite, polish=None, actual=None, noise=None, veto=None):
    """Is a trial step taken? A finite trial whose gain ratio exceeds
    :data:`ACCEPT_RHO`; while polishing (undamped Gauss–Newton steps near the
    minimum) also any finite trial that does not make the cost measurably
    worse (``actual ≥ −noise``, the rounding noise of the cost). ``veto``:
    refused whatever its gain (a geodesic acceleration too large).
    """
    ok = rho > ACCEPT_RHO
    if polish is not None:
        ok = ok | (polish & (actual >= -noise))
    ok = finite & ok
    return ok if veto is None else ok & ~veto


def trust_radius(radius, pn, rho, lam_step, first, veto=None, xp=np):
    """The trust radius after a damped step of scaled length ``pn`` (Moré's
    form of MINPACK's ``lmder``): at the first step not above ``pn``; halved
    (and not above ``5·pn``) after a poor prediction (``ρ < 0.25``) or a
    veto; at least ``2·pn`` after a good one (``ρ ≥ 0.75``) or a Gauss–Newton
    step (``λ = 0``) that was not poor; else unchanged.
    """
    rad = xp.where(first, xp.minimum(radius, pn), radius)
    poor = rho < 0.25 if veto is None else (rho < 0.25) | veto
    return xp.where(poor, 0.5 * xp.minimum(rad, 10 * pn),
                    xp.where((rho >= 0.75) | (lam_step == 0), xp.maximum(rad, 2 * pn), rad))


def nielsen(lam, nu, rho, accept, xp=np):
    """Nielsen's damping update: ``λ·max(1/3, 1 − (2ρ − 1)³)`` and ``ν = 2``
    after an accepted step, ``λ·ν`` and ``ν·2`` after a rejected one.
    Returns ``(λ, ν)``.
    """
    shrink = xp.maximum(1 / 3, 1 - (2 * xp.minimum(rho, 1.0) - 1) ** 3)
    return xp.where(accept, lam * shrink, lam * nu), xp.where(accept, 2.0, nu * 2)


def delayed(lam, accept, xp=np):
    """"Delayed gratification" (Transtrum & Sethna): ``λ/3`` after an
    accepted step, ``2λ`` after a rejected one.
    """
    return xp.where(accept, lam / 3, lam * 2)


def first_radius(xn, zn, radius0, xp=np):
    """The first trust radius: ``radius0·‖D θ₀‖``, or where ``θ₀ = 0`` the
    length of the Gauss–Newton step (at least 1).
    """
    return xp.where(xn > 0, radius0 * xn, xp.maximum(zn, 1.0))


def scaled_small(step_norm, xnorm, xtol, xp=np):
    """MINPACK's step test: the scaled step is below ``xtol`` relative to the
    scaled parameters (absolute below ``xtol²`` at ``θ = 0``).
    """
    return step_norm <= xtol * xp.maximum(xnorm, xtol)


def point_tests(zn, gain, xn, cost, noise, ftol, xtol, xp=np):
    """The tests at a new point, on its Gauss–Newton step (scaled length
    ``zn``, predicted gain ``gain``): ``(x_ok, f_ok)``, the step below
    ``xtol``, the gain below ``ftol·cost`` or the rounding noise of the cost.
    """
    return scaled_small(zn, xn, xtol, xp), gain <= xp.maximum(ftol * cost, noise)


def step_tests(actual, pred, rho, cost, noise, step_norm, xnorm, ftol, xtol, xp=np):
    """MINPACK's convergence tests on a trial step, relative to the current
    cost (1 where it is 0) or its rounding noise: ``(f_ok, x_ok)``, the
    actual and predicted reductions both below tolerance with ``ρ ≤ 2``, the
    scaled step below ``xtol``.
    """
    tol = xp.maximum(ftol * xp.where(cost > 0, cost, 1.0), noise)
    f_ok = (xp.abs(actual) <= tol) & (pred <= tol) & (rho <= 2)
    return f_ok, scaled_small(step_norm, xnorm, xtol, xp)


def polish_code(f_ok, x_ok, xp=np):
    """The status reported when polishing ends, from the tests that started
    it: 3 both, 1 ``ftol``, 2 ``xtol``.
    """
    return xp.where(f_ok & x_ok, int(Status.FTOL_XTOL), xp.where(f_ok, int(Status.FTOL), int(Status.XTOL)))


def polish_ends(x_ok, gain, cost, ftol, located, zn, zlast):
    """Polishing ends at a new point when the Gauss–Newton step stops
    shrinking (``zn ≥ zlast``: rounding), or is below ``xtol`` and either
    gains less than ``ftol·cost`` or has been so more than 3 times
    (``located`` counts them).
    """
    return (x_ok & ((gain <= ftol * cost) | (located > 3))) | (zn >= zlast)


def gradient_test(g, norms, cost, frozen, gtol, xp=np):
    """MINPACK's gradient test: the largest cosine between the residuals and
    a free Jacobian column (``g = Jᵀr``, ``norms`` the column norms) is
    below ``gtol``, or the cost is 0. ``g`` and ``norms`` carry the
    parameters on the last axis.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        cosang = xp.abs(g) / (norms * xp.sqrt(cost)[..., None])
    cosang = xp.where(frozen | (norms == 0), 0.0, xp.nan_to_num(cosang))
    return (xp.max(cosang, axis=-1) <= gtol) | (cost == 0)


def unzigzag(z, prev, dn, xp=np):
    """The Gauss–Newton steps ``z`` (scaled, rows), shortened where they point
    back along the last accepted step ``prev`` (unscaled; cosine below
    ``−ZIG_COS``, :data:`ZIG_COS`). There the iteration overshoots a slow mode,
    ``e → −κ e`` with ``κ = −zᵀp / pᵀp`` (``p = D prev``; a large-residual
    problem, where ``JᵀJ`` misses ``Σ rᵢ∇²fᵢ``, converges linearly that way), and
    ``z = −(1 + κ) e``: ``z / (1 + κ)`` lands on that mode's minimum, without an
    evaluation. Unchanged unless ``0 < κ < 1``; ``prev = 0``: no previous step.
    """
    p = dn * prev
    dot = xp.sum(z * p, axis=-1)
    pp = xp.sum(p * p, axis=-1)
    zz = xp.sum(z * z, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = -dot / xp.where(pp > 0, pp, 1.0)
    on = (pp > 0) & (zz > 0) & (dot < -ZIG_COS * xp.sqrt(pp * zz)) & (kappa > 0) & (kappa < 1)
    return xp.where(on[..., None], z / (1.0 + xp.where(on, kappa, 0.0))[..., None], z)


def stalled_window(cost_ref, cost, theta_ref, theta, xp=np):
    """Was the last window of :data:`STALL_EVALS` evaluations a degenerate
    walk? The cost fell by at most ``STALL_GAIN·cost`` (``cost_ref`` at the
    window's start) while some parameter's magnitude grew by more than
    ``STALL_GROWTH`` (``θ_ref`` at the start; one that was 0 grows by
    moving). A peak spreading into an offset walks that way — ``A``, ``σ``
    and ``−offset`` growing without bound, each step gaining ~1e-8 of the
    cost with ρ ≈ 0.6, so neither the trust radius nor the tolerances stop
    it before ``max_nfev``. :data:`STALL_WINDOWS` such windows in a row end
    the fit as failed (``Status.NO_PROGRESS``): a budget rule like
    ``max_nfev``, never a convergence test. Polishing steps are not tested
    (the caller skips them). Rows: pixels; ``theta`` carries the parameters
    on the last axis.

    Examples
    --------
    >>> stalled_window(np.array([100.0, 100.0]), np.array([99.9999, 90.0]),
    ...                np.array([[1.0, 5.0], [1.0, 5.0]]), np.array([[3.0, 5.0], [3.0, 5.0]]))
    array([ True, False])
    """
    grew = xp.any(xp.abs(theta) > STALL_GROWTH * xp.abs(theta_ref), axis=-1)
    return (cost_ref - cost <= STALL_GAIN * cost) & grew
