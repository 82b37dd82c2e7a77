"""The kernel's zig-zag correction (issue 16, broad3): a Gauss–Newton step that
points back along the last accepted step is shortened to ``z / (1 + κ)``.

Truths: the closed form of a slow mode that the Gauss–Newton iteration
overshoots (``e → −κ e``: one corrected step lands on the minimum, exactly),
the NumPy rule (``_lm_rules.unzigzag``) for the kernel's scalar copy, and on
a large-residual problem (Lorentzian peaks fitted by Gaussians, Poisson
noise, seeded) SciPy's ``least_squares``: the same minimum, in fewer
evaluations than the plain iteration took.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

import swiftfit as sf  # noqa: E402
from swiftfit.engines.numba import lm_rules  # noqa: E402
from swiftfit.optimizers import _lm_rules as rules  # noqa: E402


def _overshoot(kappa, seed=0):
    """A slow mode: error ``e`` before the last step, ``−κ e`` after it; the
    last step (unscaled) and the next Gauss–Newton step (scaled)."""
    rng = np.random.default_rng(seed)
    Dn = rng.uniform(0.5, 3.0, 5)
    e = rng.normal(size=5)  # scaled error before the last step
    prev = (-kappa * e - e) / Dn  # unscaled: e_{k+1} − e_k
    z = (1 + kappa) * kappa * e  # GN step from e_{k+1} = −κ e: −(1 + κ) e_{k+1}
    return Dn, e, prev, z


@pytest.mark.parametrize("kappa", [0.1, 0.5, 0.86, 0.99])
def test_corrected_step_lands_on_the_slow_modes_minimum(kappa):
    Dn, e, prev, z = _overshoot(kappa)
    lm_rules._unzigzag(z, prev, Dn)
    # from e_{k+1} = −κ e the corrected step reaches 0
    np.testing.assert_allclose(-kappa * e + z, 0.0, atol=1e-12)


def test_steps_that_do_not_zig_zag_are_left_alone():
    Dn, e, prev, z = _overshoot(0.5)
    # κ ≥ 1: the iteration would diverge along the mode, not overshoot it
    big = (1 + 1.5) * 1.5 * e
    kept = big.copy()
    lm_rules._unzigzag(kept, (-1.5 * e - e) / Dn, Dn)
    np.testing.assert_array_equal(kept, big)
    # not anti-parallel (cosine −0.8 > −ZIG_COS) or parallel: unchanged
    rng = np.random.default_rng(1)
    p = Dn * prev
    q = rng.normal(size=5)
    q -= (q @ p) / (p @ p) * p
    q *= np.linalg.norm(p) / np.linalg.norm(q)
    for step in (-0.8 * p + 0.6 * q, p, np.zeros(5)):
        kept = step.copy()
        lm_rules._unzigzag(kept, prev, Dn)
        np.testing.assert_array_equal(kept, step)
    # no previous step (zeros): unchanged
    kept = z.copy()
    lm_rules._unzigzag(kept, np.zeros(5), Dn)
    np.testing.assert_array_equal(kept, z)


def _large_residual_model():
    """Two Lorentzians on an offset fitted by two Gaussians: systematic
    residuals, where ``JᵀJ`` misses ``Σ rᵢ∇²fᵢ`` and Gauss–Newton zig-zags."""
    rng = np.random.default_rng(3)
    x = np.arange(200.0)
    c1 = 85 + rng.uniform(-2, 2, 16)
    c2 = 115 + rng.uniform(-2, 2, 16)

    def lor(c, g):
        return 1.0 / (1 + ((x - c[:, None]) / g) ** 2)

    data = rng.poisson(2000 * lor(c1, 18) + 1500 * lor(c2, 22) + 30.0).astype(float)
    m = sf.signals.Signal1D(data).create_model()
    g1, g2 = sf.model.components1D.Gaussian(), sf.model.components1D.Gaussian()
    off = sf.model.components1D.Offset()
    g1.A.value, g1.sigma.value, g1.centre.value = 60000.0, 20.0, 80.0
    g2.A.value, g2.sigma.value, g2.centre.value = 50000.0, 22.0, 120.0
    off.offset.value = 20.0
    m.extend([g1, g2, off])
    m.assign_current_values_to_all()
    free = [p for c in (g1, g2, off) for p in c.parameters if p.free]
    return m, free


def test_numba_copy_matches_the_rule():
    rng = np.random.default_rng(5)
    B, P = 2000, 6
    prev = rng.normal(size=(B, P)) * (rng.random((B, 1)) < 0.9)  # 1 in 10: no previous step
    Dn = np.exp(rng.normal(0, 2, (B, P)))
    # steps around −κ·D·prev (κ over (−0.5, 1.5)) plus noise: every branch
    kappa = rng.uniform(-0.5, 1.5, (B, 1))
    z = -kappa * Dn * prev + rng.normal(0, 1, (B, 1)) * rng.normal(size=(B, P)) * np.abs(Dn * prev).mean(1, keepdims=True)
    want = rules.unzigzag(z, prev, Dn)
    got = z.copy()
    for b in range(B):
        lm_rules._unzigzag(got[b], prev[b], Dn[b])
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    changed = (want != z).any(axis=1)
    assert 0.1 * B < changed.sum() < 0.9 * B  # both branches are exercised


def test_large_residual_fits_reach_the_minimum_in_fewer_evaluations():
    """Truth: SciPy's ``least_squares`` (trf, analytic Jacobian, tolerances at
    rounding) per pixel. Evaluations: measured 431 for 16 pixels; the plain
    iteration (before the correction) took 519 in the kernel, 567 in NumPy."""
    from scipy.optimize import least_squares

    got = {}
    for kernel in ("numba", "numpy"):
        m, free = _large_residual_model()
        m.multifit(kernel=kernel, refit_failed=False)
        assert np.all(np.asarray(m.multifit_output.status.data) > 0)
        got[kernel] = (np.stack([p.map["values"] for p in free], -1), np.asarray(m.fit_results.nfev))
        assert got[kernel][1].sum() <= 480
    values, nfev = got["numba"]
    m, free = _large_residual_model()
    data = m.signal.data
    x = np.arange(data.shape[1], dtype=float)

    def model(t):
        g = [t[3 * k] / (t[3 * k + 1] * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((x - t[3 * k + 2]) / t[3 * k + 1]) ** 2)
             for k in range(2)]
        return g[0] + g[1] + t[6]

    names = [p.name for p in free]
    assert names == ["A", "sigma", "centre"] * 2 + ["offset"]
    scale = np.abs(values).max(axis=0)
    for b in range(data.shape[0]):
        ref = least_squares(lambda t: model(t) - data[b], values[b] * 1.001, method="trf", x_scale="jac",
                            ftol=1e-15, xtol=1e-15, gtol=1e-15, max_nfev=2000).x
        # MINPACK's tests locate a large-residual minimum to about the square
        # root of the cost's precision (measured here: ≤ 2.1e-7 of the scale)
        assert np.max(np.abs(values[b] - ref) / scale) < 1e-6
        assert np.max(np.abs(got["numpy"][0][b] - ref) / scale) < 1e-6
