"""m.export_results: hdf5 (a file per parameter), csv (one table), png/tif images."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.components import components1d as c1


def make_model(nav=(3, 4), seed=0):
    rng = np.random.default_rng(seed)
    s = hs.signals.Signal1D(rng.normal(size=nav + (20,)))
    m = s.create_model()
    m.append(c1.Gaussian())
    m.append(c1.Offset())
    m.append(c1.Lorentzian())
    for comp in m:
        for p in comp.parameters:
            p.map["values"] = rng.normal(size=nav)
            p.map["std"] = rng.uniform(size=nav)
    m[0].sigma.free = False           # exported only with only_free=False
    m[2].active = False               # exported only with only_active=False
    m[1].offset.twin = m[0].A         # twins are never exported (as HyperSpy)
    return m


def test_hdf5_one_file_per_parameter(tmp_path):
    m = make_model()
    paths = m.export_results(tmp_path, format="hdf5", save_std=True)
    names = sorted(p.split("/")[-1] for p in paths)
    assert names == ["Gaussian_A.hdf5", "Gaussian_A_std.hdf5", "Gaussian_centre.hdf5",
                     "Gaussian_centre_std.hdf5"]
    s = hs.load(tmp_path / "Gaussian_A.hdf5")
    assert np.array_equal(s.data, m[0].A.map["values"])
    assert np.array_equal(hs.load(tmp_path / "Gaussian_centre_std.hdf5").data, m[0].centre.map["std"])
    everything = m.export_results(tmp_path / "all", format="h5", only_free=False, only_active=False)
    assert sorted(p.split("/")[-1] for p in everything) == [
        "Gaussian_A.h5", "Gaussian_centre.h5", "Gaussian_sigma.h5",
        "Lorentzian_A.h5", "Lorentzian_centre.h5", "Lorentzian_gamma.h5"]


def test_csv_table(tmp_path):
    m = make_model(nav=(2, 3))
    [path] = m.export_results(tmp_path, format="csv", only_free=False, only_active=False)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["index_0", "index_1", "Gaussian.A", "Gaussian.A_std", "Gaussian.sigma",
                       "Gaussian.sigma_std", "Gaussian.centre", "Gaussian.centre_std",
                       "Lorentzian.A", "Lorentzian.A_std", "Lorentzian.gamma", "Lorentzian.gamma_std",
                       "Lorentzian.centre", "Lorentzian.centre_std"]
    assert len(rows) == 1 + 6
    # x (the last array axis) varies fastest and comes first
    assert [r[:2] for r in rows[1:]] == [["0", "0"], ["1", "0"], ["2", "0"], ["0", "1"], ["1", "1"], ["2", "1"]]
    for r in rows[1:]:
        x, y = int(r[0]), int(r[1])
        assert float(r[2]) == m[0].A.map["values"][y, x]          # bit-exact through repr
        assert float(r[11]) == m[2].gamma.map["std"][y, x]


def test_csv_of_a_single_position(tmp_path):
    s = hs.signals.Signal1D(np.arange(10.0))
    m = s.create_model()
    m.append(c1.Offset(offset=0.1))
    [path] = m.export_results(tmp_path, format="csv")
    with open(path) as f:
        assert f.read().splitlines() == ["Offset.offset,Offset.offset_std", "0.1,nan"]


def test_tiff_keeps_float32_values(tmp_path):
    from PIL import Image

    m = make_model()
    paths = m.export_results(tmp_path, format="tif", save_std=True)
    assert len(paths) == 4
    with Image.open(tmp_path / "Gaussian_A.tif") as im:
        data = np.array(im)
    assert np.array_equal(data, m[0].A.map["values"].astype(np.float32))
    with Image.open(tmp_path / "Gaussian_centre_std.tif") as im:
        assert np.array_equal(np.array(im), m[0].centre.map["std"].astype(np.float32))


def test_png_images(tmp_path):
    import matplotlib.image

    m = make_model()
    m[0].A.map["values"][0, 0] = np.nan
    paths = m.export_results(tmp_path, format="png")
    assert sorted(p.split("/")[-1] for p in paths) == ["Gaussian_A.png", "Gaussian_centre.png"]
    img = matplotlib.image.imread(tmp_path / "Gaussian_A.png")
    assert img.shape == (3, 4, 4)            # rows y, columns x, RGBA
    values = m[0].A.map["values"]
    y, x = np.unravel_index(np.nanargmax(values), values.shape)
    assert tuple(img[y, x]) == (1.0, 1.0, 1.0, 1.0)   # the maximum is white
    y, x = np.unravel_index(np.nanargmin(values), values.shape)
    assert tuple(img[y, x]) == (0.0, 0.0, 0.0, 1.0)   # the minimum is black
    assert img[0, 0, 3] == 0.0                         # NaN is transparent


@pytest.mark.parametrize("nav", [(), (5,), (2, 2, 2)])
@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_images_need_2d_navigation(tmp_path, nav, fmt):
    m = make_model(nav=nav)
    with pytest.raises(ValueError, match=f"navigation is {len(nav)}-D"):
        m.export_results(tmp_path, format=fmt)
    assert list(tmp_path.iterdir()) == []


def test_tiff_without_pillow(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        make_model().export_results(tmp_path, format="tiff")


def test_bad_format(tmp_path):
    m = make_model()
    with pytest.raises(ValueError, match="`format`.*'hspy'"):
        m.export_results(tmp_path, format="hspy")
    with pytest.raises(TypeError, match="`format`"):
        m.export_results(tmp_path, format=3)


def test_default_folder_is_current(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_model().export_results(format="csv")
    assert (tmp_path / "results.csv").exists()
