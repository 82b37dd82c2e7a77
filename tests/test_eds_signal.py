"""EDS signals: class from signal_type, binned axis, elements/lines, microscope parameters (exspy's paths)."""

import warnings

import numpy as np
import pytest

import swiftfit
from swiftfit.eds import EDSSEMSpectrum, EDSTEMSpectrum
from swiftfit.signals import BaseSignal, Signal1D


def _spectrum(kind="EDS_TEM", n=2048, scale=0.01, units="keV"):
    s = Signal1D(np.ones(n), axes=[{"scale": scale, "units": units}])
    s.set_signal_type(kind)
    return s


def test_set_signal_type_gives_binned_eds_classes_with_defaults():
    s = _spectrum("EDS_TEM")
    assert type(s) is EDSTEMSpectrum and s.axes_manager[-1].is_binned
    md = s.metadata.Acquisition_instrument.TEM
    assert md.Detector.EDS.energy_resolution_MnKa == 130.0
    assert md.Detector.EDS.elevation_angle == 35.0
    assert md.Stage.tilt_alpha == 0.0
    s.set_signal_type("EDS_SEM")
    assert type(s) is EDSSEMSpectrum
    # the settings move with the spectrum to the other microscope
    assert s.metadata.Acquisition_instrument.SEM.Detector.EDS.energy_resolution_MnKa == 130.0
    assert not s.metadata.has_item("Acquisition_instrument.TEM")


def test_class_survives_arithmetic_with_a_navigation_map():
    s = _spectrum()
    s.set_microscope_parameters(beam_energy=200.0)
    s.add_elements(["Fe"])
    nav = BaseSignal(np.arange(1.0, 7.0).reshape(2, 3)).T
    t = s * nav
    assert type(t) is EDSTEMSpectrum
    assert t.data.shape == (2, 3, 2048) and t.axes_manager[-1].is_binned
    assert t.metadata.Sample.elements == ["Fe"]
    np.testing.assert_array_equal(t.data[1, 2], 6.0)
    assert type(2 * s) is EDSTEMSpectrum and type(s.deepcopy()) is EDSTEMSpectrum


def test_microscope_parameters_at_exspy_paths():
    s = _spectrum()
    s.set_microscope_parameters(beam_energy=300.0, live_time=2.0, tilt_stage=10.0, azimuth_angle=45.0,
                                elevation_angle=22.0, energy_resolution_MnKa=128.5, beam_current=1.5,
                                probe_area=0.1, real_time=3.0)
    tem = s.metadata.Acquisition_instrument.TEM
    assert (tem.beam_energy, tem.beam_current, tem.probe_area) == (300.0, 1.5, 0.1)
    assert (tem.Detector.EDS.live_time, tem.Detector.EDS.real_time) == (2.0, 3.0)
    assert (tem.Stage.tilt_alpha, tem.Detector.EDS.azimuth_angle, tem.Detector.EDS.elevation_angle) == (10.0, 45.0, 22.0)
    assert tem.Detector.EDS.energy_resolution_MnKa == 128.5
    sem = _spectrum("EDS_SEM")
    sem.set_microscope_parameters(beam_energy=15.0)
    assert sem.metadata.Acquisition_instrument.SEM.beam_energy == 15.0
    with pytest.raises(ValueError, match="unknown argument 'beam_current'"):
        sem.set_microscope_parameters(beam_current=1.0)
    with pytest.raises(ValueError, match="`beam_energy` must be a number"):
        s.set_microscope_parameters(beam_energy="high")


@pytest.mark.parametrize("kind", ["EDS_SEM", "EDS_TEM"])
def test_elements_and_lines_equal_exspy(kind):
    exspy = pytest.importorskip("exspy")
    warnings.simplefilter("ignore")
    import hyperspy.api as hs

    beam = 10.0 if kind == "EDS_SEM" else 200.0
    ours = _spectrum(kind, n=1024, scale=0.01)
    ref = hs.signals.Signal1D(np.ones(1024))
    ref.axes_manager[-1].scale, ref.axes_manager[-1].units = 0.01, "keV"
    ref.set_signal_type(kind)
    for s in (ours, ref):
        s.set_microscope_parameters(beam_energy=beam)
        s.add_elements(["Zr", "Al", "C"])
        s.add_elements(("Mn", "Cu"))
    assert ours.metadata.Sample.elements == list(ref.metadata.Sample.elements)
    for args in [dict(), dict(only_one=False), dict(only_lines=("a", "b")), dict(only_one=False, only_lines=None)]:
        for s in (ours, ref):
            if s.metadata.has_item("Sample.xray_lines"):
                del s.metadata.Sample.xray_lines
            s.add_lines(**args)
        assert ours.metadata.Sample.xray_lines == list(ref.metadata.Sample.xray_lines), args
    ours.set_lines(["Cu_Ka", "Mn_Ka"])
    ref.set_lines(["Cu_Ka", "Mn_Ka"])
    assert ours.metadata.Sample.xray_lines == list(ref.metadata.Sample.xray_lines)
    ours.set_elements(["Fe"])
    ref.set_elements(["Fe"])
    assert ours.metadata.Sample.elements == list(ref.metadata.Sample.elements) == ["Fe"]
    assert isinstance(ref, exspy.signals.EDSSpectrum)


def test_bad_elements_and_lines():
    s = _spectrum()
    with pytest.raises(ValueError, match="must be a list of element symbols"):
        s.add_elements("Fe")
    with pytest.raises(ValueError, match="'Qq' is not a valid chemical element"):
        s.add_elements(["Qq"])
    with pytest.raises(ValueError, match="'Ka2' is not a line of Fe"):
        s.add_lines(["Fe_Ka2"])
    with pytest.warns(UserWarning, match="Pt_Ka is not in the data energy range"):
        s.add_lines(["Pt_Ka"])


def test_eds_signal_saves_and_loads_with_its_class(tmp_path):
    s = _spectrum()
    s.add_elements(["Fe"])
    s.save(tmp_path / "eds.hspy")
    t = swiftfit.load(tmp_path / "eds.hspy")
    assert type(t) is EDSTEMSpectrum and t.metadata.Sample.elements == ["Fe"]
    assert t.axes_manager[-1].is_binned
