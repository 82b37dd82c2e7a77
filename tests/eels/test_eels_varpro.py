"""Variable projection (swiftfit.optimizers.varpro) on EELS spectrum images and
a generic model: the same minimum as the Levenberg–Marquardt path and exspy.

Truths: the NumPy Levenberg–Marquardt path (``kernel="numpy"``) on the same
problem, exspy's own ``multifit`` on the same counts, and a scipy
``least_squares`` run to its tightest tolerances for the minimum itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from eels_data import CORELOSS, LOWLOSS, load_msa

import swiftfit
from swiftfit.errors import OptimizerError
from swiftfit.model import components1D

pytestmark = pytest.mark.usefixtures("quiet_peers")

_ROOT = Path(__file__).resolve().parents[2]
_PARAMS = (("PowerLaw", "A"), ("PowerLaw", "r"), ("O_K", "intensity"), ("Mn_L3", "intensity"))


def _bench():
    sys.path.insert(0, str(_ROOT / "benchmarks"))
    try:
        import eels as bench
    finally:
        sys.path.pop(0)
    return bench


def _image(size, low_loss, seed=0):
    """The benchmark's spectrum image (the model's own shapes, per-pixel scales, Poisson noise)."""
    bench = _bench()
    counts, lls, truth, cl, ll, _ = bench.make_data(size, low_loss, seed=seed)
    from swiftfit.eels import EELSSpectrum

    s = EELSSpectrum(counts, axes=bench._axes(cl, 2))
    s.add_elements(("Mn", "O"))
    s.set_microscope_parameters(beam_energy=300, convergence_angle=24.6, collection_angle=13.6)
    low = EELSSpectrum(lls, axes=bench._axes(ll, 2)) if low_loss else None
    return s, low, (counts, lls, cl, ll)


def _maps(m, what="values"):
    return np.stack([m[c].__getattribute__(p).map[what] for c, p in _PARAMS])


@pytest.mark.parametrize("low_loss", [False, True], ids=["plain", "convolved"])
def test_multifit_varpro_equals_the_lm_path(low_loss):
    """4×4 pixels: varpro (the default) and plain LM (kernel="numpy") reach the same
    minimum — values, standard errors and χ² — and multifit_output says which ran."""
    s, low, _ = _image(4, low_loss)
    m = s.create_model(low_loss=low)
    m.multifit()
    ref = s.create_model(low_loss=low)
    ref.multifit(kernel="numpy")
    out, out_ref = m.multifit_output, ref.multifit_output
    assert out.success.data.all() and out_ref.success.data.all()
    assert out.varpro.data.all() and not out_ref.varpro.data.any()
    # measured: values 1.4e-9 (plain) / 1.5e-9 (convolved), std 1.5e-9, chisq 3e-14
    np.testing.assert_allclose(_maps(m), _maps(ref), rtol=1e-7)
    np.testing.assert_allclose(_maps(m, "std"), _maps(ref, "std"), rtol=1e-7)
    np.testing.assert_allclose(out.chisq.data, out_ref.chisq.data, rtol=1e-10)
    # the answer is at least as good a minimum as LM's (χ² not above it beyond rounding)
    assert np.all(out.chisq.data <= out_ref.chisq.data * (1 + 1e-12))


def test_varpro_minimum_equals_lm_and_scipy():
    """The real Mn/O spectrum (exspy's coreloss_spectrum.msa), one fit: varpro's answer
    equals the NumPy LM path's to 1e-8 and is a minimum for scipy's least_squares (lm,
    tolerances 1e-15): started there, scipy finds no lower χ²; started from the estimate,
    it ends at the same χ² (1e-13), its A within 1e-7 (how flat χ² is in A, correlated
    with r: measured 2.8e-8 between two points of equal χ² to 16 digits)."""
    from scipy.optimize import least_squares

    from swiftfit.optimizers.lm import levenberg_marquardt

    s = load_msa(CORELOSS)
    s.add_elements(("Mn", "O"))
    s.set_microscope_parameters(beam_energy=300, convergence_angle=24.6, collection_angle=13.6)
    m = s.create_model()
    problem = m._problem([()])
    m.fit()
    assert m.fit_output.success
    # theta's columns are A, r, O_K intensity, Mn_L3 intensity (the free parameters in model order)
    assert problem.names == ["PowerLaw.A", "PowerLaw.r", "O_K.intensity", "Mn_L3.intensity"]
    ours = np.array([m[c].__getattribute__(p).value for c, p in _PARAMS])
    lm = levenberg_marquardt(problem, kernel="numpy").theta[0]
    np.testing.assert_allclose(ours, lm, rtol=1e-8)  # measured 6.8e-10

    def chisq(t):
        return float((problem.residuals(t[None]) ** 2).sum())

    def scipy_from(t0):
        return least_squares(lambda t: problem.residuals(t[None])[0], t0, method="lm", ftol=1e-15, xtol=1e-15,
                             gtol=1e-15, x_scale="jac").x

    # started there, scipy ends at the same χ² (to 16 digits), within the valley's
    # flatness in A: measured 0 with the old kernel, 2.8e-8 from the compiled kernel's
    # point (whose χ² is 2.7e-16 lower than the old one's)
    there = scipy_from(ours)
    assert chisq(ours) <= chisq(there) * (1 + 1e-15)
    np.testing.assert_allclose(there, ours, rtol=1e-7)
    ref = scipy_from(problem.p0[0])
    assert chisq(ours) <= chisq(ref) * (1 + 1e-13)
    np.testing.assert_allclose(ours, ref, rtol=1e-7)


def test_multifit_varpro_equals_exspy():
    """3×3 pixels of the benchmark image (plain and convolved): the fitted values equal
    exspy's multifit within 10× the spread between exspy's own "lm" and "trf" optimizers
    on the Mn/O spectrum (README: up to 5e-5; 4e-4 convolved)."""
    bench = _bench()
    for low_loss, tol in ((False, 5e-4), (True, 4e-3)):
        s, low, (counts, lls, cl, ll) = _image(3, low_loss)
        m = s.create_model(low_loss=low)
        m.multifit()
        assert m.multifit_output.varpro.data.all()
        xm, _, _ = bench.fit_exspy(counts, lls, cl, ll, False, 9)
        for c, p in _PARAMS:
            ours = m[c].__getattribute__(p).map["values"].ravel()
            ref = np.ravel(xm[c].__getattribute__(p).map["values"])
            # measured max 6.7e-9 (A, plain and convolved), 9e-10 for the intensities
            np.testing.assert_allclose(ours, ref, rtol=tol)


def test_bounded_pixels_outside_the_box_go_to_lm():
    """Counts with no O K edge: its unconstrained best intensity is negative, so with
    bounded=True (positivity, exspy's rule) varpro hands the pixel to LM, whose answer
    on the bound equals the plain LM path's."""
    s, _, _ = _image(2, False)
    m0 = s.create_model()
    m0.multifit()
    m0["O_K"].intensity.map["values"][:] = 0.0
    m0["Mn_L3"].intensity.map["values"][:] = m0["Mn_L3"].intensity.map["values"]
    shapes = []
    for ix in np.ndindex(2, 2):
        m0.axes_manager.indices = ix[::-1]
        shapes.append(m0())
    m0["O_K"].intensity.value = 1.0
    rng = np.random.default_rng(1)
    data = np.array(shapes).reshape(2, 2, -1)
    data = data - 0.02 * m0["O_K"].intensity.map["values"].max() - 0.01 * data.mean()  # pull O K negative
    data += rng.normal(0, 1, data.shape)
    s.data = data
    m = s.create_model()
    m.multifit(bounded=True)
    ref = s.create_model()
    ref.multifit(bounded=True, kernel="numpy")
    assert m.multifit_output.success.data.all()
    np.testing.assert_allclose(_maps(m), _maps(ref), rtol=1e-6, atol=1e-12)
    assert (m["O_K"].intensity.map["values"] >= 0).all()


def test_fine_structure_takes_varpro_and_free_onsets_the_lm_path():
    """98 fine-structure coefficients: varpro over the intensities × coefficients
    (swiftfit.eels.fine_varpro; compared with LM in test_eels_fine_varpro.py); free
    onsets: not varpro (said in multifit_output)."""
    s, _, _ = _image(2, False)
    m = s.create_model()
    m.enable_fine_structure()
    m.multifit()
    assert m.multifit_output.varpro.data.all()
    m2 = s.create_model()
    m2.enable_free_onset_energy()
    m2.multifit(bounded=True, max_nfev=5)
    assert not m2.multifit_output.varpro.data.any()


def test_varpro_optimizer_on_a_generic_model():
    """optimizer="varpro" on Gaussian + Offset (A and offset linear, centre and sigma not):
    the same minimum as Levenberg–Marquardt on 20 noisy pixels, from poor amplitude starts."""
    x = np.linspace(-10, 10, 201)
    rng = np.random.default_rng(3)
    A = rng.uniform(50, 150, 20)
    mu = rng.uniform(-1, 1, 20)
    data = A[:, None] * np.exp(-0.5 * ((x - mu[:, None]) / 1.5) ** 2) + 5 + rng.normal(0, 1, (20, x.size))
    s = swiftfit.signals.Signal1D(data)
    s.axes_manager[-1].offset, s.axes_manager[-1].scale = x[0], x[1] - x[0]
    out = []
    for opt in ("varpro", "lm"):
        m = s.create_model()
        g = components1D.Gaussian(A=1.0, centre=0.0, sigma=2.0)
        m.extend([g, components1D.Offset(offset=0.0)])
        m.multifit(optimizer=opt)
        assert m.multifit_output.success.data.all()
        out.append(np.stack([g.A.map["values"], g.centre.map["values"], g.sigma.map["values"],
                             m[1].offset.map["values"], m.multifit_output.chisq.data]))
    np.testing.assert_allclose(out[0], out[1], rtol=1e-7)  # measured 3.6e-10


def test_varpro_refuses_a_model_without_linear_parameters():
    x = np.linspace(1, 10, 50)
    s = swiftfit.signals.Signal1D(np.exp(-x / 3))
    m = s.create_model()
    e = components1D.Expression("exp(-x / t)", name="e", t=2.0)
    m.append(e)
    with pytest.raises(OptimizerError, match="varpro needs least squares"):
        m.fit(optimizer="varpro")


def test_lowloss_msa_is_present():
    """The real low-loss spectrum the convolved cases scale per pixel."""
    assert load_msa(LOWLOSS).data.size > 0


@pytest.mark.parametrize("low_loss", [False, True], ids=["plain", "convolved"])
def test_compiled_kernel_equals_numpy_varpro(low_loss):
    """The numba kernel for one power law over constant columns against the NumPy
    varpro it is tested against (same iteration): same answer, status and χ²."""
    pytest.importorskip("numba")
    from swiftfit.optimizers.varpro import varpro

    s, low, _ = _image(4, low_loss)
    m = s.create_model(low_loss=low)
    problem = m._problem([(i, j) for i in range(4) for j in range(4)])
    fast = varpro(problem)
    ref = varpro(problem, kernel="numpy")
    assert (fast.status > 0).all() and (ref.status > 0).all()
    # measured 2.5e-11 (theta), 1.3e-14 (chisq), 2.1e-10 (covariance)
    np.testing.assert_allclose(fast.theta, ref.theta, rtol=1e-7)
    np.testing.assert_allclose(fast.info["chisq"], ref.info["chisq"], rtol=1e-12)
    np.testing.assert_allclose(fast.covariance, ref.covariance, rtol=1e-6)


def test_weighted_varpro_equals_the_lm_path():
    """With a noise variance (Poisson: the counts, at least 1) the fit is weighted; the
    compiled kernel's weighted columns give LM's weighted minimum."""
    s, _, _ = _image(3, False)
    s.set_noise_variance(np.maximum(s.data, 1.0))
    m = s.create_model()
    m.multifit()
    ref = s.create_model()
    ref.multifit(kernel="numpy")
    assert m.multifit_output.varpro.data.all() and m.multifit_output.success.data.all()
    np.testing.assert_allclose(_maps(m), _maps(ref), rtol=1e-7)  # measured 1.2e-9
    np.testing.assert_allclose(_maps(m, "std"), _maps(ref, "std"), rtol=1e-7)
    np.testing.assert_allclose(m.multifit_output.chisq.data, ref.multifit_output.chisq.data, rtol=1e-10)
