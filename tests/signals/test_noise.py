"""Noise helpers, variance bookkeeping and histograms."""

import numpy as np
import pytest

from swiftfit.signals import BaseSignal, Signal1D, Signal2D
from swiftfit.signals.noise import _rng

VAR = "Signal.Noise_properties.variance"


def test_gaussian_noise_std_and_reproducibility():
    a = Signal1D(np.zeros(10_000))
    a.add_gaussian_noise(std=2, random_state=0)
    assert abs(a.data.std() - 2.0) < 0.1           # within 5 %
    assert abs(a.data.mean()) < 0.1                # 5 sigma of the mean is 0.1
    b = Signal1D(np.zeros(10_000))
    b.add_gaussian_noise(std=2, random_state=0)
    np.testing.assert_array_equal(a.data, b.data)


def test_gaussian_noise_int_data_becomes_float():
    s = Signal1D(np.arange(5))
    s.add_gaussian_noise(0.0, random_state=1)
    assert s.data.dtype == np.float64
    np.testing.assert_array_equal(s.data, np.arange(5.0))


@pytest.mark.parametrize("std, exc, msg", [(-1, ValueError, "got -1"),
                                           (np.nan, ValueError, "non-negative"),
                                           ("2", TypeError, "non-negative number")])
def test_gaussian_noise_bad_std(std, exc, msg):
    with pytest.raises(exc, match=msg):
        Signal1D(np.zeros(3)).add_gaussian_noise(std)


def test_random_state_kinds_agree():
    g = _rng(3).normal(size=4)
    np.testing.assert_array_equal(_rng(np.random.default_rng(3)).normal(size=4), g)
    rs = np.random.RandomState(3)
    assert _rng(rs) is rs
    assert isinstance(_rng(None), np.random.Generator)
    with pytest.raises(TypeError, match="`random_state` must be None"):
        _rng("seed")
    with pytest.raises(ValueError, match="non-negative"):
        _rng(-1)


def test_poissonian_noise_mean_and_dtype():
    s = Signal1D(np.full(20_000, 9.0))
    s.add_poissonian_noise(random_state=np.random.default_rng(5))
    assert s.data.dtype == np.float64
    assert np.all(s.data == np.round(s.data))
    assert abs(s.data.mean() - 9.0) < 0.1          # sigma of mean = 3/141 ~ 0.02
    assert abs(s.data.var() - 9.0) < 0.5
    t = Signal1D(np.full(4, 3.0))
    t.add_poissonian_noise(keep_dtype=False, random_state=0)
    assert t.data.dtype.kind == "i"
    r1, r2 = Signal1D(np.full(50, 4.0)), Signal1D(np.full(50, 4.0))
    r1.add_poissonian_noise(random_state=np.random.RandomState(2))
    r2.add_poissonian_noise(random_state=np.random.RandomState(2))
    np.testing.assert_array_equal(r1.data, r2.data)


def test_poissonian_noise_rejects_negative_data():
    with pytest.raises(ValueError, match="non-negative.*-1"):
        Signal1D(np.array([1.0, -1.0])).add_poissonian_noise()


def test_set_noise_variance_forms():
    s = Signal1D(np.zeros((2, 3)))
    s.set_noise_variance(4)
    assert s.metadata.get_item(VAR) == 4.0
    s.set_noise_variance(np.array([1.0, 2.0, 3.0]))   # broadcast over navigation
    var = s.metadata.get_item(VAR)
    assert type(var) is Signal1D and var.data.shape == (2, 3)
    np.testing.assert_array_equal(var.data[1], [1.0, 2.0, 3.0])
    v = Signal1D(np.ones((2, 3)))
    s.set_noise_variance(v)
    stored = s.metadata.get_item(VAR)
    assert stored is not v and np.array_equal(stored.data, v.data)
    s.set_noise_variance(None)
    assert not s.metadata.has_item(VAR)
    s.set_noise_variance(None)   # removing twice is harmless


