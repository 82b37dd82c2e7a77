"""EELSSpectrum: chosen by signal type, binned, kept by arithmetic, exspy's metadata paths."""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit
from swiftfit.eels import EELSCLEdge, EELSSpectrum
from swiftfit.eels.database import SOURCE, onset_energy, split_subshell
from swiftfit.errors import InvalidInputError
from swiftfit.signals import Signal1D


def _spectrum(nav=()):
    x = np.arange(360.0, 770.0, 0.5)
    return EELSSpectrum(np.ones(nav + x.shape), axes=[{} for _ in nav] + [{"offset": 360.0, "scale": 0.5, "units": "eV"}])


def test_set_signal_type_gives_binned_eels_spectrum():
    s = Signal1D(np.ones((2, 50)))
    assert not s.axes_manager[-1].is_binned
    s.set_signal_type("EELS")
    assert type(s) is EELSSpectrum
    assert s.axes_manager[-1].is_binned
    assert s.metadata.Signal.signal_type == "EELS"
    s.set_signal_type("")
    assert type(s) is Signal1D


def test_class_survives_arithmetic_with_navigation():
    s = _spectrum()
    s.add_elements(["O"])
    nav = swiftfit.signals.BaseSignal(np.arange(1.0, 7.0).reshape(2, 3)).T
    t = s * nav
    assert type(t) is EELSSpectrum
    assert t.data.shape == (2, 3, s.data.shape[-1])
    np.testing.assert_array_equal(t.data[1, 2], 6 * s.data)
    assert t.axes_manager[-1].is_binned
    assert t.subshells == {"O_K"}
    assert type(s * 2.0) is EELSSpectrum


def test_add_elements_and_subshells_in_range():
    s = _spectrum()
    s.add_elements(("Mn", "O"))
    s.add_elements(["O"])
    assert s.metadata.Sample.elements == ["Mn", "O"]  # sorted, whatever the order given
    # onsets 532 (O K), 640/651/769 (Mn L3/L2/L1) lie in [360, 769.5]; Mn M edges (< 100 eV) do not
    assert s.subshells == {"O_K", "Mn_L3", "Mn_L2", "Mn_L1"}
    with pytest.raises(InvalidInputError, match="'Xx'"):
        s.add_elements(["Xx"])
    with pytest.raises(Exception, match="elements"):
        s.add_elements("Mn")


def test_set_microscope_parameters_writes_exspy_paths():
    s = _spectrum()
    s.set_microscope_parameters(beam_energy=300, convergence_angle=24.6, collection_angle=13.6)
    md = s.metadata
    assert md.get_item("Acquisition_instrument.TEM.beam_energy") == 300.0
    assert md.get_item("Acquisition_instrument.TEM.convergence_angle") == 24.6
    assert md.get_item("Acquisition_instrument.TEM.Detector.EELS.collection_angle") == 13.6
    with pytest.raises(InvalidInputError, match="beam_energy"):
        s.set_microscope_parameters(beam_energy=-1)


def test_edges_take_microscope_parameters_from_metadata():
    s = _spectrum()
    s.add_elements(["O"])
    s.set_microscope_parameters(beam_energy=300, convergence_angle=24.6, collection_angle=13.6)
    m = s.create_model()
    edge = m["O_K"]
    assert (edge.E0, edge.convergence_angle, edge.collection_angle, edge.energy_scale) == (300.0, 24.6, 13.6, 0.5)
    assert m.edges == [edge]


def test_edge_table_lookups_and_errors():
    assert onset_energy("O_K") == 532.0
    assert "Ahn" in SOURCE and "exspy" in SOURCE
    with pytest.raises(InvalidInputError, match="element_subshell"):
        split_subshell("OK")
    with pytest.raises(InvalidInputError, match="no 'K9' edge"):
        split_subshell("O_K9")
    with pytest.raises(InvalidInputError, match="K and L shells"):
        EELSCLEdge("Au_M5")
