"""Lazy signals and their files. Truth: the eager signal the lazy one was made
from (values compared exactly: nothing is recomputed, only stored and read)."""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.io.lazy_io import H5Source, save_hdf5_lazy
from swiftfit.signals.lazy import LazySignal1D, LazySignal2D, navigation_chunks

da = pytest.importorskip("dask.array")
pytest.importorskip("zarr")


def cube(seed=0):
    rng = np.random.default_rng(seed)
    axes = [{"name": "y", "scale": 2.0, "units": "nm"}, {"name": "x", "offset": -3.0},
            {"name": "E", "scale": 0.5, "offset": 100.0, "units": "eV"}]
    s = sf.signals.Signal1D(rng.normal(size=(6, 5, 40)), axes=axes)
    s.metadata.General.title = "cube"
    s.metadata.set_item("Acquisition.dwell", 0.25)
    return s


def same_axes(a, b):
    for x, y in zip(a.axes_manager._axes, b.axes_manager._axes):
        assert x.get_axis_dictionary() == y.get_axis_dictionary()


def test_as_lazy_and_compute_round_trip():
    s = cube()
    lazy = s.as_lazy(chunks=(2, 5, 40))
    assert lazy._lazy and not s._lazy and isinstance(lazy, LazySignal1D)
    assert lazy.data.chunks == ((2, 2, 2), (5,), (40,))
    back = lazy.compute()
    assert type(back) is sf.signals.Signal1D
    np.testing.assert_array_equal(back.data, s.data)
    same_axes(back, s)
    assert back.metadata.Acquisition.dwell == 0.25


def test_default_chunks_split_navigation_only():
    # 16 MiB of float64 spectra of 1024 channels = 2048 spectra: 8 rows of 256
    assert navigation_chunks((256, 256, 1024), 1, 8) == (8, 256, 1024)
    s = sf.signals.Signal2D(np.zeros((3, 16, 16))).as_lazy()
    assert isinstance(s, LazySignal2D) and s.data.chunks[1:] == ((16,), (16,))


def test_slicing_and_reductions_stay_lazy():
    s = cube()
    lazy = s.as_lazy(chunks=(3, 5, 40))
    part = lazy.inav[1:4, 2:5]
    assert part._lazy
    np.testing.assert_array_equal(part.compute().data, s.inav[1:4, 2:5].data)
    total = lazy.sum()
    assert total._lazy
    np.testing.assert_allclose(total.compute().data, s.sum().data, rtol=1e-13)
    np.testing.assert_array_equal(lazy.isig[101.0:105.0].compute().data, s.isig[101.0:105.0].data)


@pytest.mark.parametrize("name", ["cube.zarr", "cube.h5"])
def test_save_and_lazy_load_round_trip(tmp_path, name):
    s = cube()
    s.set_noise_variance(sf.signals.Signal1D(np.abs(s.data) + 1.0))
    path = str(tmp_path / name)
    s.as_lazy(chunks=(3, 5, 40)).save(path)
    lazy = sf.load(path, lazy=True)
    assert lazy._lazy and isinstance(lazy.data, da.Array)
    np.testing.assert_array_equal(lazy.compute().data, s.data)
    same_axes(lazy, s)
    assert lazy.metadata.General.title == "cube"
    assert lazy.metadata.Acquisition.dwell == 0.25
    var = lazy.metadata.Signal.Noise_properties.variance
    assert var._lazy and var.data.chunks == lazy.data.chunks
    np.testing.assert_array_equal(var.compute().data, np.abs(s.data) + 1.0)
    eager = sf.load(path)  # the same file read eagerly (zarr is always lazy)
    np.testing.assert_array_equal(np.asarray(eager.data), s.data)


def test_eager_h5_file_loads_lazily_with_its_models(tmp_path, monkeypatch):
    s = cube()
    reads = []
    original = H5Source.__getitem__

    def counting(self, key):
        out = original(self, key)
        if out.size:  # dask also reads an empty selection for the array's type
            reads.append(key)
        return out

    monkeypatch.setattr(H5Source, "__getitem__", counting)
    m = s.create_model()
    m.append(sf.model.components1D.Offset())
    m.store("start")
    path = str(tmp_path / "work.h5")
    s.save(path)
    lazy = sf.load(path, lazy=True, chunks=(2, 5, 40))
    assert isinstance(lazy.data, da.Array) and not reads  # nothing read yet
    np.testing.assert_array_equal(lazy.data.compute(), s.data)
    assert len(reads) == 3  # one read per chunk, through H5Source
    assert list(lazy.models_stored) == ["start"]
    restored = lazy.models_stored["start"].restore()
    assert [c.name for c in restored] == ["Offset"]


def test_save_hdf5_lazy_is_read_by_eager_load(tmp_path):
    s = cube()
    path = str(tmp_path / "blocks.h5")
    save_hdf5_lazy(s.as_lazy(chunks=(2, 5, 40)), path)
    back = sf.load(path)
    assert not back._lazy
    np.testing.assert_array_equal(back.data, s.data)
    same_axes(back, s)


def test_lazy_data_setter_and_errors():
    lazy = cube().as_lazy()
    with pytest.raises(ValueError, match="shape"):
        lazy.data = np.zeros((2, 2))
    with pytest.raises(TypeError, match="lazy"):
        sf.load("x.h5", lazy="yes")


def test_any_model_of_a_lazy_signal_reads_only_its_pixels():
    """A plain Model1D built on a lazy signal fits at one position (the rows
    are read through dask's vindex by the shared row reader) and gives the
    fit of the same model on the eager data (rtol 1e-12)."""
    eager = cube()
    lazy = eager.as_lazy()
    fits = []
    for s in (eager, lazy):
        m = sf.Model1D(s)
        m.append(sf.model.components1D.Polynomial(order=1))
        m.axes_manager.indices = (1, 2)
        m.fit()
        fits.append([p.value for p in m[0].parameters])
    np.testing.assert_allclose(fits[1], fits[0], rtol=1e-12)
