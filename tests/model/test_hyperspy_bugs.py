"""Regression tests for the five bugs issue 18 found by running HyperSpy 2.5.0's
own tests against swiftfit. Each failed on commit b21fb35."""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.components.components1d import Gaussian, Polynomial

X = np.arange(200.0)
TRUE = {"A": 1000.0, "sigma": 10.0, "centre": 100.0}


def _signal(n_pixels=None, seed=0):
    rng = np.random.default_rng(seed)
    clean = Gaussian(**TRUE).function(X)
    shape = (X.size,) if n_pixels is None else (n_pixels, X.size)
    return hs.signals.Signal1D(clean + rng.normal(0.0, 2.0, shape))


def test_value_after_map_reset_to_none():
    # bug 1: `p.map = None` then `p.value = 2.0` raised TypeError
    p = Gaussian().A
    p.map = None
    p.value = 2.0
    assert p.value == 2.0
    assert p.map.shape == (1,) and p.map["values"][0] == 2.0


def test_estimate_parameters_after_map_reset_to_none():
    # bug 2: estimate_parameters on a component whose maps were reset to None
    # raised AttributeError. The estimate of a noise-free Gaussian is its truth
    # to within the moment estimator's discretisation (0.5 %).
    s = hs.signals.Signal1D(Gaussian(**TRUE).function(X))
    g = Gaussian()
    for p in g.parameters:
        p.map = None
    assert g.estimate_parameters(s, 0.0, 199.0, only_current=True)
    for name, truth in TRUE.items():
        assert getattr(g, name).value == pytest.approx(truth, rel=5e-3)


def test_huber_delta_none_is_the_default_delta():
    # bug 3: fit(loss_function="huber", huber_delta=None) raised TypeError;
    # HyperSpy reads None as its default delta, 1.0
    results = []
    for delta in (None, 1.0):
        m = _signal().create_model()
        m.append(Gaussian(A=900.0, sigma=8.0, centre=95.0))
        m.fit(loss_function="huber", huber_delta=delta)
        results.append([p.value for p in m[0].parameters])
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


@pytest.mark.parametrize("n_pixels", [None, 3])
def test_isig_slices_recompute_chisq(n_pixels):
    # bug 4: m.isig[...] kept the parent's χ² instead of recomputing it over
    # the slice; the two halves' χ² add up to the parent's (closed form: χ² is a
    # sum over channels), and each is the sum of squared residuals of its half
    m = _signal(n_pixels).create_model()
    m.append(Gaussian(A=900.0, sigma=8.0, centre=95.0))
    if n_pixels is None:
        m.fit()
    else:
        m.multifit()
    left, right = m.isig[:100], m.isig[100:]
    np.testing.assert_allclose(left.chisq.data + right.chisq.data, m.chisq.data, rtol=1e-10)
    data = np.atleast_2d(m.signal.data)
    model = np.atleast_2d(m.as_signal().data)
    expected = ((data - model)[:, :100] ** 2).sum(axis=1)
    np.testing.assert_allclose(np.atleast_1d(left.chisq.data), expected, rtol=1e-10)
    assert np.all(left.dof.data == 100 - 3)


def test_hyperspy_211_polynomial_file_restores(tmp_path):
    # bug 5: HyperSpy 1.5–2.1.1 saved a Polynomial without its `order`; such a
    # file failed to restore. The file is made with the installed HyperSpy and
    # then given 2.1.1's layout (no `order` attribute nor its whitelist flag,
    # version strings 2.1.1), which is what a 2.1.1 file holds.
    h5py = pytest.importorskip("h5py")
    hsp = pytest.importorskip("hyperspy.api")
    x = np.arange(100.0)
    s = hsp.signals.Signal1D(0.0 + 1.0 * x + 2.0 * x**2 + 3.0 * x**3)
    m = s.create_model()
    m.append(hsp.model.components1D.Polynomial(order=3))
    for i, p in enumerate(m[0].parameters):
        p.value = float(i)
    m.store_current_values()  # HyperSpy keeps values apart from the maps until stored
    m.store("a")
    path = tmp_path / "hs211_polynomial.hspy"
    s.save(path)
    with h5py.File(path, "r+") as f:
        comp = f["Analysis/models/a/_dict/_list_1_components/0"]
        del comp.attrs["order"]
        del comp["_whitelist"].attrs["order"]
        comp.attrs["package_version"] = "2.1.1"
        comp.attrs["module"] = "numexpr"
        f["Experiments/__unnamed__/metadata/General/FileIO/0"].attrs["hyperspy_version"] = "2.1.1"
    loaded = hs.load(path)
    assert loaded.metadata.get_item("General.FileIO.0.hyperspy_version") == "2.1.1"
    restored = loaded.models.restore("a")
    poly = restored[0]
    assert isinstance(poly, Polynomial) and poly.order == 3
    assert [p.value for p in poly.parameters] == [0.0, 1.0, 2.0, 3.0]
