"""Helpers shared by the optimizer tests (not a test module).

``gauss_offset_problem``: the verification tests' problem (test_lm_checks,
test_newton_checks). ``assert_kernel_equals_numpy``: the compiled model and
Jacobian against the NumPy reference (test_fused_components, test_kern1d_fast).
"""

from __future__ import annotations

import numpy as np

import swiftfit as sf


def gauss_offset_problem(weighted: bool, B: int = 8, outliers: bool = False):
    """Poisson counts of a Gaussian on an offset (seed 7); pixel 6 has no peak,
    so its width and centre are barely determined; ``outliers``: every 23rd
    channel raised by 60 counts (for Huber)."""
    rng = np.random.default_rng(7)
    x = np.arange(100.0)
    centre = 50 + rng.uniform(-3, 3, B)
    amp = rng.uniform(200, 400, B)
    amp[6] = 0.0
    lam = 10 + amp[:, None] * np.exp(-0.5 * ((x - centre[:, None]) / 4) ** 2)
    data = rng.poisson(lam).astype(float)
    if outliers:
        data[:, ::23] += 60.0
    s = sf.signals.Signal1D(data)
    if weighted:
        s.set_noise_variance(np.maximum(data, 1.0))
    m = s.create_model()
    m.extend([sf.model.components1D.Gaussian(A=2000.0, centre=48.0, sigma=5.0),
              sf.model.components1D.Offset(offset=8.0)])
    m.assign_current_values_to_all()
    return m._problem(list(np.ndindex(*m._nav_shape)))


def assert_kernel_equals_numpy(problem, theta, low, label: str = "") -> None:
    """The compiled model and each Jacobian column equal the NumPy problem's
    to 1e-12 of that array's largest entry."""
    from swiftfit.engines.numba import lower as _fused

    F, _, _, _, J = _fused.evaluate(problem, theta, low)
    ref_f = problem.evaluate(theta)
    ref_J = problem.jacobian(theta)
    np.testing.assert_allclose(F, ref_f, rtol=0, atol=1e-12 * np.abs(ref_f).max())
    for j in range(ref_J.shape[-1]):
        np.testing.assert_allclose(J[..., j], ref_J[..., j], rtol=0, atol=1e-12 * np.abs(ref_J[..., j]).max(),
                                   err_msg=f"{label}column {j}")
