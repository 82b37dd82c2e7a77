"""m.store / s.models (HyperSpy's ModelManager) and m.save with every stored model."""

from __future__ import annotations

import datetime as _dt

import numpy as np
import pytest
from test_hdf5_roundtrip import assert_models_equal, build_model

import swiftfit as hs
from swiftfit.component import Component
from swiftfit.components import components1d as c1
from swiftfit.io import hdf5_model, load
from swiftfit.io.model_manager import MemoryStoredModel, next_name

SPECS = [
    {"nav": (3, 4), "kinds": ["Gaussian", "Polynomial", "Expression", "Offset"], "orders": [0, 2, 0, 0, 0],
     "uniform": True, "inverse": True, "seed": 11},
    {"nav": (), "kinds": ["Lorentzian", "PowerLaw", "Gaussian"], "orders": [0, 0, 0, 0, 0],
     "uniform": False, "inverse": False, "seed": 12},
]


@pytest.fixture
def fixed_date(monkeypatch):
    class FixedDatetime(_dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2015, 9, 7, 12, 1, 50)

    monkeypatch.setattr(hdf5_model, "datetime", FixedDatetime)


def test_tree_print_is_hyperspys(fixed_date):
    """The example of HyperSpy's user guide (Storing models), character for character."""
    s = hs.signals.Signal1D(np.arange(100.0))
    m = s.create_model()
    m.append(c1.Lorentzian())
    assert m.store("myname") == "myname"
    assert repr(s.models) == (
        "└── myname\n"
        "    ├── components\n"
        "    │   └── Lorentzian\n"
        "    ├── date = 2015-09-07 12:01:50\n"
        "    └── dimensions = (|100)\n"
    )
    m.append(c1.Exponential())
    assert m.store() == "a"
    expected = (
        "├── a\n"
        "│   ├── components\n"
        "│   │   ├── Exponential\n"
        "│   │   └── Lorentzian\n"
        "│   ├── date = 2015-09-07 12:01:50\n"
        "│   └── dimensions = (|100)\n"
        "└── myname\n"
        "    ├── components\n"
        "    │   └── Lorentzian\n"
        "    ├── date = 2015-09-07 12:01:50\n"
        "    └── dimensions = (|100)\n"
    )
    assert repr(s.models) == str(s.models) == expected
    assert repr(s.models.myname) == (
        "├── components\n│   └── Lorentzian\n├── date = 2015-09-07 12:01:50\n└── dimensions = (|100)\n"
    )
    m1 = s.models.restore("myname")
    assert [c.name for c in m1] == ["Lorentzian"]


def test_tree_of_navigation_and_empty_model(fixed_date):
    s = hs.signals.Signal1D(np.zeros((2, 3, 10)))
    assert repr(s.models) == "" and len(s.models) == 0
    s.create_model().store()
    # as HyperSpy: no "components" node for a model without components
    assert repr(s.models) == "└── a\n    ├── date = 2015-09-07 12:01:50\n    └── dimensions = (3, 2|10)\n"


@pytest.mark.parametrize("spec", SPECS, ids=["nav3x4", "nav0"])
def test_restore_equals_stored_and_copy_is_frozen(spec):
    m = build_model(spec)
    m.store("fit")
    first = m.signal.models.restore("fit")
    assert first is not m and first.signal is m.signal
    assert_models_equal(m, first)
    # change the live model every way the store keeps: the stored copy must not move
    for comp in m:
        for p in comp.parameters:
            p.map["values"] += 1.0
            p.map["is_set"] = ~p.map["is_set"]
            p.twin = None  # first: a twinned parameter cannot be set free (HyperSpy's rule)
            p.expr = None
            p.free = not p._free
    m._chisq = m._chisq + 1
    m.reset_signal_range()
    m.remove(m[0])
    second = m.signal.models.fit.restore()
    assert_models_equal(first, second)


def test_automatic_names_follow_hyperspy():
    assert next_name([]) == "a"
    s = hs.signals.Signal1D(np.arange(5.0))
    m = s.create_model()
    names = [m.store() for _ in range(28)]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    assert names == [*letters, "aa", "ab"]
    # HyperSpy's rule: the name length counts the stored models, then the first free name
    s.models.remove("c")
    assert m.store() == "ac"  # 27 models stored: two letters
    assert next_name(["myname"]) == "a" and next_name(["a", "myname"]) == "b"


def test_names_and_errors():
    s = hs.signals.Signal1D(np.arange(5.0))
    m = s.create_model()
    m.append(c1.Offset(offset=2.0))
    m.store("x1")
    with pytest.raises(ValueError, match="already stored"):
        m.store("x1")
    m[0].offset.value = 5.0
    assert m.store("x1", overwrite=True) == "x1"
    assert s.models.restore("x1")[0].offset.value == 5.0
    for bad in ("1x", "_x", "a.b", "a b", "", "restore", "names", "pop"):
        with pytest.raises(ValueError, match="`name`"):
            m.store(bad)
    with pytest.raises(TypeError, match="`name`"):
        m.store(3)
    with pytest.raises(ValueError, match="no model named 'zz'"):
        s.models.restore("zz")
    with pytest.raises(ValueError, match="no model named"):
        s.models.remove("zz")
    with pytest.raises(AttributeError):
        s.models.zz  # noqa: B018
    other = hs.signals.Signal1D(np.arange(5.0)).create_model()
    with pytest.raises(ValueError, match="different signal"):
        s.models.store(other)
    assert s.models.names == ["x1"]


