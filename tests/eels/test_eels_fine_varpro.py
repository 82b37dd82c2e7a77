"""EELS fine structure by variable projection (swiftfit.eels.fine_varpro) and the
parallel compiled kernel.

Truths: the NumPy Levenberg–Marquardt path (``kernel="numpy"``) on the same
problem — the same minimum of the same χ² over the user's parameters
(intensities and 2 × 49 spline coefficients) — and, for the parallel kernel,
the same kernel on one thread.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_eels_varpro import _image

pytestmark = pytest.mark.usefixtures("quiet_peers")


def _free_maps(m, what):
    return np.stack([p.map[what] for c in m for p in c.parameters if p.free])


@pytest.mark.parametrize("low_loss", [False, True], ids=["plain", "convolved"])
def test_fine_structure_varpro_equals_the_lm_path(low_loss):
    """2×2 pixels, both edges' fine structure free (2 × 49 coefficients): varpro over
    (A, I, I·a_k) with the exponent searched, mapped back, is LM's minimum over
    (A, r, I, a_k): every value within 1e-4 of its standard error, A, r and the
    intensities to 1e-7 relative, standard errors to 1e-6, χ² to 1e-12."""
    s, low, _ = _image(2, low_loss)
    fits = []
    for kernel in ("auto", "numpy"):
        m = s.create_model(low_loss=low)
        m.enable_fine_structure()
        m.multifit(kernel=kernel)
        assert m.multifit_output.success.data.all()
        fits.append(m)
    vp, lm = fits
    assert vp.multifit_output.varpro.data.all() and not lm.multifit_output.varpro.data.any()
    v, ref = _free_maps(vp, "values"), _free_maps(lm, "values")
    std, ref_std = _free_maps(vp, "std"), _free_maps(lm, "std")
    # measured (plain / convolved): 1.7e-7 / 3.9e-7 of σ (values), 1.4e-9 / 4.8e-9
    # relative (A, r, intensities), 1.4e-9 / 4.9e-9 (standard errors), 8.7e-15 (χ²,
    # each path summing its own residuals: rounding)
    assert np.max(np.abs(v - ref) / ref_std) < 1e-4
    main = [0, 1, 2, 2 + 49 + 1]  # A, r, O_K intensity, Mn_L3 intensity (free order)
    np.testing.assert_allclose(v[main], ref[main], rtol=1e-7)
    np.testing.assert_allclose(std, ref_std, rtol=1e-6)
    np.testing.assert_allclose(vp.multifit_output.chisq.data, lm.multifit_output.chisq.data, rtol=1e-12)


def test_parallel_kernel_equals_one_thread():
    """The compiled kernel runs blocks of pixels in parallel; each pixel's answer is the
    one the kernel gives on one thread, bit for bit (values, χ², covariance, statuses)."""
    numba = pytest.importorskip("numba")
    from swiftfit.optimizers.varpro import varpro

    s, low, _ = _image(5, True)
    m = s.create_model(low_loss=low)
    problem = m._problem([(i, j) for i in range(5) for j in range(5)])
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = varpro(problem)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = varpro(problem)
    finally:
        numba.set_num_threads(before)
    assert (one.status > 0).all()
    for a, b in ((one.theta, many.theta), (one.info["chisq"], many.info["chisq"]), (one.covariance, many.covariance),
                 (one.status, many.status), (one.info["checks"]["gap"], many.info["checks"]["gap"])):
        np.testing.assert_array_equal(a, b)
