"""HyperSpy 1.4-1.6 model layouts (issue 18: test_backcompatibility.py's
hs14/hs15/hs16 files): ``Arctan(minimum_at_zero=...)``, the 8-parameter
``Voigt`` (exspy's PESVoigt), ``Polynomial.coefficients`` (one vector
parameter, highest order first) and current values kept outside the map.
The trees below follow the layout of those files (keys and values as h5py
reads them from hs14_model.hspy); HyperSpy 2.5 with exspy restores them to the
values asserted here.
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.components.legacy import EELSArctan, PESVoigt
from swiftfit.errors import InvalidInputError
from swiftfit.io.hspy import _build_model
from swiftfit.parameters import MAP_DTYPE


def _param(name, value, free=True):
    m = np.zeros(1, dtype=MAP_DTYPE)  # HyperSpy 1.x: map not stored (0, not set)
    m["std"] = np.nan
    return {"_id_name": name, "name": name, "free": free, "value": value, "map": m, "_twins": [],
            "_bounds": (None, None), "twin_function_expr": "", "twin_inverse_function_expr": ""}


def _component(id_name, name, params, **extra):
    return {"_id_name": id_name, "name": name, "active": True, "active_is_multidimensional": False,
            "_active_array": None, "parameters": params, **extra}


def _hs14_tree():
    vec = np.zeros(1, dtype=[("values", "<f8", (3,)), ("std", "<f8", (3,)), ("is_set", "?")])
    coefficients = {**_param("coefficients", (0.01, -0.5, 25.0)), "map": vec,
                    "_bounds": ((None, None), (None, None), (None, None))}
    voigt = ["area", "centre", "FWHM", "gamma", "resolution", "shirley_background",
             "non_isochromaticity", "transmission_function"]
    values = dict(area=100.0, centre=50.0, FWHM=1.5, gamma=2.5, resolution=0.0, shirley_background=0.0,
                  non_isochromaticity=0.0, transmission_function=1.0)
    return {"components": [
        _component("Gaussian", "Gaussian", [_param("A", 13.0), _param("centre", 9.0), _param("sigma", 2.0)],
                   module="numexpr", _whitelist={"module": "init"}),
        _component("Arctan", "Arctan", [_param("A", 5.0), _param("k", 1.5), _param("x0", 75.5)],
                   minimum_at_zero=False, _whitelist={"minimum_at_zero": "init"}),
        _component("Arctan", "Arctan_0", [_param("A", 5.0), _param("k", 1.5), _param("x0", 22.5)],
                   minimum_at_zero=True, _whitelist={"minimum_at_zero": "init"}),
        _component("Polynomial", "Polynomial", [coefficients], order=2, _whitelist={"order": "init"}),
        _component("Voigt", "Voigt", [_param(n, values[n], n in voigt[:4]) for n in voigt]),
    ]}


def test_hyperspy14_model_restores():
    m = _build_model(hs.signals.Signal1D(np.arange(100.0)), _hs14_tree(), "a")
    assert [type(c).__name__ for c in m] == ["Gaussian", "Arctan", "EELSArctan", "Polynomial", "PESVoigt"]
    assert (m[0].A.value, m[0].centre.value, m[0].sigma.value) == (13.0, 9.0, 2.0)
    assert (m[1].A.value, m[1].k.value, m[1].x0.value) == (5.0, 1.5, 75.5)
    assert isinstance(m[2], EELSArctan) and (m[2].A.value, m[2].x0.value) == (5.0, 22.5)
    assert (m[3].a0.value, m[3].a1.value, m[3].a2.value) == (25.0, -0.5, 0.01)
    v = m[4]
    assert isinstance(v, PESVoigt) and len(v.parameters) == 8
    assert (v.area.value, v.centre.value, v.FWHM.value, v.resolution.value) == (100.0, 50.0, 1.5, 0.0)
    assert not v.resolution.free and v.area.free
    # the restored model evaluates: Polynomial 0.01 x^2 - 0.5 x + 25 at x = 10 is 21
    np.testing.assert_allclose(m[3].function(np.array([10.0])), [21.0], rtol=1e-12)


def test_coefficient_vector_of_the_wrong_length_is_refused():
    tree = _hs14_tree()
    tree["components"][3]["order"] = 3
    with pytest.raises(InvalidInputError, match="order: is 3, the coefficients hold 3 values"):
        _build_model(hs.signals.Signal1D(np.arange(100.0)), tree, "a")


def test_a_vector_map_on_an_ordinary_parameter_is_refused():
    tree = _hs14_tree()
    vec = tree["components"][3]["parameters"][0]["map"]
    tree["components"][0]["parameters"][0]["map"] = vec
    with pytest.raises(InvalidInputError, match="one value per position"):
        _build_model(hs.signals.Signal1D(np.arange(100.0)), tree, "a")
