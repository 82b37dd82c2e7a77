"""``as_dictionary`` / ``_load_dictionary`` round trips (HyperSpy's layout), stored-model stubs,
``Parameter.events``, ``len(Parameter)`` and the twin/free rule."""

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.components.components1d import Gaussian, Lorentzian, Offset, ScalableFixedPattern
from swiftfit.parameters import Parameter


@pytest.fixture
def fitted():
    x = np.arange(100.0)
    rng = np.random.default_rng(3)
    truth = 5 + 300 / (4 * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((x - 40) / 4) ** 2)
    s = sf.signals.Signal1D(np.stack([truth + rng.normal(0, 0.5, 100) for _ in range(3)]))
    m = s.create_model()
    m.extend([Gaussian(A=250.0, centre=42.0, sigma=5.0), Offset(offset=4.0), Gaussian(A=1.0, centre=60.0)])
    m[2].A.twin = m[0].A
    m[2].A.twin_function_expr = "x / 10"
    m[2].sigma.expr = "Gaussian.sigma * 2"
    m[2].centre.free = False
    m[1].offset.bmin = 0.0
    m.set_signal_range(5, 95)
    m.multifit()
    return s, m


def test_parameter_dictionary_layout():
    p = Parameter("A", value=2.0)
    p.std = 0.1
    p.bmin = 1.0
    d = p.as_dictionary()
    assert d["_id_name"] == d["name"] == "A"
    assert d["map"]["values"][0] == 2.0 and d["map"]["std"][0] == 0.1
    assert d["value"] == 2.0 and d["std"] == 0.1 and d["free"] is True
    assert d["_bounds"] == (1.0, None) and d["self"] == id(p) and d["_twins"] == []
    assert d["_whitelist"]["self"] == "id" and d["_whitelist"]["map"] == ""
    q = Parameter("A")
    assert q._load_dictionary(d) == id(p)
    assert (q.value, q.std, q.bmin, q.bmax) == (2.0, 0.1, 1.0, None)
    d["_id_name"] = "B"
    with pytest.raises(ValueError, match="_id_name"):
        q._load_dictionary(d)


def test_component_dictionary_wrong_class_or_parameters():
    d = Gaussian(A=3.0).as_dictionary()
    assert d["_id_name"] == "Gaussian" and d["package"] == "swiftfit"
    with pytest.raises(ValueError, match="_id_name of component"):
        Lorentzian()._load_dictionary(d)
    d["parameters"][0]["_id_name"] = "B"
    with pytest.raises(ValueError, match="parameters in component"):
        Gaussian()._load_dictionary(d)


def test_model_round_trip(fitted):
    s, m = fitted
    d = m.as_dictionary()
    np.testing.assert_array_equal(d["chisq.data"], m.chisq.data)
    m2 = s.create_model()
    m2.append(Lorentzian())  # replaced by the dictionary's components
    m2._load_dictionary(d)
    assert [c.name for c in m2] == ["Gaussian", "Offset", "Gaussian_0"]
    for c1, c2 in zip(m, m2, strict=True):
        for p1, p2 in zip(c1.parameters, c2.parameters, strict=True):
            for field in ("values", "std", "is_set"):  # NaN std: compare field by field
                np.testing.assert_array_equal(p1.map[field], p2.map[field])
            assert (p1.free, p1.bmin, p1.bmax) == (p2.free, p2.bmin, p2.bmax)
    assert m2[2].A.twin is m2[0].A and m2[2].A.twin_function_expr == "x / 10"
    assert m2[2].sigma.expr == "Gaussian.sigma * 2"
    np.testing.assert_array_equal(m2._channel_switches, m._channel_switches)
    np.testing.assert_array_equal(m2.chisq.data, m.chisq.data)
    s.axes_manager.indices = (1,)
    np.testing.assert_allclose(m2[2].A.value, m[0].A.value / 10)
    # a fit of the rebuilt model ends where the original did
    m2.multifit()
    np.testing.assert_allclose(m2[0].A.map["values"], m[0].A.map["values"], rtol=1e-6)


