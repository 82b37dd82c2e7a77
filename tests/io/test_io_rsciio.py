"""swiftfit.load through RosettaSciIO: axes, metadata and class equal HyperSpy's on the same file."""

from __future__ import annotations

import os

import numpy as np
import pytest
from same_metadata import assert_same_tree, plain

import swiftfit

pytest.importorskip("rsciio")
hs = pytest.importorskip("hyperspy.api")


pytestmark = pytest.mark.usefixtures("quiet_peers")


def _assert_same_as_hyperspy(filename, expected_class=None):
    ref = hs.load(filename)
    ours = swiftfit.load(filename)
    np.testing.assert_array_equal(ours.data, ref.data)
    assert ours.data.dtype == ref.data.dtype
    assert len(ours.axes_manager._axes) == len(ref.axes_manager._axes)
    for a, b in zip(ours.axes_manager._axes, ref.axes_manager._axes):
        assert (a.size, a.units, a.name, a.navigate, a.is_binned) == (b.size, b.units, b.name, b.navigate, b.is_binned)
        np.testing.assert_array_equal(a.axis, b.axis)
    assert_same_tree(plain(ours.metadata), plain(ref.metadata))
    if expected_class is not None:
        assert type(ours).__name__ == type(ref).__name__ == expected_class
    return ours


def _write_msa(path, signal_type, microscope):
    from rsciio.msa import file_writer

    rng = np.random.default_rng(0)
    data = rng.poisson(100, 1024).astype(float)
    signal = {
        "data": data,
        "axes": [{"size": 1024, "scale": 0.01, "offset": -0.1, "units": "keV", "name": "Energy",
                  "navigate": False, "index_in_array": 0}],
        "metadata": {
            "General": {"title": "test spectrum", "date": "2014-10-14", "time": "12:00:00"},
            "Signal": {"signal_type": signal_type, "quantity": "X-rays (Counts)"},
            "Acquisition_instrument": {microscope: {
                "beam_energy": 200.0, "Stage": {"tilt_alpha": 5.0},
                "Detector": {"EDS": {"live_time": 20.0, "azimuth_angle": 45.0, "elevation_angle": 22.0,
                                     "energy_resolution_MnKa": 133.0}}}},
        },
        "original_metadata": {},
    }
    file_writer(str(path), signal)
    return data


@pytest.mark.parametrize(("signal_type", "microscope", "cls"),
                         # rosettasciio's MSA reader takes the microscope from the
                         # file's own keywords: it reads this SEM spectrum as EDS_TEM,
                         # and so do HyperSpy and we
                         [("EDS_TEM", "TEM", "EDSTEMSpectrum"), ("EDS_SEM", "SEM", "EDSTEMSpectrum"),
                          ("", "TEM", "Signal1D")])
def test_msa_written_by_rosettasciio_loads_as_hyperspy_loads_it(tmp_path, signal_type, microscope, cls):
    path = tmp_path / "spectrum.msa"
    data = _write_msa(path, signal_type, microscope)
    s = _assert_same_as_hyperspy(path, cls)
    np.testing.assert_allclose(s.data, data)
    assert s.axes_manager[-1].scale == pytest.approx(0.01) and s.axes_manager[-1].units == "keV"
    if signal_type:
        md = s.metadata.Acquisition_instrument.TEM
        assert md.Detector.EDS.energy_resolution_MnKa == 133.0
        assert s.axes_manager[-1].is_binned


def _rsciio_test_file(relative):
    """A file of RosettaSciIO's test set: its local copy, or downloaded (sha256-checked) by pooch."""
    try:
        from rsciio.tests.registry import TEST_DATA_REGISTRY

        return TEST_DATA_REGISTRY.fetch(relative)
    except Exception as exc:  # offline and not cached
        pytest.skip(f"RosettaSciIO test file {relative} unavailable ({type(exc).__name__})")


@pytest.mark.parametrize(("relative", "cls"), [
    ("digitalmicrograph/1D/test-1.dm3", "Signal1D"),
    ("digitalmicrograph/1D/test-1.dm4", "Signal1D"),
    ("digitalmicrograph/1D/test-EDS_spectrum.dm3", "EDSTEMSpectrum"),
    ("digitalmicrograph/2D/test-1.dm3", "Signal2D"),
    ("emd/example_spectrum.emd", "Signal1D"),
    ("emd/example_signal.emd", "BaseSignal"),
])
def test_rosettasciio_test_files_load_as_hyperspy_loads_them(relative, cls):
    _assert_same_as_hyperspy(_rsciio_test_file(relative), cls)


def test_eds_dm3_gets_the_file_settings_and_exspy_defaults():
    s = swiftfit.load(_rsciio_test_file("digitalmicrograph/1D/test-EDS_spectrum.dm3"))
    eds = s.metadata.Acquisition_instrument.TEM.Detector.EDS
    assert (eds.azimuth_angle, eds.elevation_angle) == (45.0, 18.0)  # from the file (mapping)
    assert eds.energy_resolution_MnKa == 130.0  # not in the file: exspy's default
    m = s.create_model(auto_add_lines=False)
    assert [c.name for c in m] == ["background_order_6"]


def test_hspy_files_stay_with_our_reader(tmp_path, monkeypatch):
    from swiftfit.io import rsciio as bridge

    s = swiftfit.signals.Signal1D(np.arange(10.0))
    s.save(tmp_path / "a.hspy")

    def refuse(*args, **kwargs):
        raise AssertionError("RosettaSciIO must not read .hspy files")

    monkeypatch.setattr(bridge, "load_rsciio", refuse)
    np.testing.assert_array_equal(swiftfit.load(tmp_path / "a.hspy").data, np.arange(10.0))


def test_signal_type_argument_and_errors(tmp_path):
    path = tmp_path / "spectrum.msa"
    _write_msa(path, "", "TEM")
    assert type(swiftfit.load(path, signal_type="EDS_SEM")).__name__ == "EDSSEMSpectrum"
    with pytest.raises(FileNotFoundError, match="no such file"):
        swiftfit.load(tmp_path / "missing.dm3")
    with pytest.raises(ValueError, match="`reader` 'nonsense' is not a RosettaSciIO plugin"):
        swiftfit.load(path, reader="nonsense")
    assert os.path.exists(path)
