"""Uncertainty plots (swiftfit.plotting.errors) render and draw the right numbers."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import swiftfit as hs  # noqa: E402
from swiftfit.errors import InvalidInputError, InvalidTypeError  # noqa: E402
from swiftfit.plotting import plot_butterfly, plot_contours, plot_correlation, plot_profile  # noqa: E402

C1 = hs.model.components1D
DPI = 80


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def check_png(fig, min_kb: float = 5.0):
    """Render ``fig``: a real PNG of the figure's size, not blank."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    raw = buf.getvalue()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > min_kb * 1024
    buf.seek(0)
    image = mpimg.imread(buf, format="png")
    w, h = fig.get_size_inches() * DPI
    assert abs(image.shape[0] - h) <= 1 and abs(image.shape[1] - w) <= 1
    rgb = image[..., :3].reshape(-1, 3)
    assert rgb.std() > 0.05 and len(np.unique((rgb * 255).astype(np.uint8), axis=0)) > 20


def _peak(seed=0):
    rng = np.random.default_rng(seed)
    x = np.arange(100.0)
    y = 50 * np.exp(-((x - 48.0) ** 2) / (2 * 6.0**2)) + 10 + rng.normal(0, 1, x.size)
    s = hs.signals.Signal1D(y)
    s.metadata.set_item("Signal.Noise_properties.variance", 1.0)
    m = s.create_model()
    m.extend([C1.Gaussian(A=400.0, centre=45.0, sigma=5.0), C1.Offset(offset=5.0)])
    m.fit()
    return m


def _line(seed=1):
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 10.0, 40)
    s = hs.signals.Signal1D(2.0 + 0.5 * x + rng.normal(0, 0.3, x.size))
    s.axes_manager.signal_axes[0].scale = x[1] - x[0]
    s.metadata.set_item("Signal.Noise_properties.variance", 0.09)
    m = s.create_model()
    m.append(C1.Polynomial(order=1))
    m.fit()
    return m


def test_plot_profile_lines_at_min_plus_n_squared():
    m = _peak()
    prof = hs.stats.stat_profile(m, "Gaussian.sigma", n_values=15, reoptimize=True)
    fig = plot_profile(prof)
    check_png(fig)
    ax = fig.axes[0]
    levels = sorted(line.get_ydata()[0] for line in ax.lines[1:])
    np.testing.assert_allclose(levels, prof["stat_min"] + np.array([1.0, 4.0, 9.0]), rtol=1e-12)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), prof["stat"])
    # (values, stat) and an errordef for a −ln L
    fig2 = plot_profile(([0.0, 1.0, 2.0], [3.0, 2.0, 3.0]), errordef=0.5, levels=(1,))
    assert fig2.axes[0].lines[1].get_ydata()[0] == pytest.approx(2.5)
    with pytest.raises(InvalidTypeError, match="profile"):
        plot_profile(3.0)
    with pytest.raises(InvalidInputError, match="equal-length"):
        plot_profile(([0.0, 1.0], [1.0]))


def test_plot_contours_lie_on_the_covariance_ellipse():
    # linear model, known variance: the profile contours are the ellipses
    # dᵀ Σ⁻¹ d = n² exactly
    m = _line()
    fig = plot_contours(m, "Polynomial.a0", "Polynomial.a1", sigmas=(1, 2), numpoints=12)
    check_png(fig)
    ax = fig.axes[0]
    cinv = np.linalg.inv(np.asarray(m.covariance))
    best = np.array([m[0].a0.value, m[0].a1.value])
    for line, n in zip(ax.lines[:2], (1, 2)):
        d = np.column_stack([line.get_xdata(), line.get_ydata()]) - best
        np.testing.assert_allclose(np.einsum("kp,pq,kq->k", d, cinv, d), n**2, rtol=1e-5)
    marker = ax.lines[2]
    np.testing.assert_allclose([marker.get_xdata()[0], marker.get_ydata()[0]], best)


def test_plot_correlation_shows_the_matrix():
    m = _peak()
    fig = plot_correlation(m)
    check_png(fig)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), np.asarray(m.correlation))
    P = len(m.correlation.names)
    assert len(ax.texts) == P * P
    assert [t.get_text() for t in ax.get_xticklabels()] == m.correlation.names
    c = m.correlation["A", "sigma"]
    assert f"{c:+.2f}" in [t.get_text() for t in ax.texts]


def _band(fig):
    ax = fig.axes[0]
    lines = {line.get_gid(): line for line in ax.lines}
    return lines["band_lower"].get_ydata(), lines["band_upper"].get_ydata()


def test_plot_butterfly_band_is_sqrt_j_sigma_jt():
    m = _peak()
    fig = plot_butterfly(m)
    check_png(fig)
    lower, upper = _band(fig)
    values = m.fit_output.x
    J = m._jacobian(values)
    var = np.einsum("pn,pq,qn->n", J, np.asarray(m.covariance), J)
    k = int(np.argmax(m()))  # the peak channel
    assert (upper[k] - lower[k]) / 2 == pytest.approx(np.sqrt(var[k]), rel=1e-10)
    np.testing.assert_allclose((upper - lower) / 2, np.sqrt(var), rtol=1e-10)


def test_plot_butterfly_samples_agree_with_the_analytic_band():
    m = _peak()
    lo_a, up_a = _band(plot_butterfly(m))
    lo_s, up_s = _band(plot_butterfly(m, n_samples=4000, seed=1))
    k = int(np.argmax(m()))
    assert (up_s[k] - lo_s[k]) == pytest.approx(up_a[k] - lo_a[k], rel=0.1)
    with pytest.raises(InvalidInputError, match="n_samples"):
        plot_butterfly(m, n_samples=1)


def test_plots_need_a_fit():
    s = hs.signals.Signal1D(np.arange(10.0))
    m = s.create_model()
    m.append(C1.Offset())
    with pytest.raises(InvalidInputError, match="fit"):
        plot_correlation(m)
    with pytest.raises(InvalidInputError, match="fit"):
        plot_butterfly(m)
