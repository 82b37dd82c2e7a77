"""The fused (numba) kernel on 2-D problems (Model2D) against the NumPy reference.

Truth: the components' NumPy ``function``/``gradients`` (``kernel="numpy"``),
themselves tested against closed forms and finite differences in
tests/components. Per component, at random parameters, the kernel's model and
Jacobian must equal NumPy's to 1e-10 relative (atol 1e-10 of the largest
value: the Gaussian2D box drops values below 3e-18 of the peak), on a raster
(the windowed, separable evaluation) and on the same pixels taken as an
arbitrary point set (the generic loop). Fitted maps must equal the reference's
to 1e-8 relative, as for 1-D (tests/optimizers/test_fused.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.engines.numba import lower as _fused
from swiftfit.engines.numba.lower_tables import _raster

pytest.importorskip("numba")
C2 = sf.model.components2D


def _spots(nav=(3, 2), size=(12, 15), seed=0, moffat=False):
    """Two Gaussian spots on a tilted plane, Gaussian noise of σ = 0.5; with
    ``moffat`` the first spot is a Moffat profile (α = 2, β = 2.5)."""
    rng = np.random.default_rng(seed)
    H, W = size
    X, Y = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    B = int(np.prod(nav))
    cx = 5.0 + rng.uniform(-0.5, 0.5, (B, 1, 1))
    cy = 6.0 + rng.uniform(-0.5, 0.5, (B, 1, 1))
    if moffat:
        first = 300 * 1.5 / (np.pi * 4.0) * (1 + ((X - cx) ** 2 + (Y - cy) ** 2) / 4.0) ** -2.5
    else:
        first = 300 * np.exp(-0.5 * (((X - cx) / 1.3) ** 2 + ((Y - cy) / 1.8) ** 2)) / (2 * np.pi * 1.3 * 1.8)
    data = (first
            + 120 * np.exp(-0.5 * (((X - 11.0) ** 2 + (Y - 3.0) ** 2) / 1.5**2)) / (2 * np.pi * 1.5**2)
            + 2.0 + 0.1 * X - 0.05 * Y + rng.normal(0, 0.5, (B, H, W)))
    return data.reshape(nav + size)


# each case: the components of a model, with starting values near _spots' truth
_CASES = {
    "gaussian2d": lambda: [C2.Gaussian2D(A=280, sigma_x=1.2, sigma_y=1.9, centre_x=5.2, centre_y=5.8),
                           C2.Offset(offset=2.5)],
    "gaussian2d_rotated": lambda: [C2.Gaussian2D(A=280, sigma_x=1.2, sigma_y=1.9, centre_x=5.2, centre_y=5.8,
                                                 add_rotation=True, rotation_angle=0.3),
                                   C2.Gaussian2D(A=100, sigma_x=1.4, sigma_y=1.6, centre_x=10.8, centre_y=3.1),
                                   C2.Polynomial2D(order=1, a00=2.0, a10=0.1, a01=-0.05)],
    "lorentzian2d": lambda: [C2.Lorentzian2D(A=280, gamma_x=1.2, gamma_y=1.9, centre_x=5.2, centre_y=5.8,
                                             add_rotation=True, rotation_angle=-0.2),
                             C2.Offset(offset=2.5)],
    "moffat2d": lambda: [C2.Moffat2D(A=280, alpha=2.0, beta=2.5, centre_x=5.2, centre_y=5.8),
                         C2.Gaussian2D(A=100, sigma_x=1.4, sigma_y=1.6, centre_x=10.8, centre_y=3.1),
                         C2.Polynomial2D(order=2, a00=2.0, a10=0.1, a01=-0.05, a20=1e-3, a11=-1e-3, a02=2e-3)],
    "sersic2d": lambda: [C2.Sersic2D(I_e=5.0, R_e=3.0, n=1.5, centre_x=5.2, centre_y=5.8, ellipticity=0.3,
                                     position_angle=0.4),
                         C2.Offset(offset=2.5)],
    "expression": lambda: [C2.Expression("h * exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * s ** 2))", name="spot",
                                         h=15.0, x0=5.2, y0=5.8, s=1.5),
                           C2.Expression("a + b * x + c * y", name="plane", a=2.0, b=0.1, c=-0.05)],
    "expression_rotated": lambda: [C2.Expression("h * exp(-(x - x0) ** 2 / (2 * sx ** 2) - (y - y0) ** 2 / (2 * sy ** 2))",
                                                 name="spot", add_rotation=True, rotation_center=("x0", "y0"),
                                                 h=15.0, sx=1.2, sy=1.9, x0=5.2, y0=5.8, rotation_angle=0.2),
                                   C2.Offset(offset=2.5)],
}


def _model(data, case, axes_scale=None):
    s = sf.signals.Signal2D(data)
    if axes_scale is not None:  # a physical raster: offset and a negative step on y
        s.axes_manager.signal_axes[0].scale, s.axes_manager.signal_axes[0].offset = axes_scale[0], 1.5
        s.axes_manager.signal_axes[1].scale, s.axes_manager.signal_axes[1].offset = axes_scale[1], 20.0
    m = s.create_model()
    m.extend(_CASES[case]())
    m.assign_current_values_to_all()
    return m


def _compare(problem, low, theta):
    F, R, G, g, J, norms = _fused.evaluate(problem, theta, low, norms=True)
    ref_f = problem.evaluate(theta)
    ref_J = problem.jacobian(theta)
    scale_f = np.abs(ref_f).max()
    np.testing.assert_allclose(F, ref_f, rtol=1e-10, atol=1e-10 * scale_f)
    np.testing.assert_allclose(R, problem.residuals(theta), rtol=1e-9, atol=1e-10 * scale_f)
    for j in range(ref_J.shape[-1]):  # per parameter: columns differ by orders of magnitude
        col = ref_J[..., j]
        np.testing.assert_allclose(J[..., j], col, rtol=1e-10, atol=1e-10 * np.abs(col).max() + 1e-300)
    # the column norms the verification of a fit takes instead of J
    np.testing.assert_allclose(norms, np.sqrt(np.einsum("bnp,bnp->bp", ref_J, ref_J)), rtol=1e-10)
    ref_G = np.einsum("bnp,bnq->bpq", ref_J, ref_J)
    np.testing.assert_allclose(G, ref_G, rtol=1e-9, atol=1e-10 * np.abs(ref_G).max())


@pytest.mark.parametrize("case", sorted(_CASES))
def test_kernel_evaluation_equals_numpy_2d(case):
    m = _model(_spots(), case)
    problem = m._problem(list(np.ndindex(*m._nav_shape)))
    low = _fused.lower(problem)
    assert low is not None, case
    assert low["grid"][:2].tolist() == [15, 12]  # the frame is recognised as a raster W × H
    rng = np.random.default_rng(1)
    theta = problem.p0 * rng.uniform(0.8, 1.2, problem.p0.shape)
    _compare(problem, low, theta)
    # the same pixels as an arbitrary point set: the generic (unwindowed) loop
    low["grid"] = np.zeros(7)
    _compare(problem, low, theta)


@pytest.mark.parametrize("twin", [False, True])
def test_spot_boxes_on_a_larger_frame(twin):
    """On 40×48 pixels the spots' boxes (9 σ) cover part of the frame: the
    Jacobian columns are boxes, a twin's column the bounding box of two, and
    the Gram matrix is summed over box intersections."""
    m = _model(_spots(size=(40, 48), seed=5), "gaussian2d_rotated")
    if twin:
        m[1].sigma_x.twin = m[0].sigma_x
        m.assign_current_values_to_all()
    problem = m._problem(list(np.ndindex(*m._nav_shape)))
    low = _fused.lower(problem)
    assert low["grid"][6] == 1  # 1920 pixels: columns kept as boxes
    theta = problem.p0 * np.random.default_rng(3).uniform(0.9, 1.1, problem.p0.shape)
    _compare(problem, low, theta)
    fits = {}
    for kernel in ("numba", "numpy"):
        m.assign_current_values_to_all()
        for c in m:
            for p in c.parameters:
                p.map["values"] = p.value
        m.multifit(kernel=kernel)
        fits[kernel] = (_all_maps(m, "values"), m._status.copy(), _all_maps(m, "std"))
    assert (fits["numpy"][1] > 0).all() and (fits["numba"][1] > 0).all()
    # the same minimum: to 1e-8 relative, or (the weakly determined plane
    # coefficients) to 1e-5 of their standard errors
    diff = np.abs(fits["numba"][0] - fits["numpy"][0])
    assert (diff <= 1e-8 * np.abs(fits["numpy"][0]) + 1e-5 * fits["numpy"][2]).all(), diff.max()


def test_raster_with_physical_axes_and_negative_step():
    m = _model(_spots(seed=3), "gaussian2d_rotated", axes_scale=(0.5, -0.25))
    m[0].centre_x.value, m[0].centre_y.value = 1.5 + 0.5 * 5.2, 20.0 - 0.25 * 5.8
    m[0].sigma_x.value, m[0].sigma_y.value = 0.6, 0.45
    m[1].centre_x.value, m[1].centre_y.value = 1.5 + 0.5 * 10.8, 20.0 - 0.25 * 3.1
    m[1].sigma_x.value, m[1].sigma_y.value = 0.7, 0.4
    m.assign_current_values_to_all()
    problem = m._problem(list(np.ndindex(*m._nav_shape)))
    low = _fused.lower(problem)
    np.testing.assert_allclose(low["grid"], [15, 12, 1.5, 0.5, 20.0, -0.25, 0])
    _compare(problem, low, problem.p0 * np.random.default_rng(2).uniform(0.9, 1.1, problem.p0.shape))


def test_raster_detection_refuses_point_sets():
    x, y = np.meshgrid(np.arange(4.0), np.arange(3.0))
    assert _raster(x.ravel(), y.ravel()).tolist() == [4, 3, 0, 1, 0, 1, 0]
    shuffled = np.random.default_rng(0).permutation(12)
    assert not _raster(x.ravel()[shuffled], y.ravel()[shuffled]).any()
    xs = x.ravel().copy()
    xs[5] += 0.01  # one pixel off the grid
    assert not _raster(xs, y.ravel()).any()


def _all_maps(m, field):
    return np.stack([p.map[field] for c in m for p in c.parameters if p.free or p.twin is not None], -1)


@pytest.mark.parametrize("case", ["gaussian2d", "gaussian2d_rotated", "moffat2d", "expression"])
def test_fast_multifit_2d_equals_numpy_reference(case):
    data = _spots(seed=4, moffat=case == "moffat2d")
    out = {}
    for kernel in ("numba", "numpy"):
        m = _model(data, case)
        m.multifit(kernel=kernel)  # "numba" raises if the problem is not lowered
        out[kernel] = (_all_maps(m, "values"), _all_maps(m, "std"), m._status.copy(), m._chisq.copy())
        if kernel == "numba":
            assert not np.asarray(m.multifit_output.slow_path.data).any()
    fast, ref = out["numba"], out["numpy"]
    assert (ref[2] > 0).all() and (fast[2] > 0).all()
    np.testing.assert_allclose(fast[0], ref[0], rtol=1e-8)
    np.testing.assert_allclose(fast[1], ref[1], rtol=1e-8)
    np.testing.assert_allclose(fast[3], ref[3], rtol=1e-10)


def test_gpufit_roi_twin_sigma_fits_truth():
    """Gpufit's GAUSS_2D on 5×5 ROIs (sigma_y twinned to sigma_x, an offset):
    the compiled fit recovers the simulated centres (Poisson noise, a = 500)
    to the Cramér–Rao scale, and equals the NumPy reference."""
    rng = np.random.default_rng(7)
    n = 40
    X, Y = np.meshgrid(np.arange(5.0), np.arange(5.0))
    cx, cy = 2 + rng.uniform(-0.5, 0.5, (2, n, 1, 1))
    data = rng.poisson(500 * np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / 2.0) + 10).astype(float)
    out = {}
    for kernel in ("numba", "numpy"):
        m = sf.signals.Signal2D(data).create_model()
        g = C2.Gaussian2D(A=500 * 2 * np.pi * 1.1, sigma_x=1.1, centre_x=2.1, centre_y=1.9)
        m.extend([g, C2.Offset(offset=12.0)])
        g.sigma_y.twin = g.sigma_x
        m.assign_current_values_to_all()
        m.multifit(kernel=kernel)
        out[kernel] = np.stack([g.centre_x.map["values"], g.centre_y.map["values"]], -1)
        assert (m._status > 0).all()
    np.testing.assert_allclose(out["numba"], out["numpy"], rtol=1e-8)
    err = out["numba"] - np.stack([cx.ravel(), cy.ravel()], -1)
    assert np.median(np.abs(err)) < 0.05  # the Cramér–Rao bound here is ~0.03 px


def test_sersic_bn_equals_scipy():
    """The kernel's b_n (Newton on the incomplete-gamma series) and db_n/dn
    against the reference (scipy's gammaincinv and the series of
    components.galaxy), 1e-12 relative, n from 0.2 to 20."""
    from swiftfit.components.galaxy import sersic_bn
    from swiftfit.engines.numba.model2d import sersic_bn as kernel_bn

    for n in (0.2, 0.5, 0.8, 1.0, 1.7, 4.0, 8.0, 20.0):
        b, db = sersic_bn(n, derivative=True)
        kb, kdb = kernel_bn(n)
        assert abs(kb - b) <= 1e-12 * b, (n, kb, b)
        assert abs(kdb - db) <= 1e-11 * abs(db), (n, kdb, db)


def test_sersic_fit_equals_numpy_reference():
    """A Sersic galaxy (n = 1.5, ellipticity 0.3, turned by 0.4 rad) on 20×24
    pixels: compiled and NumPy fits land on the same minimum (1e-8
    relative), near the simulated truth."""
    rng = np.random.default_rng(11)
    X, Y = np.meshgrid(np.arange(24.0), np.arange(20.0))
    truth = dict(I_e=5.0, R_e=3.0, n=1.5, centre_x=11.3, centre_y=9.6, ellipticity=0.3, position_angle=0.4)
    clean = C2.Sersic2D(**truth).function(X, Y) + 1.0
    data = clean + rng.normal(0, 0.05, (4,) + X.shape)
    out = {}
    for kernel in ("numba", "numpy"):
        m = sf.signals.Signal2D(data).create_model()
        m.extend([C2.Sersic2D(I_e=4.0, R_e=3.3, n=1.3, centre_x=11.0, centre_y=9.9, ellipticity=0.25,
                              position_angle=0.3), C2.Offset(offset=0.8)])
        m.assign_current_values_to_all()
        m.multifit(kernel=kernel)
        assert (m._status > 0).all()
        out[kernel] = _all_maps(m, "values")
    np.testing.assert_allclose(out["numba"], out["numpy"], rtol=1e-8)
    np.testing.assert_allclose(np.median(out["numba"][:, 2]), truth["n"], rtol=0.05)


@pytest.mark.parametrize("weighted", [False, True])
def test_kernel_checks_on_boxes_equal_numpy_verification(weighted):
    """The verification's inputs the kernel computes at the end of each fit
    (``lower.checks``: the same ``_check_point``) on a 40×48 frame whose
    Jacobian columns are boxes (a twin's column the bounding box of two): the
    Gram matrix summed over box intersections equals ``JwᵀJw`` of NumPy's
    dense Jacobian to 1e-12 of its columns' norms, ``Σ (w·model)²`` to 1e-10,
    and the verification built on them gives NumPy's statuses and Newton gaps
    (which use the unweighted columns' norms, here summed over the boxes) to
    1e-8 — also at a pixel moved off its minimum, which both call
    NOT_A_MINIMUM. A fit's own checks equal those recomputed at its answer."""
    from swiftfit import losses
    from swiftfit.optimizers.lm import levenberg_marquardt
    from swiftfit.problem.problem import relevance
    from swiftfit.problem.solution import Status
    from swiftfit.problem.verify import verify

    data = _spots(nav=(2, 2), size=(40, 48), seed=5)
    s = sf.signals.Signal2D(data)
    if weighted:
        s.set_noise_variance(np.abs(data) + 0.25)
    m = s.create_model()
    m.extend(_CASES["gaussian2d_rotated"]())
    m[1].sigma_x.twin = m[0].sigma_x
    m.assign_current_values_to_all()
    problem = m._problem(list(np.ndindex(*m._nav_shape)))
    low = _fused.lower(problem)
    assert low["grid"][6] == 1  # 1920 pixels: columns kept as boxes
    sol = levenberg_marquardt(problem, losses.get("ls"))
    assert sol.info["kernel"] == "numba" and (sol.status > 0).all()
    again = _fused.checks(problem, sol.theta, low)
    for key in ("gram", "model_sq", "relevant"):
        np.testing.assert_array_equal(sol.info["checks"][key], again[key])
    # the fit's Newton gap takes the inverse from its last iteration's factor (scaled by the running
    # column maxima, lm_linalg._cov_reuse), the recomputation a fresh Cholesky: a few roundings apart
    np.testing.assert_allclose(sol.info["checks"]["gap"], again["gap"], rtol=1e-12, atol=0)
    theta = sol.theta.copy()
    theta[2, 3] += 0.3  # a spot's centre off its minimum
    got = _fused.checks(problem, theta, low)
    J = problem.jacobian(theta)
    Jw = J if problem.weights is None else J * problem.weights[:, :, None]
    gram = Jw.transpose(0, 2, 1) @ Jw
    scale = np.sqrt(np.einsum("bii->bi", gram))
    scale = scale[:, :, None] * scale[:, None, :]
    np.testing.assert_allclose(got["gram"] / scale, gram / scale, rtol=0, atol=1e-12)
    wm = problem.evaluate(theta) * (1 if problem.weights is None else problem.weights)
    np.testing.assert_allclose(got["model_sq"], np.einsum("bn,bn->b", wm, wm), rtol=1e-10)
    rel = relevance(problem, theta)
    np.testing.assert_array_equal(got["relevant"], rel)
    status = np.ones(problem.B, dtype=int)
    ref_status, ref_gap = verify(problem, losses.get("ls"), theta, status, rel)
    fast_status, fast_gap = verify(problem, losses.get("ls"), theta, status, rel, checks=got)
    np.testing.assert_array_equal(fast_status, ref_status)
    np.testing.assert_allclose(fast_gap, ref_gap, rtol=1e-8, atol=1e-12)
    assert ref_status[2] == Status.NOT_A_MINIMUM and (np.delete(ref_status, 2) > 0).all()
