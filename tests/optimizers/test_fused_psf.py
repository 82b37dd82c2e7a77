"""Model2D's PSF convolution (and oversampling) in the compiled kernel
(engines/numba/psf.py) against the NumPy path (model/psf.py's ImageOperator).

Truth: the NumPy path — components evaluated on the padded grid, scipy's FFT
``valid`` convolution — itself tested against scipy's direct convolution and
simulations in tests/model/test_psf.py. The kernel's model, Jacobian and Gram
matrix must equal it to 1e-10 relative (the tolerances of
tests/optimizers/test_fused_2d.py), and fitted maps, standard errors and χ² to
1e-8, 1e-8 and 1e-10 relative (test_fused_2d's multifit test), with no pixel
on a slow path. The data: Gaussian2D spots, one 0.6 px from the frame's edge,
convolved with a Gaussian PSF (odd and even sizes) by the NumPy path, plus
Gaussian noise (seeded).
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.engines.numba import lower as _fused

pytest.importorskip("numba")
C2 = sf.model.components2D

# a spot in the frame and one 0.6 px from its left edge (half its light comes from the padding)
_TRUTH = [(300.0, 1.3, 1.6, 6.2, 5.4), (120.0, 1.1, 1.2, 0.6, 9.3)]


def _gauss_psf(k, s=1.1):
    a = np.arange(k) - (k - 1) / 2  # an even size is centred between pixels
    p = np.exp(-0.5 * (a[:, None] ** 2 + (a[None, :] / 1.2) ** 2) / s**2)
    return p / p.sum()


def _components(truth=False):
    rng = np.random.default_rng(11)
    comps = []
    for A, sx, sy, cx, cy in _TRUTH:
        f = 1.0 if truth else rng.uniform(0.9, 1.1, 5)
        comps.append(C2.Gaussian2D(A=A * (f if truth else f[0]), sigma_x=sx * (f if truth else f[1]),
                                   sigma_y=sy * (f if truth else f[2]), centre_x=cx + (0 if truth else 0.2),
                                   centre_y=cy - (0 if truth else 0.15)))
    comps.append(C2.Offset(offset=2.0 if truth else 2.3))
    return comps


def _data(psf, nav=(2, 3), size=(14, 17), oversampling=1, seed=0):
    """The truth convolved by the NumPy path, plus N(0, 0.3²) noise."""
    m = sf.signals.Signal2D(np.zeros(size)).create_model()
    m.extend(_components(truth=True))
    m.set_psf(psf, oversampling=oversampling)
    clean = m.as_signal().data
    rng = np.random.default_rng(seed)
    return clean + rng.normal(0, 0.3, nav + size)


def _model(data, psf, oversampling=1):
    m = sf.signals.Signal2D(data).create_model()
    m.extend(_components())
    m.set_psf(psf, oversampling=oversampling)
    m.assign_current_values_to_all()
    return m


def _compare(problem, low, theta):
    F, R, G, g, J = _fused.evaluate(problem, theta, low)
    ref_f, ref_J = problem.evaluate(theta), problem.jacobian(theta)
    np.testing.assert_allclose(F, ref_f, rtol=1e-10, atol=1e-10 * np.abs(ref_f).max())
    np.testing.assert_allclose(R, problem.residuals(theta), rtol=1e-9, atol=1e-10 * np.abs(ref_f).max())
    for j in range(ref_J.shape[-1]):
        col = ref_J[..., j]
        np.testing.assert_allclose(J[..., j], col, rtol=1e-10, atol=1e-10 * np.abs(col).max() + 1e-300,
                                   err_msg=f"column {j}")
    ref_G = np.einsum("bnp,bnq->bpq", ref_J, ref_J)
    np.testing.assert_allclose(G, ref_G, rtol=1e-9, atol=1e-10 * np.abs(ref_G).max())


@pytest.mark.parametrize(("k", "oversampling", "size"), [(5, 1, (14, 17)), (4, 1, (14, 17)), (7, 2, (14, 17)),
                                                         (6, 1, (33, 36))])
def test_kernel_evaluation_with_psf_equals_numpy(k, oversampling, size):
    """Odd and even PSFs, oversampling 2, and a 33×36 frame (≥ 1024 pixels:
    Jacobian columns kept as boxes, the Gram matrix over their intersections)."""
    psf = _gauss_psf(k)
    m = _model(_data(psf, size=size, oversampling=oversampling), psf, oversampling)
    problem = m._problem(list(np.ndindex(*m._nav_shape)))
    assert problem.transform is not None
    low = _fused.lower(problem)
    assert low is not None, _fused.why_not(problem)
    assert low["grid"][:2].tolist() == [size[1], size[0]]  # the image's raster, not the padded grid's
    assert low["grid"][6] == (1 if size[0] * size[1] >= 1024 else 0)
    assert low["ex"][10][:3].tolist() == [k, k, oversampling]  # the PSF's size, the oversampling
    theta = problem.p0 * np.random.default_rng(1).uniform(0.9, 1.1, problem.p0.shape)
    _compare(problem, low, theta)


def test_kernel_evaluation_with_psf_and_masked_pixels_equals_numpy():
    """Pixels switched off (a row and one pixel): the data points are the kept
    pixels, in order; the model is still convolved over the whole padded frame."""
    psf = _gauss_psf(3)
    m = _model(_data(psf), psf)
    m._channel_switches[0, :] = False
    m._channel_switches[6, 4] = False
    problem = m._problem(list(np.ndindex(*m._nav_shape)))
    low = _fused.lower(problem)
    assert low is not None and problem.N == 14 * 17 - 18
    assert not low["grid"].any()  # not a whole raster: flat ranges
    _compare(problem, low, problem.p0 * np.random.default_rng(2).uniform(0.9, 1.1, problem.p0.shape))


def _maps(m, field):
    return np.stack([p.map[field] for c in m for p in c.parameters if p.free], -1)


@pytest.mark.parametrize("k", [5, 4])
def test_psf_multifit_compiled_equals_numpy(k):
    """The compiled multifit (``kernel="numba"`` raises when a problem is not
    lowered) equals the NumPy path: values 1e-8, standard errors 1e-8, χ²
    1e-10 relative; no slow-path pixel. And the truth is recovered: the
    centres to 4 standard errors."""
    psf = _gauss_psf(k)
    data = _data(psf, seed=k)
    out = {}
    for kernel in ("numba", "numpy"):
        m = _model(data, psf)
        m.multifit(kernel=kernel)
        out[kernel] = _maps(m, "values"), _maps(m, "std"), m._status.copy(), m._chisq.copy()
        if kernel == "numba":
            assert int(np.asarray(m.multifit_output.slow_path.data).sum()) == 0
    fast, ref = out["numba"], out["numpy"]
    assert (ref[2] > 0).all() and (fast[2] > 0).all()
    np.testing.assert_allclose(fast[0], ref[0], rtol=1e-8)
    np.testing.assert_allclose(fast[1], ref[1], rtol=1e-8)
    np.testing.assert_allclose(fast[3], ref[3], rtol=1e-10)
    # the truth, to 4 standard errors: the spots' centres, the edge one's too
    for i, (_, _, _, cx, cy) in enumerate(_TRUTH):
        for j, c in ((5 * i + 3, cx), (5 * i + 4, cy)):
            assert (np.abs(fast[0][..., j] - c) < 4 * fast[1][..., j]).all(), (j, fast[0][..., j], fast[1][..., j])


def test_psf_with_oversampling_multifit_compiled_equals_numpy():
    psf = _gauss_psf(3)
    data = _data(psf, nav=(3,), oversampling=3, seed=5)
    out = {}
    for kernel in ("numba", "numpy"):
        m = _model(data, psf, oversampling=3)
        m.multifit(kernel=kernel)
        out[kernel] = _maps(m, "values"), _maps(m, "std"), m._chisq.copy()
    np.testing.assert_allclose(out["numba"][0], out["numpy"][0], rtol=1e-8)
    np.testing.assert_allclose(out["numba"][1], out["numpy"][1], rtol=1e-8)
    np.testing.assert_allclose(out["numba"][2], out["numpy"][2], rtol=1e-10)


def test_other_operators_are_refused_with_their_reason():
    """An operator that is not Model2D's PSF (here a plain function, as the
    EELS low-loss convolution's per-pixel operator) stays on the NumPy path."""
    m = _model(_data(_gauss_psf(3)), _gauss_psf(3))
    problem = m._problem(list(np.ndindex(*m._nav_shape)))
    op = problem.transform
    problem.transform = lambda values: op(values)
    why = _fused.why_not(problem)
    assert why is not None and "operator other than Model2D's PSF" in why
