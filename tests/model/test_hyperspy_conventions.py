"""``swiftfit.preferences.conventions = "hyperspy"``: each convention difference
of the README table "Differences from HyperSpy" that the switch turns into
HyperSpy's behaviour, with the number HyperSpy 2.5.0 gives (its own tests'
expectations, or closed forms), and the default left as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.components.components1d import Expression, Gaussian, Offset
from swiftfit.preferences import Preferences, preferences


@pytest.fixture
def hyperspy_conventions():
    with preferences.use("hyperspy"):
        yield


def _offset_model():
    # data 1, 3, 2, 4, 3: Offset fits the mean 2.6, chisq = 5.2 (closed form)
    s = hs.signals.Signal1D(np.array([1.0, 3.0, 2.0, 4.0, 3.0]))
    m = s.create_model()
    m.append(Offset())
    m.fit()
    return m


def test_dof_and_red_chisq(hyperspy_conventions):
    m = _offset_model()
    assert float(m.chisq.data[0]) == pytest.approx(5.2, rel=1e-12)
    assert float(m.dof.data[0]) == 1.0  # HyperSpy: the number of free parameters
    assert float(m.red_chisq.data[0]) == pytest.approx(5.2 / (5 - 1 - 1), rel=1e-12)


def test_defaults_unchanged():
    m = _offset_model()
    assert preferences.conventions == "swiftfit"
    assert float(m.dof.data[0]) == 4.0
    assert float(m.red_chisq.data[0]) == pytest.approx(5.2 / 4, rel=1e-12)
    with preferences.use("hyperspy"):
        assert float(m.dof.data[0]) == 1.0
    assert float(m.dof.data[0]) == 4.0  # the block restores the default


def test_red_chisq_with_a_variance(hyperspy_conventions):
    # Offset fitted to 1..10 with variance 2: chisq = sum((x - 5.5)^2) / 2 = 41.25
    # (closed form); HyperSpy's red_chisq = chisq / (N - k - 1) = 41.25 / 8
    s = hs.signals.Signal1D(np.arange(1.0, 11.0))
    s.set_noise_variance(hs.signals.Signal1D(np.full(10, 2.0)))
    m = s.create_model()
    m.append(Offset())
    m.fit()
    chisq = float(m.chisq.data[0])
    assert chisq == pytest.approx(np.sum((np.arange(1.0, 11) - 5.5) ** 2) / 2.0, rel=1e-10)
    assert float(m.red_chisq.data[0]) == pytest.approx(chisq / (10 - 1 - 1), rel=1e-12)


def test_estimate_range_half_open(hyperspy_conventions):
    # HyperSpy's TestOffset::test_estimate_parameters_x1_x2_path: channels 60..79 -> 10
    s = hs.signals.Signal1D(np.ones(100))
    s.axes_manager[0].scale = 0.1
    s.axes_manager[0].offset = -5
    s.data[60:80] = 10.0
    o = Offset()
    o.estimate_parameters(s, x1=1.0, x2=3.0)
    assert o.offset.value == pytest.approx(10.0, rel=1e-12)
    # a range past the axis end reaches the last channel, as isig[x1:x2] does
    o.estimate_parameters(s, x1=1.0, x2=100.0)
    assert o.offset.value == pytest.approx((20 * 10.0 + 20 * 1.0) / 40, rel=1e-12)


def test_e_is_a_parameter(hyperspy_conventions):
    # HyperSpy's TestLinearModel2D::test_model2D_polyexpression uses a parameter e
    poly = Expression("a*x**2 + b*x - c*y**2 + d*y + e", "poly")
    assert sorted(p.name for p in poly.parameters) == ["a", "b", "c", "d", "e"]
    poly.e.value = 2.0
    for name in "abcd":
        getattr(poly, name).value = 0.0
    assert float(poly.function(np.array([1.0]), np.array([1.0]))[0]) == 2.0
    assert float(Expression("E * x", "euler").function(np.array([1.0]))[0]) == pytest.approx(np.e)


def test_fetch_values_in_hyperspy_order(hyperspy_conventions):
    # HyperSpy's test_fetch_values_from_arrays: values in sorted-name order (A, centre, sigma)
    m = hs.signals.Signal1D(np.arange(10.0)).create_model()
    g = Gaussian(A=100, sigma=10, centre=3)
    m.append(g)
    m.fetch_values_from_array([1.2, 3.4, 5.6], array_std=[0.2, 2.4, 4.6])
    assert (g.A.value, g.centre.value, g.sigma.value) == (1.2, 3.4, 5.6)
    assert (g.A.std, g.centre.std, g.sigma.std) == (0.2, 2.4, 4.6)


@pytest.mark.filterwarnings("ignore:fit did not succeed")  # |centre - 2| leaves A, sigma undetermined
def test_custom_loss_values_in_hyperspy_order(hyperspy_conventions):
    # HyperSpy's TestCustomOptimization::test_custom_function: parameters[1]
    # is centre, so minimising |parameters[1] - 2| puts centre at 2
    s = hs.signals.Signal1D([1.0, 2, 3, 5, 7, 12, 8, 6, 3, 2, 2])
    m = s.create_model()
    m.append(Gaussian())

    def loss(model, parameters, data, weights=None):
        return abs(parameters[1] - 2)

    def grad(model, parameters, data, weights=None):
        return [0.0, np.sign(parameters[1] - 2), 0.0]

    m.fit(loss_function=loss, optimizer="TNC")
    np.testing.assert_allclose(m[0].centre.value, 2.0, atol=1e-6)
    m[0].centre.value = 5.0
    m.fit(loss_function=loss, grad=grad, optimizer="L-BFGS-B")
    np.testing.assert_allclose(m[0].centre.value, 2.0, atol=1e-6)
    assert m[0].sigma.value == pytest.approx(1.0)  # untouched: its gradient is 0


def test_preferences_validate_and_read_the_environment():
    with pytest.raises(ValueError, match="`conventions` must be one of"):
        Preferences("lmfit")
    code = "import swiftfit; print(swiftfit.preferences.conventions)"
    env = dict(os.environ, SWIFTFIT_CONVENTIONS="hyperspy")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "hyperspy"


def test_samfire_red_chisq_test_follows_the_model(hyperspy_conventions):
    from swiftfit.samfire.goodness import red_chisq_test

    m = _offset_model()
    assert red_chisq_test(0.5).statistic(m, ()) == pytest.approx(float(m.red_chisq.data[0]), rel=1e-12)
    assert float(m.red_chisq.data[0]) == pytest.approx(5.2 / 3, rel=1e-12)
