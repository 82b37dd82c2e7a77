"""Plots render to PNG (size, pixel dimensions, not blank) on small generated data."""

from __future__ import annotations

import io
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import swiftfit as hs  # noqa: E402
from swiftfit.errors import InvalidInputError, InvalidTypeError  # noqa: E402
from swiftfit.plotting import save_standard_plots  # noqa: E402

C1 = hs.model.components1D
C2 = hs.model.components2D
DPI = 80


def _spectra(nav_shape, seed=0, channels=200):
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 100.0, channels)
    centre = 50 + rng.normal(0, 2, nav_shape)
    clean = 100 * np.exp(-(x - centre[..., None]) ** 2 / (2 * 5.0**2)) + 10
    s = hs.signals.Signal1D(clean + rng.normal(0, 1, clean.shape))
    ax = s.axes_manager.signal_axes[0]
    ax.scale, ax.offset, ax.name, ax.units = x[1] - x[0], 0.0, "Energy", "eV"
    s.metadata.General.title = "test spectra"
    return s


def _model1d(nav_shape, fit=True):
    s = _spectra(nav_shape)
    m = s.create_model()
    m.append(C1.Gaussian(A=1000.0, centre=50.0, sigma=4.0))
    m.append(C1.Offset(offset=5.0))
    m.set_signal_range(10.0, 90.0)
    if fit:
        m.multifit() if nav_shape else m.fit()
    return m


@pytest.fixture(scope="module")
def m2nav():
    return _model1d((3, 4))


@pytest.fixture(scope="module")
def m1nav():
    return _model1d((5,))


@pytest.fixture(scope="module")
def m0nav():
    return _model1d(())


@pytest.fixture(scope="module")
def mimage():
    rng = np.random.default_rng(3)
    x = np.linspace(-5, 5, 30)
    X, Y = np.meshgrid(x, x)
    frames = [C2.Gaussian2D(A=50, centre_x=cx, centre_y=0, sigma_x=1, sigma_y=1.3).function(X, Y)
              + 0.1 + rng.normal(0, 0.05, X.shape) for cx in (-1.0, 0.0, 1.0)]
    st = hs.signals.Signal2D(np.array(frames))
    for i in (1, 2):
        st.axes_manager[i].scale, st.axes_manager[i].offset = x[1] - x[0], x[0]
    m = st.create_model()
    m.extend([C2.Gaussian2D(A=40, centre_x=0, centre_y=0, sigma_x=1, sigma_y=1), C2.Offset(offset=0.0)])
    m.multifit()
    return m