def test_round_trip_of_a_pattern_and_fullcopy(fitted):
    s, _ = fitted
    m = s.create_model()
    m.append(ScalableFixedPattern(s.inav[0] * 0.3))
    d = m.as_dictionary()
    m2 = s.create_model()
    m2._load_dictionary(d)
    np.testing.assert_allclose(m2[0].signal.data, s.inav[0].data * 0.3)
    shared = m.as_dictionary(fullcopy=False)
    assert shared["_channel_switches"] is m._channel_switches


def test_restored_model_has_the_same_dictionary(fitted):
    s, m = fitted
    m.store("a")
    d0, d1 = m.as_dictionary(), s.models.a.restore().as_dictionary()
    for d in (d0, d1):
        for c in d["components"]:
            for p in c["parameters"]:
                del p["self"], p["_twins"]
                p["map"] = {field: p["map"][field] for field in ("values", "std", "is_set")}
    np.testing.assert_equal(d0, d1)


def test_models_stubs_are_kept():
    s = sf.signals.Signal1D(np.arange(10.0))
    m = s.create_model()
    m.append(Offset())
    m.store()
    assert s.models is s.models
    assert s.models.a is s.models["a"]
    s.models.a.remove()
    m.store()  # a new model under the same name gets a new stub
    assert s.models.a._entry is s.models_stored["a"]


def test_events_value_changed_through_twins():
    p1, p2 = Parameter("a"), Parameter("b")
    calls = []
    p2.events.value_changed.connect(lambda obj, value: calls.append((obj.name, value)))
    p2.twin = p1
    p1.value = 2.0
    p1.value = 2.0  # unchanged: no call
    assert calls == [("b", 2.0)]
    p2.value = 5.0  # sets the twin through the inverse: p2 changes once
    assert calls == [("b", 2.0), ("b", 5.0)] and p1.value == 5.0
    # untwinning writes the twin's 5 over its own stored 0: HyperSpy calls the callbacks here too
    p2.twin = None
    assert len(calls) == 3 and calls[-1] == ("b", 5.0)
    p1.value = 7.0  # untwinned: p2 does not follow
    assert len(calls) == 3 and p2.value == 5.0
    with p2.events.suppress():
        p2.value = 1.0
    assert len(calls) == 3
    p2.value = 3.0
    assert calls[-1] == ("b", 3.0)


def test_len_and_free_twin_rule():
    p1, p2 = Parameter("a"), Parameter("b")
    assert len(p1) == 1 == p1._number_of_elements
    p2.twin = p1
    assert not p2.free
    with pytest.raises(ValueError, match="twinned"):
        p2.free = True
    g = Gaussian()
    g.A.twin = g.sigma
    g.set_parameters_free()  # twinned ones stay tied, no error
    assert not g.A.free
    g.A.twin = None
    assert g.A.free


@pytest.mark.usefixtures("quiet_peers")
def test_a_dictionary_made_by_hyperspy():
    hs = pytest.importorskip("hyperspy.api")
    x = np.arange(100.0)
    data = 5 + 0.1 * x + 30 * np.exp(-0.5 * ((x - 40) / 3) ** 2)
    hm = hs.signals.Signal1D(data).create_model()
    hm.extend([hs.model.components1D.Gaussian(A=200, centre=41, sigma=4), hs.model.components1D.Polynomial(order=1)])
    hm[0].centre.bmin = 30.0
    hm.fit()
    m = sf.signals.Signal1D(data).create_model(dictionary=hm.as_dictionary())
    assert [c._id_name for c in m] == ["Gaussian", "Polynomial"]
    for hc, c in zip(hm, m, strict=True):
        for hp in hc.parameters:
            p = getattr(c, hp.name)
            assert (p.value, p.bmin, p.bmax, p.free) == (hp.value, hp.bmin, hp.bmax, hp.free)
    np.testing.assert_array_equal(m.chisq.data, hm.chisq.data)
    # the truth is recovered by both: A = 30 * 3 * sqrt(2 pi)
    assert m[0].A.value == pytest.approx(30 * 3 * np.sqrt(2 * np.pi), rel=1e-6)
