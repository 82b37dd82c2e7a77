"""EDSModel on simulated spectra with known answers: batched linear multifit,
calibrations, standard errors (pulls), Cliff–Lorimer error propagation."""

from __future__ import annotations

import numpy as np
import pytest

from swiftfit.eds import EDSTEMSpectrum, cliff_lorimer, line_weight
from swiftfit.signals import BaseSignal

AREAS = {"Fe_Ka": 4000.0, "Fe_La": 1500.0, "Cu_Ka": 6000.0, "Cu_La": 2500.0}


def _truth(resolution=130.0, scale=0.01, offset=-0.1, n=2000, nav=None, background=(200.0, -20.0)):
    """A Fe + Cu spectrum made by the model itself at ``resolution``, plus a
    straight background; its axis as written in the file (``scale``/``offset``)."""
    s = EDSTEMSpectrum(np.zeros(n), axes=[{"scale": scale, "offset": offset, "units": "keV"}])
    s.set_microscope_parameters(beam_energy=200.0, energy_resolution_MnKa=resolution)
    s.add_elements(["Fe", "Cu"])
    m = s.create_model()
    for name, area in AREAS.items():
        m[name].A.value = area
    m[0].a0.value, m[0].a1.value = background
    return np.asarray(m.as_signal().data, dtype=float)


def _spectrum(data, resolution=130.0, scale=0.01, offset=-0.1):
    s = EDSTEMSpectrum(data, axes=[{}] * (data.ndim - 1) + [{"scale": scale, "offset": offset, "units": "keV"}])
    s.set_microscope_parameters(beam_energy=200.0, energy_resolution_MnKa=resolution)
    s.add_elements(["Fe", "Cu"])
    return s


def test_noise_free_fit_recovers_the_areas_and_lines_intensity_signals():
    s = _spectrum(_truth())
    m = s.create_model()
    m.fit(optimizer="lstsq")
    for name, area in AREAS.items():
        assert m[name].A.value == pytest.approx(area, rel=1e-9)
    out = m.get_lines_intensity()
    assert [i.metadata.General.title for i in out] == [
        "Cu_Ka at 8.05 keV", "Cu_La at 0.93 keV", "Fe_Ka at 6.40 keV", "Fe_La at 0.70 keV"]
    assert out[0].metadata.Sample.xray_lines == ["Cu_Ka"] and out[0].metadata.Sample.elements == ["Cu"]
    assert float(out[0].data[0]) == pytest.approx(6000.0, rel=1e-9)
    assert [i.metadata.General.title for i in m.get_lines_intensity(["Fe_Ka"])] == ["Fe_Ka at 6.40 keV"]


def test_multifit_lstsq_is_batched_and_scales_with_the_weight_map():
    single = _spectrum(_truth())
    weights = np.random.default_rng(1).uniform(0.5, 1.5, size=(6, 7))
    s = single * BaseSignal(weights).T
    assert type(s) is EDSTEMSpectrum
    m = s.create_model()
    m.multifit(optimizer="lstsq")
    assert (m._status == 5).all()  # every pixel solved in closed form by the linear path
    for name, area in AREAS.items():
        np.testing.assert_allclose(m[name].A.map["values"], weights * area, rtol=1e-6)
    cov = m.lines_covariance()
    assert cov.shape == (6, 7, 4, 4)


def test_standard_errors_are_calibrated_and_propagate_into_compositions():
    """Gaussian noise of known variance on 600 copies: pulls of the areas have
    unit spread, and the Cliff-Lorimer compositions scatter as propagated."""
    rng = np.random.default_rng(7)
    clean = _truth()
    sigma = 3.0
    data = clean + rng.normal(0.0, sigma, size=(600, clean.size))
    s = _spectrum(data)
    s.set_noise_variance(sigma**2)
    m = s.create_model()
    m.multifit(optimizer="lstsq")
    for name, area in AREAS.items():
        A = m[name].A
        pulls = (A.map["values"] - area) / A.map["std"]
        assert abs(pulls.mean()) < 0.15 and 0.9 < pulls.std() < 1.1, name
    k = [1.0, 1.3, 1.1, 0.9]
    comp, dcomp = m.quantification_cliff_lorimer(k)
    lines = [c.name for c in m.xray_lines]
    true = np.array([AREAS[n] for n in lines]) * k
    np.testing.assert_allclose(comp.mean(axis=1), true / true.sum(), rtol=2e-3)
    # the spread of the 600 compositions equals the propagated standard error (10 %)
    np.testing.assert_allclose(comp.std(axis=1), dcomp.mean(axis=1), rtol=0.1)
    # ignoring the correlations between lines would not match: the full covariance matters
    assert np.isfinite(m.lines_covariance()).all()