@pytest.fixture(autouse=True)
def _no_show_and_close(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("plt.show() must never be called by the plot methods")

    monkeypatch.setattr(plt, "show", refuse)
    yield
    plt.close("all")


def check_png(fig, min_kb: float = 5.0):
    """Render ``fig``; assert a real PNG of the figure's size that is not blank."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    raw = buf.getvalue()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(raw) > min_kb * 1024
    buf.seek(0)
    image = mpimg.imread(buf, format="png")
    w, h = fig.get_size_inches() * DPI
    assert abs(image.shape[0] - h) <= 1 and abs(image.shape[1] - w) <= 1  # renderer truncates
    rgb = image[..., :3].reshape(-1, 3)
    assert rgb.std() > 0.05  # not a blank canvas
    assert len(np.unique((rgb * 255).astype(np.uint8), axis=0)) > 20
    return image


def _images(fig):
    return [ax for ax in fig.axes if ax.images]


# ------------------------------------------------------------- m.plot
def test_model1d_plot_with_components_and_residual(m2nav):
    m2nav.axes_manager.indices = (1, 2)
    fig = m2nav.plot(plot_components=True)
    check_png(fig, min_kb=20)
    main, resid = fig.axes
    labels = [t.get_text() for t in main.get_legend().get_texts()]
    assert labels == ["data", "model", "Gaussian", "Offset"]
    assert "reduced χ²" in main.get_legend().get_title().get_text()
    assert resid.get_xlabel() == "Energy (eV)"
    assert resid.get_ylabel() == "data − model"
    assert "(1, 2)" in main.get_title()
    # shared x, limited to the signal range 10..90
    lo, hi = resid.get_xlim()
    assert main.get_xlim() == (lo, hi) and 9 < lo < 10 and 90 < hi < 91
    # the model line is the fit at this pixel, NaN outside the range
    model_line = main.get_lines()[2]
    y = model_line.get_ydata()
    assert np.isnan(y[0]) and np.allclose(y[np.isfinite(y)], m2nav())


def test_model1d_plot_options(m0nav):
    fig = m0nav.plot(plot_residual=False, navigator="auto", axes_manager=None)
    check_png(fig)
    assert len(fig.axes) == 1
    fig, ax = plt.subplots(figsize=(6, 4))
    assert m0nav.plot(ax=ax, log_y=True) is fig
    assert len(fig.axes) == 2 and ax.get_yscale() == "log"
    check_png(fig)


def test_pull_residual_uses_the_noise_variance(m0nav):
    with pytest.raises(InvalidInputError, match="noise variance"):
        m0nav.plot(residual="pull")
    with pytest.raises(InvalidInputError, match="residual"):
        m0nav.plot(residual="ratio")
    m = _model1d(())
    m.signal.set_noise_variance(4.0)
    fig = m.plot(residual="pull")
    check_png(fig)
    main, resid = fig.axes
    assert resid.get_ylabel() == "(data − model) / σ"
    inside = m._channel_switches
    expected = (m.signal.data[inside] - m()) / 2.0
    np.testing.assert_allclose(resid.get_lines()[0].get_ydata()[inside], expected)


def test_model1d_plot_refuses_bad_arguments(m0nav):
    with pytest.raises(InvalidInputError, match="colour"):
        m0nav.plot(colour="red")
    with pytest.raises(InvalidTypeError, match="plot_components"):
        m0nav.plot(plot_components="yes")
    with pytest.raises(InvalidTypeError, match="ax"):
        m0nav.plot(ax="axes")


def test_model2d_plot_images_with_colour_bars(mimage):
    fig = mimage.plot()
    check_png(fig, min_kb=20)
    images = _images(fig)
    assert [a.get_title() for a in images] == ["data", "model", "data − model"]
    assert len(fig.axes) == 6  # three images, three colour bars
    assert images[0].get_xlabel() == "x" and "reduced χ²" in fig._suptitle.get_text()
    fig = mimage.plot(plot_components=True)
    check_png(fig, min_kb=20)
    assert [a.get_title() for a in _images(fig)][3:] == ["Gaussian2D", "Offset"]
    with pytest.raises(InvalidInputError, match="3 matplotlib Axes"):
        mimage.plot(ax=plt.subplots(1, 2)[1])


# ------------------------------------------------------------- maps
def test_plot_results_2d_maps(m2nav):
    fig = m2nav.plot_results()
    check_png(fig, min_kb=20)
    titles = [a.get_title() for a in _images(fig)]
    assert titles == ["Gaussian.A", "Gaussian.sigma", "Gaussian.centre", "Offset.offset", "reduced χ²"]
    colour_bars = [a for a in fig.axes if not a.images and a.get_visible() and a.axison and a.collections]
    assert len(colour_bars) >= 5
    image = _images(fig)[2].images[0].get_array()
    assert image.shape == (3, 4)
    np.testing.assert_allclose(np.ma.filled(image, np.nan), m2nav[0].centre.map["values"])
    fig = m2nav.plot_results(chisq=False, only_free=False)
    assert len(_images(fig)) == 4


def test_plot_results_1d_nav_lines_with_error_bars(m1nav):
    fig = m1nav.plot_results()
    check_png(fig, min_kb=10)
    panels = [a for a in fig.axes if a.get_title()]
    assert len(panels) == 5
    assert all(a.containers for a in panels[:4])  # errorbar containers
    assert panels[0].get_xlabel() == "navigation index"


def test_plot_results_0d_table(m0nav):
    fig = m0nav.plot_results()
    check_png(fig, min_kb=5)
    (ax,) = fig.axes
    table = ax.tables[0]
    cells = {k: c.get_text().get_text() for k, c in table.get_celld().items()}
    assert cells[(1, 0)] == "Gaussian.A" and cells[(5, 0)] == "reduced χ²"
    assert float(cells[(3, 1)]) == pytest.approx(m0nav[0].centre.value, rel=1e-5)


def test_plot_results_masks_unfitted_pixels():
    m = _model1d((3, 4), fit=False)
    m.axes_manager.indices = (2, 1)
    m.fit()
    fig = m.plot_results()
    data = np.ma.filled(_images(fig)[0].images[0].get_array(), np.nan)
    assert np.isfinite(data).sum() == 1 and np.isfinite(data[1, 2])
    check_png(fig)


def test_plot_chisq_marks_failed_fits(m2nav):
    status = m2nav._status.copy()
    try:
        m2nav._status[0, 1] = -1
        fig = m2nav.plot_chisq()
        check_png(fig)
        (ax,) = _images(fig)
        assert ax.get_title() == "reduced χ²"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["failed fit"]
        fig = m2nav.plot_chisq(reduced=False)
        assert _images(fig)[0].get_title() == "χ²"
    finally:
        m2nav._status[...] = status
    with pytest.raises(InvalidTypeError, match="reduced"):
        m2nav.plot_chisq(reduced="yes")


def test_parameter_and_component_plot(m2nav, m1nav, m0nav):
    g = m2nav[0]
    fig = g.centre.plot()
    check_png(fig)
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "Gaussian.centre"
    fig = g.centre.plot(field="std", cmap="gray", vmin=0)
    assert fig.axes[0].get_title() == "Gaussian.centre std"
    with pytest.raises(InvalidInputError, match="field"):
        g.centre.plot(field="is_set")
    fig = m1nav[0].A.plot()
    check_png(fig)
    assert fig.axes[0].containers
    fig = m0nav[0].A.plot()
    check_png(fig, min_kb=2)
    assert "±" in fig.axes[0].texts[0].get_text()
    fig = g.plot()
    check_png(fig, min_kb=15)
    assert [a.get_title() for a in _images(fig)] == ["Gaussian.A", "Gaussian.sigma", "Gaussian.centre"]
    assert "Gaussian" in fig._suptitle.get_text()


def test_methods_return_pyplot_figures(m0nav):
    before = set(plt.get_fignums())
    fig = m0nav.plot()
    assert fig.number in set(plt.get_fignums()) - before


# ------------------------------------------------------------- files
def test_save_standard_plots_writes_both_files(m2nav, tmp_path):
    before = list(plt.get_fignums())
    paths = save_standard_plots(m2nav, tmp_path / "plots")
    assert [p.name for p in paths] == ["fit.png", "maps.png"]
    for p in paths:
        assert p.is_file() and p.stat().st_size > 10 * 1024
        assert p.read_bytes()[:4] == b"\x89PNG"
        image = mpimg.imread(p)
        assert image[..., :3].std() > 0.05
    assert list(plt.get_fignums()) == before  # nothing left in pyplot
    with pytest.raises(InvalidTypeError, match="directory"):
        save_standard_plots(m2nav, 42)


# ------------------------------------------------------------- widgets
def test_gui_without_ipywidgets_names_the_install(m0nav, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import now raises ImportError
    with pytest.raises(ImportError, match="pip install ipywidgets"):
        m0nav.gui()
    with pytest.raises(ImportError, match="pip install ipywidgets"):
        m0nav.plot(navigator="slider")


def test_gui_with_ipywidgets_drives_the_model():
    """With the real ipywidgets: the navigation slider moves the model, a
    parameter slider sets the value, "Fit here" fits, and the image is a PNG."""
    w = pytest.importorskip("ipywidgets")
    m = _model1d((3,), fit=False)
    box = m.gui(display=False)
    assert isinstance(box, w.VBox)
    widgets = list(box.children)
    nav, image = widgets[0], widgets[-1]
    assert isinstance(nav, w.IntSlider) and image.value[:8] == b"\x89PNG\r\n\x1a\n"
    nav.value = 2
    assert tuple(m.axes_manager.indices) == (2,)
    p = next(p for c in m for p in c.parameters if p.free)
    slider = next(s for s in widgets if isinstance(s, w.FloatSlider) and s.description.endswith(p.name))
    slider.value = slider.min + 0.25 * (slider.max - slider.min)
    assert p.value == pytest.approx(slider.value)
    button = next(b for row in widgets if isinstance(row, w.HBox) for b in row.children if isinstance(b, w.Button))
    button.click()
    assert m.fit_output is not None and m.fit_output.success
    assert slider.value == pytest.approx(p.value)  # the sliders follow the fit