def test_remove_pop_iteration():
    s = hs.signals.Signal1D(np.arange(6.0))
    m = s.create_model()
    m.append(c1.Offset(offset=1.0))
    for name in ("b2", "a1", "c3"):
        m.store(name)
    assert len(s.models) == 3 and "a1" in s.models and "zz" not in s.models
    assert list(s.models) == s.models.names == ["a1", "b2", "c3"]
    assert "b2" in dir(s.models)
    popped = s.models.b2.pop()
    assert popped[0].offset.value == 1.0 and "b2" not in s.models
    s.models["c3"].remove()
    popped = s.models.pop("a1")
    assert len(s.models) == 0 and popped[0].name == "Offset"
    assert isinstance(s.models_stored, dict) and not s.models_stored


def test_failed_store_stores_nothing():
    s = hs.signals.Signal1D(np.arange(5.0))
    m = s.create_model()
    m.append(c1.Offset())
    outside = c1.Offset()
    m[0].offset.twin = outside.offset  # a twin the stored model could not hold
    with pytest.raises(ValueError, match="twinned to a parameter outside the model"):
        m.store("bad")
    assert len(s.models) == 0


def test_local_class_restores_in_the_session_that_saved_it(tmp_path):
    """HyperSpy's test_loading_non_expression_custom_component: a class defined
    in a function is saved and restored in the same session (HyperSpy pickles
    it); here the class object saved is remembered, nothing is read from the file.
    """

    class Local(Component):
        def __init__(self, p1=1.0, p2=2.0):
            Component.__init__(self, ("p1", "p2"))
            self.p1.value, self.p2.value = p1, p2

        def function(self, x):
            return self.p1.value + x * self.p2.value

    s = hs.signals.Signal1D(np.arange(10.0))
    m = s.create_model()
    m.append(Local())
    m[0].p2.value = 3.0
    m.store("a")
    fn = tmp_path / "local.hspy"
    s.save(fn)
    r = load(fn).models.restore("a")
    assert type(r[0]) is Local and r[0].p2.value == 3.0
    np.testing.assert_allclose(r.as_signal().data, 1.0 + 3.0 * np.arange(10.0), rtol=1e-12)
    # another session (nothing saved there) refuses the class, naming why
    saved = dict(hdf5_model._SAVED_LOCAL)
    hdf5_model._SAVED_LOCAL.clear()
    try:
        with pytest.raises(ValueError, match="defined inside a function; only the session that saved it"):
            load(fn).models.restore("a")
    finally:
        hdf5_model._SAVED_LOCAL.update(saved)


def test_save_writes_every_stored_model(tmp_path):
    m = build_model(SPECS[0])
    s = m.signal
    m.store("start")
    start = s.models.restore("start")
    m[0].A.map["values"] *= 3
    fn = tmp_path / "fit.h5"
    assert m.save(fn, "end") == "end"
    assert m.save(fn, "end") == "end"  # as HyperSpy: save replaces its own name
    loaded = load(fn)
    assert loaded.models.names == ["end", "start"]
    assert_models_equal(start, loaded.models.start.restore())
    assert_models_equal(m, loaded.models.restore("end"))
    assert_models_equal(m, loaded.models_stored["end"]())  # the old API still works
    # save again from the loaded signal into the same file: its file models are kept
    again = loaded.models.restore("start")
    assert again.save(fn) == "a"
    reloaded = load(fn)
    assert reloaded.models.names == ["a", "end", "start"]
    assert_models_equal(m, reloaded.models.end.restore())
    assert_models_equal(start, reloaded.models.a.restore())
    assert "date = " in repr(reloaded.models) and "(4, 3|40)" in repr(reloaded.models)
    assert [p.name for p in tmp_path.iterdir()] == ["fit.h5"]  # no temporary file left


def test_entries_of_other_readers_are_listed_restored_and_saved(tmp_path):
    s = hs.signals.Signal1D(np.arange(8.0))
    made = s.create_model()
    made.append(c1.Offset(offset=4.0))

    class Foreign:  # what a reader of another format puts in models_stored
        def restore(self):
            return made

    s.models_stored = {"hyper": Foreign()}
    assert "hyper" in s.models and repr(s.models) == "└── hyper\n    └── dimensions = (|8)\n"
    assert s.models.hyper.restore() is made
    mine = s.create_model()
    mine.save(tmp_path / "both.h5", "mine")
    loaded = load(tmp_path / "both.h5")
    assert loaded.models.names == ["hyper", "mine"]
    assert_models_equal(made, loaded.models.restore("hyper"))
    assert isinstance(s.models_stored["mine"], MemoryStoredModel)


def test_unreadable_file_entry_still_listed(tmp_path):
    m = build_model(SPECS[1])
    fn = tmp_path / "gone.h5"
    m.save(fn, "x")
    loaded = load(fn)
    fn.unlink()
    assert repr(loaded.models) == "└── x\n    └── dimensions = (|40)\n"


def test_signal_save_keeps_stored_models(tmp_path):
    """``s.save`` (HyperSpy's name) writes the signal with every stored model."""
    import swiftfit

    s = swiftfit.signals.Signal1D(np.arange(20.0).reshape(2, 10))
    m = s.create_model()
    m.append(swiftfit.model.components1D.Offset(offset=3.0))
    m.store("start")
    s.save(tmp_path / "work.h5")
    back = swiftfit.load(tmp_path / "work.h5")
    assert list(back.models.names) == ["start"]
    np.testing.assert_array_equal(back.data, s.data)
    assert back.models.restore("start")[0].offset.value == 3.0
