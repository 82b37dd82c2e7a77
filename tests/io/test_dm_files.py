"""``.dm3``/``.dm4`` files written here (tests/io/dm_file.py) load with swiftfit as HyperSpy loads them.

No network: each file is generated in the test, in both versions of the
format. Each test asserts (1) that ``swiftfit.load`` gives the axes (size,
scale, offset, units, name, navigate, binned), data, metadata and
original-metadata trees and class
that ``hyperspy.api.load`` gives on the same file, and (2) that these are the
values written: scales and origins are stored as float32 (as
DigitalMicrograph stores them), so the expected scale is
``float(np.float32(scale))`` and the offset ``-origin32 * scale32``, equal to
the value written within float32 rounding (checked to 1e-6 relative; the
values below are chosen so that most are exact in float32).
"""

from __future__ import annotations

import numpy as np
import pytest
from dm_file import write_dm
from same_metadata import assert_same_tree, plain

import swiftfit

pytest.importorskip("rsciio")

pytestmark = pytest.mark.usefixtures("quiet_peers")

VERSIONS = [3, 4]


def _hs():
    try:
        import hyperspy.api as hs
    except ImportError:  # only the values written are checked then
        return None
    return hs


def _axes(s):
    return [(a.size, a.scale, a.offset, a.units, a.name, a.navigate, a.is_binned) for a in s.axes_manager._axes]


def _load_both(path, cls):
    """swiftfit's and HyperSpy's signal from ``path``, asserted equal (when HyperSpy is installed)."""
    ours = swiftfit.load(path)
    assert type(ours).__name__ == cls
    if _hs() is None:
        return ours
    ref = _hs().load(path)
    assert type(ours).__name__ == type(ref).__name__ == cls
    np.testing.assert_array_equal(ours.data, ref.data)
    assert ours.data.dtype == ref.data.dtype
    assert _axes(ours) == _axes(ref)
    assert_same_tree(plain(ours.metadata), plain(ref.metadata))
    assert_same_tree(ours.original_metadata.as_dictionary(), ref.original_metadata.as_dictionary(),
                      "original_metadata")
    return ours


def _assert_axes_written(s, written):
    """Axes in array order, against the dicts written (size, scale, offset, units, name, navigate)."""
    assert len(s.axes_manager._axes) == len(written)
    for a, w in zip(s.axes_manager._axes, written):
        scale32, origin32 = np.float32(w["scale"]), np.float32(-w["offset"] / w["scale"])
        assert (a.size, a.units, a.name, a.navigate) == (w["size"], w["units"], w["name"], w["navigate"])
        assert a.scale == float(scale32)
        assert a.offset == -float(origin32) * float(scale32)
        assert a.offset == pytest.approx(w["offset"], rel=1e-6, abs=1e-9)


EELS_TAGS = {
    "Meta Data": {"Signal": "EELS", "Format": "Spectrum"},
    "Microscope Info": {"Voltage": 200000.0, "Illumination Mode": "STEM", "Name": "Test STEM",
                        "Indicated Magnification": 2.0e6,
                        "Stage Position": {"Stage Alpha": 12.5, "Stage X": 150.0}},
    "EELS": {"Experimental Conditions": {"Collection semi-angle (mrad)": 21.5,
                                         "Convergence semi-angle (mrad)": 10.0},
             "Acquisition": {"Exposure (s)": 0.25, "Number of frames": 4}},
    "Session Info": {"Operator": "swiftfit tests", "Specimen": "Cr film"},
}


@pytest.mark.parametrize("version", VERSIONS)
def test_eels_spectrum(tmp_path, version):
    rng = np.random.default_rng(1)
    data = rng.poisson(1000, 512).astype("float32")
    path = tmp_path / f"eels.dm{version}"
    write_dm(path, data, [{"scale": 0.25, "offset": 512.0, "units": "eV"}], version=version,
             title="Cr L", image_tags=EELS_TAGS)
    s = _load_both(path, "EELSSpectrum")
    np.testing.assert_array_equal(s.data, data)
    _assert_axes_written(s, [dict(size=512, scale=0.25, offset=512.0, units="eV", name="Energy loss",
                                  navigate=False)])
    assert s.axes_manager[-1].is_binned
    md = s.metadata
    assert (md.General.title, md.Signal.signal_type, md.Signal.quantity) == ("Cr L", "EELS", "Intensity (Counts)")
    tem = md.Acquisition_instrument.TEM
    assert (tem.beam_energy, tem.convergence_angle, tem.Detector.EELS.collection_angle) == (200.0, 10.0, 21.5)
    assert tem.Detector.EELS.exposure == 1.0 and tem.Detector.EELS.frame_number == 4  # 0.25 s x 4 frames
    assert (tem.acquisition_mode, tem.microscope, tem.magnification) == ("STEM", "Test STEM", 2.0e6)
    assert tem.Stage.tilt_alpha == 12.5 and tem.Stage.x == pytest.approx(0.15, rel=1e-12)  # um -> mm
    assert (md.General.authors, md.Sample.description) == ("swiftfit tests", "Cr film")
    assert md.General.original_filename == f"eels.dm{version}"
    # the original tags, as written: names with spaces kept
    tags = s.original_metadata.as_dictionary()["ImageList"]["TagGroup0"]["ImageTags"]
    assert tags["EELS"] == EELS_TAGS["EELS"] and tags["Session Info"] == EELS_TAGS["Session Info"]


EDS_TAGS = {
    "Meta Data": {"Signal": "X-ray", "Format": "Spectrum"},
    "Microscope Info": {"Voltage": 300000.0},
    "EDS": {"Detector Info": {"Azimuthal angle": 45.0, "Elevation angle": 18.0},
            "Live time": 30.0, "Real time": 35.5, "Solid angle": 0.75},
}