@pytest.mark.parametrize("bad, exc, msg", [
    (-1.0, ValueError, "non-negative finite number, got -1.0"),
    (np.nan, ValueError, "got nan"),
    (np.array([1.0, np.nan, 1.0]), ValueError, "must not contain NaN"),
    (np.array([1.0, -2.0, 1.0]), ValueError, "minimum -2.0"),
    (np.ones(4), ValueError, r"shape \(4,\) does not broadcast"),
    ("big", TypeError, "got str"),
])
def test_set_noise_variance_bad_values(bad, exc, msg):
    with pytest.raises(exc, match=msg):
        Signal1D(np.zeros((2, 3))).set_noise_variance(bad)


def test_set_noise_variance_signal_shape_mismatch():
    with pytest.raises(ValueError, match=r"data shape \(2, 3\), got \(3,\)"):
        Signal1D(np.zeros((2, 3))).set_noise_variance(Signal1D(np.ones(3)))


def test_estimate_poissonian_noise_variance_closed_form():
    data = np.array([[0.0, 1.0, 5.0], [10.0, 2.0, 3.0]])
    s = Signal1D(data)
    s.estimate_poissonian_noise_variance(gain_factor=2.0, gain_offset=0.5,
                                         correlation_factor=1.5)
    var = s.metadata.get_item(VAR)
    assert type(var) is Signal1D
    np.testing.assert_allclose(var.data, (data * 2.0 + 0.5) * 1.5)
    model = s.metadata.Signal.Noise_properties.Variance_linear_model
    assert (model.gain_factor, model.gain_offset, model.correlation_factor) == (2.0, 0.5, 1.5)


def test_estimate_defaults_and_expected_value():
    s = Signal2D(np.array([[0.0, 4.0], [-1.0, 9.0]]))
    s.estimate_poissonian_noise_variance()
    np.testing.assert_allclose(s.metadata.get_item(VAR).data, [[0, 4], [0, 9]])  # clipped
    expected = Signal2D(np.full((2, 2), 7.0))
    s.estimate_poissonian_noise_variance(expected_value=expected, gain_offset=1.0)
    np.testing.assert_allclose(s.metadata.get_item(VAR).data, np.full((2, 2), 8.0))


def test_estimate_bad_inputs():
    s = Signal1D(np.ones(3))
    with pytest.raises(ValueError, match="`gain_factor` must be a non-negative finite number"):
        s.estimate_poissonian_noise_variance(gain_factor=-1)
    with pytest.raises(ValueError, match=r"shape \(4,\) does not match"):
        s.estimate_poissonian_noise_variance(expected_value=Signal1D(np.ones(4)))
    with pytest.raises(TypeError, match="`expected_value` must be None"):
        s.estimate_poissonian_noise_variance(expected_value=[1, 2, 3])


def test_histogram_of_seeded_normal_sample():
    sample = np.random.default_rng(42).normal(loc=3.0, scale=2.0, size=(20, 50))
    s = Signal1D(sample, metadata={"General": {"title": "counts"}})
    h = s.get_histogram()
    edges = np.histogram_bin_edges(sample.ravel(), bins="fd")
    ax = h.axes_manager[0]
    assert type(h) is Signal1D and h.data.sum() == 1000
    assert ax.size == edges.size - 1
    assert ax.offset == pytest.approx(edges[0])
    assert ax.scale == pytest.approx(edges[1] - edges[0])
    assert ax.is_binned and ax.name == "value"
    assert h.metadata.General.title == "counts histogram"
    np.testing.assert_array_equal(h.data, np.histogram(sample.ravel(), bins=edges)[0])


def test_histogram_int_bins_range_and_title():
    h = BaseSignal(np.arange(10.0)).get_histogram(bins=5, range_bins=(0.0, 10.0))
    np.testing.assert_array_equal(h.data, [2, 2, 2, 2, 2])
    assert h.axes_manager[0].scale == 2.0 and h.axes_manager[0].offset == 0.0
    assert h.metadata.General.title == "histogram"
    with pytest.raises(TypeError, match="unexpected keyword"):
        BaseSignal(np.arange(3.0)).get_histogram(bogus=1)
