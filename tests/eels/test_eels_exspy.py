"""swiftfit's EELS against exspy 0.3.2 run on the same data (exspy is GPL: we
run it and compare; nothing of its code is used).

Tolerances: the edge table and effective angles are compared exactly (1e-12 /
1e-9); cross-sections to 1e-6 relative (measured: 5e-14). Fitted values and
chi-square must lie within 10x the spread between two correct optimizers
inside exspy ("lm" = leastsq and "trf"), measured in the test itself, with a
floor of 1e-12 relative for chi-square (there the spread is at round-off,
2e-16). Reduced chi-square is compared through chi-square: HyperSpy divides
by N - P - 1, swiftfit by N - P.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from eels_data import CR_CL, CR_LL, exspy_mno, mno

hs = pytest.importorskip("hyperspy.api")
logging.getLogger("hyperspy").setLevel(logging.ERROR)

import swiftfit  # noqa: E402
import swiftfit.eels  # noqa: E402
from swiftfit.eels.database import edge_table  # noqa: E402
from swiftfit.eels.edge import EELSCLEdge  # noqa: E402
from swiftfit.eels.gos import effective_angle  # noqa: E402

pytestmark = pytest.mark.usefixtures("quiet_peers")


def test_edge_table_equals_exspy():
    from exspy._misc.elements import elements_db
    ours = edge_table()
    assert set(ours) == {k for k in elements_db.keys() if not k.startswith("_")}
    n = 0
    for el, entry in ours.items():
        ref = elements_db[el].as_dictionary()
        assert entry["Z"] == ref["General_properties"]["Z"]
        assert entry["atomic_weight"] == pytest.approx(ref["General_properties"]["atomic_weight"], rel=1e-12)
        ref_edges = ref["Atomic_properties"].get("Binding_energies", {})
        assert set(entry["edges"]) == set(ref_edges)
        for sub, e in entry["edges"].items():
            assert e["onset_energy"] == pytest.approx(ref_edges[sub]["onset_energy (eV)"], rel=1e-12, abs=0)
            assert (e["relevance"], e["threshold"], e["edge"]) == (
                ref_edges[sub]["relevance"], ref_edges[sub]["threshold"], ref_edges[sub]["edge"])
            n += 1
    assert n > 300


@pytest.mark.parametrize("subshell", ["C_K", "O_K", "B_K", "Cr_L3", "Fe_L3", "Mn_L3"])
@pytest.mark.parametrize("E0,alpha,beta", [(200.0, 10.0, 20.0), (300.0, 24.6, 13.6), (100.0, 0.0, 30.0)])
def test_hydrogenic_cross_section_equals_exspy(subshell, E0, alpha, beta):
    from exspy.components import EELSCLEdge as XEdge
    ref = XEdge(subshell, GOS="hydrogenic")
    ref.set_microscope_parameters(E0=E0, alpha=alpha, beta=beta, energy_scale=0.5)
    ours = EELSCLEdge(subshell)
    ours.set_microscope_parameters(E0=E0, alpha=alpha, beta=beta, energy_scale=0.5)
    assert ours.effective_angle.value == pytest.approx(ref.effective_angle.value, rel=1e-9, abs=0)
    on = ours.onset_energy.value
    top = ours.GOS.energy_axis[-1]
    # below the onset, at it, inside the tabulated range, past it (power-law tail)
    E = np.r_[on - 5.0, on, on + np.array([0.7, 3.0, 17.3, 60.0, 150.0, 400.0]), top, top + 100.0, 3000.0]
    a, b = ref.function(E), ours.function(E)
    assert a[0] == 0 and b[0] == 0
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=0)


def test_effective_angle_equals_exspy():
    from exspy._misc.eels.effective_angle import effective_angle as ref
    for args in [(200, 284, 10, 20), (300, 532, 24.6, 13.6), (100, 708, 30, 5), (80, 1500, 2, 40), (120, 99, 5, 5)]:
        assert effective_angle(*args) == pytest.approx(ref(*args), rel=1e-9, abs=0)


def _structure(model):
    out = []
    for c in model:
        free = sorted(p.name for p in c.parameters if p.free)
        twins = sorted((p.name, f"{p.twin.component.name}.{p.twin.name}") for p in c.parameters
                       if p.twin is not None)
        out.append((c.name, type(c).__name__, free, twins))
    return out


def _exspy_fit(case, optimizer):
    if case == "Cr":
        xm = hs.load(CR_CL).create_model(auto_background=False, low_loss=hs.load(CR_LL), GOS="hydrogenic")
        xm.fit(kind="smart", optimizer=optimizer)
    else:
        s, ll = exspy_mno(low_loss=case == "MnO_ll")
        xm = s.create_model(low_loss=ll, GOS="hydrogenic")
        xm.fit(optimizer=optimizer)
    values = {f"{c.name}.{p.name}": p.value for c in xm for p in c.parameters if p.free}
    return xm, values, float(np.ravel(xm.chisq.data)[0])


def _our_fit(case):
    if case == "Cr":
        m = swiftfit.load(CR_CL).create_model(auto_background=False, low_loss=swiftfit.load(CR_LL))
        m.smart_fit()
    else:
        s, ll = mno(low_loss=case == "MnO_ll")
        m = s.create_model(low_loss=ll)
        m.fit()
    assert m.fit_output.success
    values = {f"{c.name}.{p.name}": p.value for c in m for p in c.parameters if p.free}
    return m, values, float(np.ravel(m.chisq.data)[0])


@pytest.mark.parametrize("case", ["Cr", "MnO", "MnO_ll"])
def test_model_and_fit_equal_exspy_within_optimizer_spread(case):
    xm, ref, ref_chisq = _exspy_fit(case, "lm")
    _, alt, alt_chisq = _exspy_fit(case, "trf")
    m, ours, chisq = _our_fit(case)
    # the same components, free parameters and twins, in the same order
    assert _structure(m) == [(n, t, [f for f in free if f != "fine_structure_coeff"], tw)
                             for n, t, free, tw in _structure(xm)]
    assert set(ours) == set(ref)
    for key in ref:
        spread = abs(ref[key] - alt[key]) / abs(ref[key])
        assert abs(ours[key] - ref[key]) / abs(ref[key]) <= 10 * spread, (key, ours[key], ref[key], spread)
    spread = max(abs(ref_chisq - alt_chisq) / ref_chisq, 1e-13)
    assert abs(chisq - ref_chisq) / ref_chisq <= 10 * spread
    n, p = int(m._channel_switches.sum()), len(ours)
    np.testing.assert_allclose(m.red_chisq.data * (n - p) / (n - p - 1), np.ravel(xm.red_chisq.data)[0],
                               rtol=10 * spread)


def test_quantify_prints_exspy_text(capsys):
    s, ll = exspy_mno(low_loss=False)
    xm = s.create_model(GOS="hydrogenic")
    xm.fit()
    xm.quantify()
    ref = capsys.readouterr().out
    m, _, _ = _our_fit("MnO")
    for e in m.edges:  # print exspy's fitted values through our formatter
        e.intensity.value = xm[e.name].intensity.value
    m.quantify()
    assert capsys.readouterr().out == ref


def test_subshells_equal_exspy():
    s = hs.signals.Signal1D(np.ones(2000))
    s.set_signal_type("EELS")
    s.axes_manager[-1].offset = 50.0
    s.add_elements(["C", "O", "Fe", "Ba", "Si", "Na"])
    ours = swiftfit.eels.EELSSpectrum(np.ones(2000), axes=[{"offset": 50.0, "scale": 1.0}])
    ours.add_elements(["C", "O", "Fe", "Ba", "Si", "Na"])
    assert ours.subshells == set(s.subshells)
    assert ours.metadata.Sample.elements == sorted(s.metadata.Sample.elements)