@pytest.mark.parametrize("version", VERSIONS)
def test_eds_spectrum(tmp_path, version):
    rng = np.random.default_rng(2)
    data = rng.poisson(50, 1024).astype("int32")
    path = tmp_path / f"eds.dm{version}"
    write_dm(path, data, [{"scale": 0.01, "offset": -0.2, "units": "keV"}], version=version,
             title="EDS", image_tags=EDS_TAGS)
    s = _load_both(path, "EDSTEMSpectrum")
    # RosettaSciIO names the keV axis "Energy" only for the Signal tags "EDS"/"EDX";
    # for "X-ray" (the EDS_TEM signal type) it is "x", in HyperSpy as here
    _assert_axes_written(s, [dict(size=1024, scale=0.01, offset=-0.2, units="keV", name="x",
                                  navigate=False)])
    assert s.axes_manager[-1].is_binned
    tem = s.metadata.Acquisition_instrument.TEM
    eds = tem.Detector.EDS
    assert (tem.beam_energy, eds.azimuth_angle, eds.elevation_angle) == (300.0, 45.0, 18.0)
    assert (eds.live_time, eds.real_time, eds.solid_angle) == (30.0, 35.5, 0.75)
    assert s.metadata.Signal.quantity == "X-rays (Counts)"
    # the model exspy builds on it: the background only, no elements in the file
    m = s.create_model(auto_add_lines=False)
    assert [c.name for c in m] == ["background_order_6"]


@pytest.mark.parametrize("version", VERSIONS)
def test_image(tmp_path, version):
    data = np.arange(48 * 64, dtype="uint16").reshape(48, 64)
    path = tmp_path / f"image.dm{version}"
    tags = {"Microscope Info": {"Voltage": 120000.0, "Illumination Mode": "TEM", "Imaging Mode": "IMAGING",
                                "Indicated Magnification": 50000.0},
            "DataBar": {"Acquisition Date": "12/7/2026", "Acquisition Time": "6:30:15 AM"}}
    axes = [{"scale": 0.125, "offset": 0.0, "units": "nm"}, {"scale": 0.5, "offset": -4.0, "units": "nm"}]
    write_dm(path, data, axes, version=version, title="lattice", image_tags=tags, brightness_units="")
    s = _load_both(path, "Signal2D")
    np.testing.assert_array_equal(s.data, data)
    _assert_axes_written(s, [dict(size=48, scale=0.125, offset=0.0, units="nm", name="y", navigate=False),
                             dict(size=64, scale=0.5, offset=-4.0, units="nm", name="x", navigate=False)])
    md = s.metadata
    assert (md.General.title, md.General.date, md.General.time) == ("lattice", "2026-12-07", "06:30:15")
    assert md.Signal.signal_type == "" and md.Signal.quantity == "Intensity"
    tem = md.Acquisition_instrument.TEM
    assert (tem.beam_energy, tem.acquisition_mode, tem.magnification) == (120.0, "TEM", 50000.0)


@pytest.mark.parametrize("version", VERSIONS)
def test_eels_line_scan_and_eds_spectrum_image(tmp_path, version):
    rng = np.random.default_rng(3)
    line = rng.poisson(200, (5, 256)).astype("float32")  # 5 positions x 256 channels
    path = tmp_path / f"line.dm{version}"
    write_dm(path, line, [{"scale": 2.0, "offset": 0.0, "units": "nm"},
                          {"scale": 0.5, "offset": 280.0, "units": "eV"}],
             version=version, image_tags=EELS_TAGS)
    s = _load_both(path, "EELSSpectrum")
    assert s.axes_manager.navigation_shape == (5,) and s.axes_manager.signal_shape == (256,)
    _assert_axes_written(s, [dict(size=5, scale=2.0, offset=0.0, units="nm", name="x", navigate=True),
                             dict(size=256, scale=0.5, offset=280.0, units="eV", name="Energy loss",
                                  navigate=False)])
    np.testing.assert_array_equal(s.data, line)

    # a spectrum image: DigitalMicrograph stores it energy-slowest; the reader
    # turns it into a 1-D signal over a 4 x 3 navigation grid
    cube = rng.poisson(20, (128, 3, 4)).astype("float32")
    path = tmp_path / f"si.dm{version}"
    tags = dict(EDS_TAGS, **{"Meta Data": {"Signal": "X-ray", "Format": "Spectrum image"}})
    write_dm(path, cube, [{"scale": 0.02, "offset": 0.0, "units": "keV"},
                          {"scale": 1.5, "offset": 0.0, "units": "nm"},
                          {"scale": 1.5, "offset": 3.0, "units": "nm"}], version=version, image_tags=tags)
    s = _load_both(path, "EDSTEMSpectrum")
    assert s.axes_manager.navigation_shape == (4, 3) and s.axes_manager.signal_shape == (128,)
    np.testing.assert_array_equal(s.data, np.moveaxis(cube, 0, -1))
    energy = s.axes_manager.signal_axes[0]
    assert (energy.name, energy.units, energy.scale) == ("z", "keV", float(np.float32(0.02)))


def test_writer_rejects_what_it_cannot_write(tmp_path):
    with pytest.raises(ValueError, match="`version` 5"):
        write_dm(tmp_path / "a.dm5", np.zeros(3, "float32"), [{"scale": 1.0, "offset": 0.0}], version=5)
    with pytest.raises(ValueError, match="`data` of dtype complex128"):
        write_dm(tmp_path / "a.dm3", np.zeros(3, complex), [{"scale": 1.0, "offset": 0.0}])
    with pytest.raises(ValueError, match="`axes` has 2 entries"):
        write_dm(tmp_path / "a.dm3", np.zeros(3, "float32"), [{"scale": 1.0, "offset": 0.0}] * 2)
