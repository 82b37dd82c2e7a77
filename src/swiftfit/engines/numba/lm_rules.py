"""Scalar copies of the step rules of the NumPy Levenberg–Marquardt
(:mod:`swiftfit.optimizers._lm_rules`) for the compiled kernel
(:mod:`.kernels`): the trust radius, the zig-zag correction, the stall test,
the gain ratio, acceptance, the ``ftol``/``xtol`` tests and the end of
polishing. Each is tested against its NumPy original piece by piece
(``tests/optimizers/test_one_lm.py``, ``test_zigzag.py``, ``test_stall.py``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

ZIG_COS = 0.9  # as _lm_rules.ZIG_COS (see _unzigzag)
# as _lm_rules.STALL_EVALS, STALL_GAIN, STALL_GROWTH, STALL_WINDOWS (see _stalled_window)
STALL_EVALS = 50
STALL_GAIN = 1e-5
STALL_GROWTH = 1.2
STALL_WINDOWS = 3
NO_PROGRESS = -13  # Status.NO_PROGRESS
_EPS = np.finfo(np.float64).eps


@njit(cache=True, error_model="numpy", _nrt=False)
def _radius_update(delta, pn, rho, lam_step, first):
    """The trust radius after a damped step: ``_lm_rules.trust_radius``, scalar."""
    rad = min(delta, pn) if first else delta
    if rho < 0.25:
        return 0.5 * min(rad, 10.0 * pn)
    if rho >= 0.75 or lam_step == 0.0:
        return max(rad, 2.0 * pn)
    return rad


@njit(cache=True, error_model="numpy", _nrt=False)
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


@njit(cache=True, error_model="numpy", _nrt=False)
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


@njit(cache=True, error_model="numpy", _nrt=False)
def _gain_ratio(actual, pred):
    """``actual / pred``, ``−∞`` where ``pred ≤ 0``: ``_lm_rules.gain_ratio``, scalar."""
    return actual / pred if pred > 0 else -np.inf


@njit(cache=True, error_model="numpy", _nrt=False)
def _tests_at(a, pred, noise, tol):
    """The monotone tests a trial's actual reduction ``a`` enters (see :func:`_settled`), as bits."""
    rho = _gain_ratio(a, pred)
    return ((rho > 1e-4) + 2 * (a >= -noise) + 4 * (rho < 0.25) + 8 * (rho >= 0.75) + 16 * (a <= tol)
            + 32 * (a >= -tol) + 64 * (rho <= 2.0))


@njit(cache=True, error_model="numpy", _nrt=False)
def _settled(a, cost, cost_new, pred, noise, ftol, n):
    """Whether ``a = cost − cost_new`` (finite costs, each the sum of the squares of
    ``n`` stored residuals, in any order) decides every test the actual reduction
    enters — :func:`_gain_ratio` against 1e-4, 0.25, 0.75 and 2 (:func:`_accept`,
    :func:`_radius_update`, :func:`_step_tests`), ``a ≥ −noise`` and ``|a| ≤ tol``
    — exactly as the residuals' sum ``Σ (r − rn)(r + rn)`` (``gram.reduction``)
    would. Both lie within ``2γ_{n+3}(cost + cost_new)`` (+ ``ε|a|``) of the exact
    difference of the stored residuals' squares; ``b`` bounds that twice over.
    Each test is monotone in the reduction (``a/pred`` rounds monotonically for
    ``pred > 0``; else the ratio is −∞), so where it gives the same answer at
    ``a − b`` and ``a + b`` it gives it for the residuals' sum: the kernel then
    skips that pass over the channels (issue 16: ~70 ns of 400 channels per
    trial) with every decision, so every iterate, bit for bit the same. The
    value of the ratio enters nothing else. Where a test is near its threshold
    (late, small reductions: the ``ftol`` test, the polishing's ``−noise``) the
    kernel sums the residuals as before.
    """
    b = 4.0 * (n + 4) * _EPS * (cost + cost_new) + 4.0 * _EPS * abs(a)
    tol = max(ftol * (cost if cost > 0 else 1.0), noise)
    return math.isfinite(b) and _tests_at(a - b, pred, noise, tol) == _tests_at(a + b, pred, noise, tol)


@njit(cache=True, error_model="numpy", _nrt=False)
def _accept(finite, rho, polish, actual, noise):
    """Is the trial taken: ``_lm_rules.accepted``, scalar."""
    return finite and (rho > 1e-4 or (polish and actual >= -noise))


@njit(cache=True, error_model="numpy", _nrt=False)
def _point_tests(zn, gain, xn, cost, noise, ftol, xtol):
    """``(x_ok, f_ok)`` at a new point: ``_lm_rules.point_tests``, scalar."""
    return zn <= xtol * max(xn, xtol), gain <= max(ftol * cost, noise)


@njit(cache=True, error_model="numpy", _nrt=False)
def _step_tests(actual, pred, rho, cost, noise, pn, xnorm, ftol, xtol):
    """``(f_ok, x_ok)`` of a trial step: ``_lm_rules.step_tests``, scalar."""
    tol = max(ftol * (cost if cost > 0 else 1.0), noise)
    return abs(actual) <= tol and pred <= tol and rho <= 2.0, pn <= xtol * max(xnorm, xtol)


@njit(cache=True, error_model="numpy", _nrt=False)
def _polish_code(f_ok, x_ok):
    """The status polishing ends with: ``_lm_rules.polish_code``, scalar."""
    return 3 if (f_ok and x_ok) else (1 if f_ok else 2)


@njit(cache=True, error_model="numpy", _nrt=False)
def _polish_ends(x_ok, gain, cost, ftol, located, zn, zlast):
    """Does polishing end at a new point: ``_lm_rules.polish_ends``, scalar."""
    return (x_ok and (gain <= ftol * cost or located > 3)) or zn >= zlast
