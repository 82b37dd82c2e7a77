"""Metadata tree: dotted paths, attribute access, copies and repr."""

import numpy as np
import pytest

from swiftfit.signals import BaseSignal, Metadata


def test_set_get_has_item():
    md = Metadata()
    md.set_item("Signal.Noise_properties.variance", 3.5)
    assert md.Signal.Noise_properties.variance == 3.5
    assert md.has_item("Signal.Noise_properties.variance")
    assert "Signal.Noise_properties" in md
    assert not md.has_item("Signal.missing")
    assert md.get_item("Signal.missing", default=7) == 7
    assert md.get_item("A.B.c") is None


def test_missing_attribute_raises_attribute_error():
    md = Metadata({"General": {"title": "t"}})
    with pytest.raises(AttributeError, match="no item 'Nope'"):
        md.General.Nope


def test_dict_assignment_creates_node_and_as_dictionary_round_trip():
    md = Metadata()
    md.Acquisition = {"beam": {"energy": 200}}
    assert isinstance(md.Acquisition, Metadata)
    assert md.Acquisition.beam.energy == 200
    assert md.as_dictionary() == {"Acquisition": {"beam": {"energy": 200}}}


def test_set_item_through_leaf_raises():
    md = Metadata({"A": 1})
    with pytest.raises(ValueError, match="'A' is a leaf"):
        md.set_item("A.b", 2)


def test_bad_path_raises():
    with pytest.raises(ValueError, match="dotted string"):
        Metadata().set_item("A..b", 1)


def test_del_item():
    md = Metadata({"A": {"b": 1, "c": 2}})
    md.del_item("A.b")
    assert md.as_dictionary() == {"A": {"c": 2}}
    with pytest.raises(KeyError, match="A.b"):
        md.del_item("A.b")


def test_deepcopy_is_independent_and_copy_shares_leaves():
    arr = np.zeros(3)
    md = Metadata({"A": {"arr": arr}})
    deep = md.deepcopy()
    shallow = md.copy()
    deep.A.arr[0] = 1.0
    assert arr[0] == 0.0
    assert shallow.A.arr is arr
    shallow.A.x = 5
    assert not md.has_item("A.x")


def test_deepcopy_copies_signal_leaves():
    var = BaseSignal(np.ones(3))
    md = Metadata()
    md.set_item("Signal.Noise_properties.variance", var)
    cp = md.deepcopy()
    assert cp.Signal.Noise_properties.variance is not var
    np.testing.assert_array_equal(cp.Signal.Noise_properties.variance.data, [1, 1, 1])


def test_tree_repr():
    md = Metadata({"General": {"title": "abc"}, "Signal": {"signal_type": ""}})
    assert repr(md) == (
        "├── General\n"
        "│   └── title = abc\n"
        "└── Signal\n"
        "    └── signal_type = "
    )


def test_signal_default_metadata():
    s = BaseSignal(np.zeros(2), metadata={"General": {"title": "x"}})
    assert s.metadata.General.title == "x"
    assert s.metadata.Signal.signal_type == ""
    assert BaseSignal(np.zeros(2)).metadata.General.title == ""


def test_metadata_argument_is_copied():
    user = {"General": {"title": "orig"}}
    s = BaseSignal(np.zeros(2), metadata=user)
    s.metadata.General.title = "changed"
    assert user["General"]["title"] == "orig"


def test_metadata_argument_type_checked():
    with pytest.raises(TypeError, match="`metadata` must be a dict or Metadata"):
        BaseSignal(np.zeros(2), metadata=["title"])
