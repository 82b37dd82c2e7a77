""""lm" with ML-poisson and huber: damped Gauss–Newton on the loss
(Fisher scoring, IRLS). Truth: the minimum found by scipy's BFGS on the same
objective, and seed 000's calls with the default optimizer."""

import warnings

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.errors import FitWarning


def _poisson_peak(seed=0):
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 20, 200)
    truth = 300 / (1.5 * np.sqrt(2 * np.pi)) * np.exp(-((x - 9.0) ** 2) / (2 * 1.5**2)) + 3.0
    s = hs.signals.Signal1D(rng.poisson(truth).astype(float))
    s.axes_manager[-1].scale = x[1] - x[0]
    m = s.create_model()
    g = hs.model.components1D.Gaussian(A=200, sigma=2, centre=8.5)
    m.extend([g, hs.model.components1D.Offset(offset=1.0)])
    return m, g


@pytest.mark.parametrize("loss", ["ML-poisson", "huber"])
def test_lm_minimises_the_loss_like_bfgs(loss):
    m, g = _poisson_peak()
    kw = {"huber_delta": 2.0} if loss == "huber" else {}
    with warnings.catch_warnings():
        # at gtol 1e-10 BFGS may flag "precision loss" in its last line search;
        # its point is then still the minimum to ~1e-8, which is all we need here
        warnings.simplefilter("ignore", FitWarning)
        m.fit(optimizer="BFGS", loss_function=loss, options={"gtol": 1e-10}, **kw)
    ref = [p.value for p in m._all_parameters()]
    m, g = _poisson_peak()
    out = m.fit(loss_function=loss, **kw)
    assert out.success and out.optimizer == "lm"
    np.testing.assert_allclose([p.value for p in m._all_parameters()], ref, rtol=1e-6)


def test_seed000_gradient_examples_run_with_the_default_optimizer():
    s = hs.signals.Signal1D(np.arange(300))
    s.add_poissonian_noise(random_state=3)
    m = s.create_model()
    line = hs.model.components1D.Polynomial(order=1)
    m.append(line)
    # Use a 2-point finite-difference scheme to estimate the gradient
    m.fit(grad="fd", fd_scheme="2-point")
    fd = (line.a0.value, line.a1.value)
    # Use the analytical gradient
    m.fit(grad="analytical")
    np.testing.assert_allclose((line.a0.value, line.a1.value), fd, rtol=1e-6)
    # Huber loss and Poisson MLE functions
    # also support analytical gradients
    m.fit(grad="analytical", loss_function="huber")
    assert m.fit_output.success
    m.fit(grad="analytical", loss_function="ML-poisson")
    assert m.fit_output.success
    assert line.a1.value == pytest.approx(1.0, rel=0.02)