def test_cliff_lorimer_equals_exspy():
    utils = pytest.importorskip("exspy._misc.eds.utils")
    rng = np.random.default_rng(3)
    intensities = rng.uniform(10, 1000, size=(3, 4, 5))
    k = [1.0, 1.47, 1.72]
    ours, _ = cliff_lorimer(intensities, k)
    np.testing.assert_allclose(ours, utils.quantification_cliff_lorimer(intensities, k), rtol=1e-12)
    with pytest.raises(ValueError, match="one value per line"):
        cliff_lorimer(intensities, [1.0, 2.0])


def test_calibrate_energy_axis_resolution_recovers_the_detector_resolution():
    s = _spectrum(_truth(resolution=140.0), resolution=130.0)
    m = s.create_model()
    m.fit()
    m.calibrate_energy_axis("resolution", family_lines=True)
    assert s.energy_resolution_MnKa == pytest.approx(140.0, abs=1e-6)
    assert m["Cu_Ka"].fwhm == pytest.approx(s._get_line_energy("Cu_Ka", FWHM_MnKa=140.0)[1], rel=1e-3)
    assert not any(c.sigma.free or c.sigma.twin is not None for c in m.xray_lines + m.family_lines)
    # exspy's way (family lines keep their width during the fit) is biased here
    s = _spectrum(_truth(resolution=140.0), resolution=130.0)
    m = s.create_model()
    m.fit()
    m.calibrate_energy_axis("resolution")
    assert 139.0 < s.energy_resolution_MnKa < 139.9


@pytest.mark.parametrize("kind", ["offset", "scale"])
def test_calibrate_energy_axis_offset_and_scale_recover_the_true_axis(kind):
    # the data were recorded on (0.01 keV, -0.1 keV); the file says otherwise
    scale, offset = (0.01, -0.13) if kind == "offset" else (0.01003, -0.1)
    s = _spectrum(_truth(), scale=scale, offset=offset)
    m = s.create_model()
    m.fit()
    m.calibrate_energy_axis(kind, family_lines=True)
    ax = s.axes_manager[-1]
    if kind == "offset":
        assert ax.offset == pytest.approx(-0.1, abs=1e-7)
    else:
        assert ax.scale == pytest.approx(0.01, rel=1e-7)
    for c in m.xray_lines + m.family_lines:
        assert c.centre.value == pytest.approx(s._get_line_energy(c.name), rel=1e-12) and not c.centre.free


def test_calibrate_xray_lines_sub_weight_twins_the_family_again():
    data = _truth()
    s = _spectrum(data)
    m = s.create_model()
    m.fit()
    m.calibrate_xray_lines("sub_weight", bound=10)
    for sub in m.family_lines:
        main = next(c for c in m.xray_lines if c.name[:-1] == sub.name[:len(c.name) - 1])
        assert sub.A.twin is main.A, sub.name  # exspy leaves them untwinned
        assert not sub.A.free
    # noise-free data made with the tabulated weights: the weights come back
    assert m["Cu_Kb"].A.value / m["Cu_Ka"].A.value == pytest.approx(line_weight("Cu_Kb"), rel=1e-6)
    # the twin's factor is the fitted ratio (to rounding: x·c/x need not give back c's last bit)
    text = m["Cu_Kb"].A.twin_function_expr
    assert text.startswith("x * ")
    assert float(text[4:]) == pytest.approx(m["Cu_Kb"].A.value / m["Cu_Ka"].A.value, rel=1e-14)


def test_calibrate_xray_lines_energy_finds_shifted_lines_within_the_bound():
    s = _spectrum(_truth(offset=-0.1 - 0.004))  # every line 4 eV above its tabulated energy
    m = s.create_model()
    m.fit()
    m.calibrate_xray_lines("energy", ["Cu_Ka", "Fe_Ka"], bound=10)
    assert m["Cu_Ka"].centre.value == pytest.approx(8.0478 + 0.004, abs=2e-4)
    assert m["Fe_Ka"].centre.value == pytest.approx(6.4039 + 0.004, abs=2e-4)
    assert m["Fe_La"].centre.value == 0.7045  # not selected: untouched


def test_positivity_is_enforced_with_bounded_fit():
    rng = np.random.default_rng(0)
    clean = _truth()
    s = _spectrum(clean + rng.normal(0, 30.0, size=clean.size))
    s.add_elements(["Pt"])  # absent from the data: its area is 0 ± noise
    m = s.create_model()
    m.fit(bounded=True)
    assert all(c.A.value >= 0 for c in m.xray_lines)


def test_bad_arguments_raise_clear_errors():
    m = _spectrum(_truth()).create_model()
    with pytest.raises(ValueError, match=r"`calibrate` must be one of \('resolution', 'scale', 'offset'\), got 'size'"):
        m.calibrate_energy_axis("size")
    with pytest.raises(ValueError, match="`calibrate` must be one of"):
        m.calibrate_xray_lines("height")
    with pytest.raises(ValueError, match="`kind` must be 'single' or 'multi'"):
        m.fit_background(kind="many")
    with pytest.raises(ValueError, match="not a main line of the model"):
        m.quantification_cliff_lorimer([1.0], ["Zn_Ka"])
