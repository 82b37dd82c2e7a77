"""The compiled Faddeeva function (engines/numba/voigt.py) against mpmath and
scipy.special.wofz, region by region, and the Voigt component's compiled
value and Jacobian against the closed form through ``wofz``.
"""

import math

import mpmath  # a dependency of sympy, which swiftfit requires
import numpy as np
import pytest
from scipy import special

from swiftfit.engines.numba import voigt


def _block(z):
    """``faddeeva_block`` on points grouped by their imaginary part (as the Voigt component calls it)."""
    out = np.empty(z.size, complex)
    for y in np.unique(z.imag):
        on = z.imag == y
        wr = np.empty(on.sum())
        wi = np.empty(on.sum())
        voigt.faddeeva_block(np.ascontiguousarray(z.real[on]), float(y), wr, wi)
        out[on] = wr + 1j * wi
    return out


def _mp(z):
    with mpmath.workdps(30):
        return np.array([complex(mpmath.exp(-mpmath.mpc(v) ** 2) * mpmath.erfc(-1j * mpmath.mpc(v))) for v in z])


def _points_near_every_boundary():
    """Points on both sides of each region boundary (|z| = 6.5, 8, 15.5), in the core,
    on and near the real axis, and far out; x ≥ 0 (w(−x + iy) = conj w(x + iy)).
    """
    rng = np.random.default_rng(3)
    rad = np.concatenate([[r * (1 + e) for r in (6.5, 8.0, 15.5) for e in (-1e-9, 1e-9, -0.02, 0.02)],
                          rng.uniform(0.0, 6.5, 40), rng.uniform(6.5, 20.0, 40), [30.0, 60.0, 1e3]])
    ang = np.concatenate([[0.0, 1e-12, 1e-6, 1e-3], np.linspace(0.01, np.pi / 2, 12)])
    z = (rad[:, None] * np.exp(1j * ang[None, :])).ravel()
    return np.concatenate([z, np.abs(z.real) + 0j, np.linspace(0, 6.4, 33) + 1e-9j])


def test_faddeeva_regions_equal_mpmath():
    z = _points_near_every_boundary()
    ref = _mp(z)
    ours = _block(z)
    rel = np.abs(ours - ref) / np.abs(ref)
    worst = rel.argmax()
    print(f"worst |Δw|/|w| against mpmath: {rel[worst]:.2e} at z = {z[worst]}")
    # every region is within a few rounding errors of 30-digit arithmetic
    assert rel.max() < 3e-15, (rel.max(), z[worst])
    # the scalar entry is the same computation
    scalar = np.array([voigt.faddeeva(v) for v in z[::7]])
    np.testing.assert_array_equal(scalar, ours[::7])


def test_faddeeva_dense_grid_against_wofz():
    """Every (x, y) a Voigt of the supported ranges meets: x to ±1e3 (log and linear),
    y from 0 (Gaussian) through 1e-8 … 1e3 (Lorentzian)."""
    x = np.concatenate([-np.logspace(-3, 3, 300)[::-1], [0.0], np.logspace(-3, 3, 300), np.linspace(-30, 30, 1201)])
    y = np.concatenate([[0.0], np.logspace(-8, 3, 150), np.linspace(0, 30, 121)[1:]])
    z = (x[None, :] + 1j * y[:, None]).ravel()
    ours = _block(z)
    ref = special.wofz(z)
    rel = np.abs(ours - ref) / np.abs(ref)
    worst = rel.argmax()
    print(f"worst |Δw|/|w| against wofz on {z.size} points: {rel[worst]:.2e} at z = {z[worst]}")
    # wofz's own error reaches 2.5e-14 near |z| ≈ 8 (checked below against mpmath): the bound is its
    assert rel.max() < 3e-14, (rel.max(), z[worst])
    assert np.median(rel) < 1e-15
    # where we differ from wofz by more than 1e-14, mpmath sides with us
    far = np.flatnonzero(rel > 1e-14)[:40]
    if far.size:
        mp = _mp(z[far])
        assert (np.abs(ours[far] - mp) / np.abs(mp)).max() < 3e-15
        assert (np.abs(ref[far] - mp) / np.abs(mp)).max() > 1e-14


