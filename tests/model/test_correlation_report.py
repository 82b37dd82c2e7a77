"""Named covariance, ``m.correlation`` and the report's R² and warnings."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.errors import FitWarning, InvalidInputError
from swiftfit.model.report import NamedMatrix

C1 = hs.model.components1D


def _peak(variance=None, seed=0):
    rng = np.random.default_rng(seed)
    x = np.arange(100.0)
    y = 50 * np.exp(-((x - 48.0) ** 2) / (2 * 6.0**2)) + 10 + rng.normal(0, 1, x.size)
    s = hs.signals.Signal1D(y)
    if variance is not None:
        s.metadata.set_item("Signal.Noise_properties.variance", variance)
    m = s.create_model()
    g = C1.Gaussian(A=400.0, centre=45.0, sigma=5.0)
    off = C1.Offset(offset=5.0)
    m.extend([g, off])
    return m, g, off, y


def test_covariance_is_a_named_ndarray():
    m, g, off, _ = _peak()
    assert m.covariance is None and m.correlation is None
    m.fit()
    cov = m.covariance
    assert isinstance(cov, np.ndarray) and isinstance(cov, NamedMatrix)
    assert cov.names == m.fit_output.parameter_names
    assert sorted(cov.names) == ["Gaussian.A", "Gaussian.centre", "Gaussian.sigma", "Offset.offset"]
    np.testing.assert_array_equal(np.asarray(cov), m.fit_output.covariance)
    # lookups by full name, by unique short name and by index agree
    i, j = cov.names.index("Gaussian.A"), cov.names.index("Gaussian.sigma")
    assert cov["Gaussian.A", "Gaussian.sigma"] == cov["A", "sigma"] == cov.loc("A", "sigma") == cov[i, j]
    assert np.sqrt(cov["sigma", "sigma"]) == pytest.approx(g.sigma.std, rel=1e-12)
    with pytest.raises(InvalidInputError, match="not a name"):
        cov["nope", "A"]
    text = str(cov)
    assert all(n in text for n in cov.names) and "Gaussian.sigma" in repr(cov)
    # ndarray use keeps working, slices drop the names
    assert cov[np.ix_([0, 2], [0, 2])].shape == (2, 2) and cov[:2, :2].names is None
    assert pickle.loads(pickle.dumps(cov)).names == cov.names


def test_correlation_is_the_normalised_covariance():
    m, *_ = _peak()
    m.fit()
    cov, corr = np.asarray(m.covariance), m.correlation
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(np.asarray(corr), cov / np.outer(sd, sd), rtol=1e-14)
    np.testing.assert_allclose(np.diag(corr), 1.0, rtol=1e-14)
    assert corr.names == m.covariance.names
    np.testing.assert_allclose(np.asarray(corr), np.asarray(corr).T)
    assert np.all(np.abs(np.asarray(corr)) <= 1 + 1e-12)
    # the report's correlation line uses the same number
    c = corr["A", "sigma"]
    line = [ln for ln in m.fit_report().splitlines() if "C(Gaussian_A, Gaussian_sigma)" in ln][0]
    assert line.split("=")[1].strip() == f"{c:+.3f}"


@pytest.mark.parametrize("variance", [None, 4.0])
def test_report_has_rsquared(variance):
    m, g, off, y = _peak(variance)
    m.fit()
    resid = y - m()
    # uniform weights: the weighted R² equals the plain one
    expected = 1 - np.sum(resid**2) / np.sum((y - y.mean()) ** 2)
    assert m.fit_output.rsquared == pytest.approx(expected, rel=1e-10)
    line = [ln for ln in m.fit_report().splitlines() if ln.startswith("    R-squared          = ")]
    assert len(line) == 1 and float(line[0].split("=")[1]) == pytest.approx(expected, rel=1e-7)


def test_rsquared_is_weighted_consistently():
    m, g, off, y = _peak()
    w2 = 1 / np.linspace(1.0, 3.0, y.size) ** 2  # 1/σ²
    m.signal.metadata.set_item("Signal.Noise_properties.variance",
                               hs.signals.Signal1D(1 / w2))
    m.fit()
    r = y - m()
    mean = np.sum(w2 * y) / np.sum(w2)
    expected = 1 - np.sum(w2 * r**2) / np.sum(w2 * (y - mean) ** 2)
    assert m.fit_output.rsquared == pytest.approx(expected, rel=1e-10)


def test_report_warns_at_initial_value_and_at_boundary():
    m, g, off, y = _peak()
    # a second Gaussian far outside the data: exactly zero there, so the fit
    # cannot move its parameters
    far = C1.Gaussian(A=10.0, centre=1e4, sigma=1.0)
    far.name = "Far"
    m.append(far)
    off.offset.bmax = 5.0  # the data want ~10: a bounded fit stops at bmax
    with pytest.warns(FitWarning, match="not determined"):  # the far Gaussian's parameters
        m.fit(bounded=True)
    assert off.offset.value == pytest.approx(5.0, abs=1e-12)
    report = m.fit_report()
    lines = report.splitlines()
    assert "[[Warnings]]" in lines
    warn = lines[lines.index("[[Warnings]]") + 1:]
    warn = warn[:next((k for k, ln in enumerate(warn) if ln.startswith("[[")), len(warn))]
    assert any(ln.split() == ["Far_centre:", "at", "initial", "value"] for ln in warn)
    assert any(ln.split() == ["Far_A:", "at", "initial", "value"] for ln in warn)
    assert any(ln.split() == ["Offset_offset:", "at", "boundary"] for ln in warn)
    assert not any(ln.startswith("    Gaussian_") for ln in warn)  # those moved and are inside


def test_report_has_no_warnings_for_a_clean_fit():
    m, *_ = _peak()
    m.fit()
    assert "[[Warnings]]" not in m.fit_report()