def test_faddeeva_far_out_does_not_overflow():
    # σ → 0 or γ/σ huge: |z| up to 1e150; w → i/(√π z) (1 + 1/(2z²))
    r = np.logspace(4, 150, 40)
    for ang in (0.0, 0.3, np.pi / 2):
        z = r * np.exp(1j * ang)
        ours = _block(z)
        ref = 1j / (math.sqrt(math.pi) * z) * (1 + 0.5 / z**2)
        np.testing.assert_allclose(ours, ref, rtol=1e-15, atol=0)


def test_faddeeva_below_the_real_axis():
    z = np.array([0.3 - 0.2j, -2.0 - 1.0j, 7.0 - 0.5j, -0.1 - 4.0j])
    ours = np.array([voigt.faddeeva(v) for v in z])
    np.testing.assert_allclose(ours, special.wofz(z), rtol=1e-13, atol=0)


def _voigt_reference(x, centre, area, gamma, sigma):
    """Value and derivatives (centre, area, gamma, sigma) of area·Re w(z)/(σ√(2π)) by wofz."""
    s = sigma * math.sqrt(2)
    z = (x - centre + 1j * gamma) / s
    w = special.wofz(z)
    dw = -2 * z * w + 2j / math.sqrt(math.pi)
    k = 1 / (sigma * math.sqrt(2 * math.pi))
    f = area * k * w.real
    return f, np.stack([-area * k * dw.real / s, k * w.real, -area * k * dw.imag / s,
                        -area * k * (w.real + (z * dw).real) / sigma])


@pytest.mark.parametrize("gamma", [3.0, 0.0, -2.0])
@pytest.mark.parametrize("shuffled", [False, True])
def test_compiled_voigt_value_and_jacobian(gamma, shuffled):
    """The component's compiled loop (weights, fixed-parameter row, unsorted x so
    regions come in many runs, γ < 0 below the real axis) against wofz."""
    rng = np.random.default_rng(1)
    x = np.linspace(-400.0, 500.0, 901)
    if shuffled:
        x = rng.permutation(x)
    q = np.array([20.0, 300.0, gamma, 4.0])
    col = np.array([0, 1, -1, 2])  # gamma fixed: its derivative goes to the scratch row P = 3
    bs = rng.uniform(0.5, 2.0, x.size)
    wt = rng.uniform(0.5, 2.0, x.size)
    lo, hi = 5, x.size - 7
    f = np.zeros(x.size)
    J = np.zeros((4, x.size))
    voigt.evaluate(q, 0, col, x, lo, hi, bs, wt, True, f, J, 3)
    ref_f, ref_J = _voigt_reference(x[lo:hi], *q)
    sn = (bs * wt)[lo:hi]
    np.testing.assert_allclose(f[lo:hi], ref_f, rtol=0, atol=1e-13 * np.abs(ref_f).max())
    for row, j in ((0, 0), (1, 1), (2, 3), (3, 2)):
        np.testing.assert_allclose(J[row, lo:hi], ref_J[j] * sn, rtol=0, atol=1e-13 * np.abs(ref_J[j] * sn).max(),
                                   err_msg=f"derivative {j}")
    assert not f[:lo].any() and not f[hi:].any() and not J[:, :lo].any() and not J[:, hi:].any()


@pytest.mark.slow
def test_faddeeva_random_points_equal_mpmath():
    """4,000 seeded points of x, y ∈ [0, 25] (half uniform, half log-uniform from 1e-6): 3e-15 of mpmath."""
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(0, 25, 2000), 10 ** rng.uniform(-6, np.log10(25), 2000)])
    y = np.concatenate([rng.uniform(0, 25, 2000), 10 ** rng.uniform(-6, np.log10(25), 2000)])
    z = x + 1j * y
    ref = _mp(z)
    rel = np.abs(_block(z) - ref) / np.abs(ref)
    print(f"worst |Δw|/|w| against mpmath on {z.size} random points: {rel.max():.2e} at z = {z[rel.argmax()]}")
    assert rel.max() < 3e-15
