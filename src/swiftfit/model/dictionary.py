"""Models, components and parameters as plain dictionaries (HyperSpy's layout).

``m.as_dictionary()`` / ``m._load_dictionary(d)`` (and the same pair on
components and parameters) give and take HyperSpy's dictionary layout:

* a parameter: ``_id_name``, ``name``, ``value``, ``std``, ``free``,
  ``units``, ``map`` (the structured values/std/is_set array), ``_bounds``
  (``(bmin, bmax)``, None where unbounded), ``ext_bounded``,
  ``ext_force_positive``, ``_linear``, ``twin_function_expr``,
  ``twin_inverse_function_expr``, ``self`` (its ``id``), ``_twins`` (the ids
  of the parameters twinned to it) and swiftfit's ``expr``;
* a component: ``parameters`` (a list of those), ``_id_name`` (the class
  name), ``name``, ``active``, ``active_is_multidimensional``,
  ``_active_array``, ``package``/``package_version``, ``_class`` (module and
  qualified name) and its constructor arguments (flag ``"init"``);
* a model: ``components``, ``_channel_switches``,
  ``free_parameters_boundaries``, ``chisq.data``, ``dof.data`` and swiftfit's
  other per-pixel fit state.

Each level has a ``_whitelist`` naming its keys with HyperSpy's flags
(``""``, ``"id"``, ``"init"``). Functions and classes are never pickled: a
component class is found again as :func:`swiftfit.io.hdf5_model.restore_model`
finds it (swiftfit's own, registered, or from an imported module), and
nothing in a dictionary is evaluated (expressions go through the safe parser).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..parameters import MAP_DTYPE

__all__ = ["component_as_dictionary", "component_load_dictionary", "model_as_dictionary",
           "model_load_dictionary", "parameter_as_dictionary", "parameter_load_dictionary"]

_PARAMETER_KEYS = ("_id_name", "value", "std", "free", "units", "map", "_bounds", "ext_bounded", "name",
                   "_linear", "ext_force_positive", "twin_function_expr", "twin_inverse_function_expr", "expr")
_COMPONENT_KEYS = ("_id_name", "name", "active_is_multidimensional", "_active_array", "active")
# HyperSpy's four model keys, then swiftfit's per-pixel fit state
_MODEL_KEYS = {"chisq.data": "_chisq", "dof.data": "_dof", "_lnl": "_lnl", "_nfree": "_nfree",
               "_nfev": "_nfev", "_status": "_status"}


def _copy(value: Any, fullcopy: bool) -> Any:
    return copy.deepcopy(value) if fullcopy else value


def _parameter_id_name(p: Any) -> str:
    return p.__dict__.get("_id_name") or p.name


# ------------------------------------------------------------- parameters
def parameter_as_dictionary(p: Any, fullcopy: bool = True) -> dict:
    """The parameter ``p`` as HyperSpy's parameter dictionary (see module doc)."""
    std = p.std
    values = {
        "_id_name": _parameter_id_name(p),
        "value": p.value if p.twin is None and p.expr is None else float(p._map["values"][p._index()]),
        "std": std,
        "free": p.free,
        "units": p.units,
        "map": p.map.copy() if fullcopy else p.map,
        "_bounds": (p.bmin, p.bmax),
        "ext_bounded": p.ext_bounded,
        "name": p.name,
        "_linear": p._linear,
        "ext_force_positive": p.ext_force_positive,
        "twin_function_expr": p.twin_function_expr,
        "twin_inverse_function_expr": None if p._inverse_is_automatic else p.twin_inverse_function_expr,
        "expr": p.expr,
    }
    dic = {"_twins": [id(t) for t in p._twins]}
    dic.update((k, _copy(v, fullcopy) if k != "map" else v) for k, v in values.items())
    dic["self"] = id(p)
    dic["_whitelist"] = {**dict.fromkeys(_PARAMETER_KEYS, ""), "self": "id"}
    return dic


def _check_key(dic: Any, key: str, where: str) -> Any:
    if not isinstance(dic, dict):
        raise ValueError(f"`{where}` must be a dict (as_dictionary's output), got {type(dic).__name__}")
    if key not in dic:
        raise ValueError(f"`{where}` has no {key!r} entry; it is not an as_dictionary() dictionary")
    return dic[key]


def parameter_load_dictionary(p: Any, dic: dict, *, ties: bool = True) -> int:
    """Set ``p`` from a parameter dictionary; return the original parameter's id.

    ``ties=False`` leaves ``expr`` to the caller (a model sets exprs once
    every component exists).
    """
    id_name = _check_key(dic, "_id_name", "dictionary")
    if id_name != _parameter_id_name(p):
        raise ValueError(f"_id_name of parameter and dictionary do not match: parameter._id_name = "
                         f"{_parameter_id_name(p)!r}, dictionary['_id_name'] = {id_name!r}")
    name = dic.get("name", p.name)
    if name != p.name and p.component is None:
        p.name = name
    new = np.asarray(_check_key(dic, "map", "dictionary"))
    if new.dtype.names is None or not set(MAP_DTYPE.names) <= set(new.dtype.names):
        raise ValueError(f"dictionary['map'] of {p.name!r} must have the fields {MAP_DTYPE.names}, "
                         f"got dtype {new.dtype}")
    target = p._map.shape
    if p.component is not None and p._axes_manager is not None and new.size == p._map.size:
        new = new.reshape(target)
    elif p.component is not None and p._axes_manager is not None and not (new.size == 1 and p._map.ndim == 0):
        raise ValueError(f"dictionary['map'] of {p.name!r} has shape {new.shape}; the parameter's map has "
                         f"shape {p.map.shape}")
    p.expr = None
    p.twin = None
    p.map = np.array(new, copy=True)
    p.free = bool(dic.get("free", p.free))
    p.units = dic.get("units", p.units)
    bmin, bmax = dic.get("_bounds", (p.bmin, p.bmax))
    p._bmin = p._bmax = None
    p._bmin = p._check_bound("bmin", None if bmin is None or bmin == -np.inf else bmin)
    p._bmax = p._check_bound("bmax", None if bmax is None or bmax == np.inf else bmax)
    p._ext_bounded = bool(dic.get("ext_bounded", False))  # no clipping of the loaded map
    p.ext_force_positive = bool(dic.get("ext_force_positive", False))
    p._linear = bool(dic.get("_linear", p._linear))
    p.twin_function_expr = dic.get("twin_function_expr") or "x"
    p.twin_inverse_function_expr = dic.get("twin_inverse_function_expr") or None
    if ties and dic.get("expr"):
        p.expr = dic["expr"]
    return dic.get("self", id(p))


# ------------------------------------------------------------- components
def component_as_dictionary(c: Any, fullcopy: bool = True) -> dict:
    """The component ``c`` as HyperSpy's component dictionary (see module doc)."""
    from .. import __version__
    from ..io.hdf5_model import _init_kwargs, remember_local_class

    remember_local_class(type(c))

    dic: dict = {"parameters": [parameter_as_dictionary(p, fullcopy) for p in c.parameters],
                 "package": "swiftfit", "package_version": __version__,
                 "_class": (type(c).__module__, type(c).__qualname__)}
    values = {"_id_name": c._id_name, "name": c.name, "active_is_multidimensional": c.active_is_multidimensional,
              "_active_array": c._active_array, "active": c._active if c._active_array is None else c.active}
    whitelist = dict.fromkeys(_COMPONENT_KEYS, "")
    for key, value in _init_kwargs(c).items():
        if key == "signal1D" and getattr(c, "signal", None) is not None and not isinstance(c.signal, tuple):
            value = c.signal  # ScalableFixedPattern: the pattern signal itself, as HyperSpy keeps it
        values[key] = value
        whitelist[key] = "init"
    dic.update((k, _copy(v, fullcopy)) for k, v in values.items())
    dic["_whitelist"] = whitelist
    return dic


def component_load_dictionary(c: Any, dic: dict, *, ties: bool = True) -> dict:
    """Set ``c`` from a component dictionary; return ``{original id: parameter}``."""
    id_name = _check_key(dic, "_id_name", "dictionary")
    if id_name != c._id_name:
        raise ValueError(f"_id_name of component and dictionary do not match: component._id_name = "
                         f"{c._id_name!r}, dictionary['_id_name'] = {id_name!r}")
    by_id = {_parameter_id_name(p): p for p in c.parameters}
    pdicts = _check_key(dic, "parameters", "dictionary")
    unknown = [d.get("_id_name") for d in pdicts if d.get("_id_name") not in by_id]
    if unknown:
        raise ValueError(f"_id_name of parameters in component and dictionary do not match: the dictionary has "
                         f"{unknown}, the component {sorted(by_id)}")
    if dic.get("name") and dic["name"] != c.name:
        c.name = dic["name"]
    active_array = dic.get("_active_array")
    if dic.get("active_is_multidimensional") and active_array is not None:
        c._active_array = np.array(active_array, dtype=bool)
    else:
        c._active_array = None
        c._active = bool(dic.get("active", True))
    return {parameter_load_dictionary(by_id[d["_id_name"]], d, ties=ties): by_id[d["_id_name"]] for d in pdicts}


def _component_from_dictionary(dic: dict, where: str) -> Any:
    from ..components import components1d, components2d, legacy
    from ..io.hdf5_model import _component_class

    whitelist = dic.get("_whitelist", {})
    init = {k: dic[k] for k, flags in whitelist.items() if "init" in str(flags).split(",")}
    if "signal1D" in init and not isinstance(init["signal1D"], tuple):
        init["signal1D"] = _signal_from(init["signal1D"])
    cls_info = dic.get("_class")
    if cls_info is not None:
        cls = _component_class(str(cls_info[0]), str(cls_info[1]), where, allow_import=False)
    else:  # a dictionary made by HyperSpy: find the class by its _id_name
        name = _check_key(dic, "_id_name", where)
        cls = getattr(components1d, name, None) or getattr(components2d, name, None) \
            or (getattr(legacy, name, None) if name in legacy.__all__ else None)  # exspy's, HyperSpy 1.x
        if cls is None:
            raise ValueError(f"{where}: no swiftfit component is called {name!r}")
    return cls(**init)


def _signal_from(value: Any) -> Any:
    if isinstance(value, dict) and "data" in value:  # a signal as HyperSpy's _to_dictionary gives it
        from ..signals import Signal1D

        return Signal1D(np.asarray(value["data"]))
    return value


# ----------------------------------------------------------------- models
def model_as_dictionary(m: Any, fullcopy: bool = True) -> dict:
    """The model ``m`` as HyperSpy's model dictionary (see module doc)."""
    dic: dict = {"components": [component_as_dictionary(c, fullcopy) for c in m._components]}
    dic["_channel_switches"] = _copy(m._channel_switches, fullcopy)
    dic["free_parameters_boundaries"] = None
    for key, attr in _MODEL_KEYS.items():
        dic[key] = _copy(getattr(m, attr), fullcopy)
    whitelist = dict.fromkeys(["_channel_switches", "free_parameters_boundaries", *_MODEL_KEYS], "")
    for attr in getattr(m, "_copied_settings", ()):  # Model2D: the PSF and its oversampling
        dic[attr] = _copy(getattr(m, attr), fullcopy)
        whitelist[attr] = ""
    dic["_whitelist"] = whitelist
    return dic


def model_load_dictionary(m: Any, dic: dict) -> None:
    """Replace ``m``'s components and fit state by those of a model dictionary."""
    if not isinstance(dic, dict):
        raise ValueError(f"`dic` must be a dict (as_dictionary's output), got {type(dic).__name__}")
    nav = tuple(m._nav_shape)
    if "components" in dic:
        built = [_component_from_dictionary(d, f"components[{i}]") for i, d in enumerate(dic["components"])]
        while len(m):
            m.remove(m[0])
        ids: dict = {}
        for comp, d in zip(built, dic["components"], strict=True):
            if d.get("name"):
                comp.name = d["name"]
            m.append(comp)
            ids.update(component_load_dictionary(comp, d, ties=False))
        for d in dic["components"]:
            for pd in d["parameters"]:
                for twin_id in pd.get("_twins", ()):
                    if twin_id in ids:
                        ids[twin_id].twin = ids[pd["self"]]
        for d in dic["components"]:  # exprs last: they name other components' parameters
            for pd in d["parameters"]:
                if pd.get("expr"):
                    ids[pd["self"]].expr = pd["expr"]
    if "_channel_switches" in dic:
        switches = np.asarray(dic["_channel_switches"], dtype=bool)
        if switches.shape != m._channel_switches.shape:
            raise ValueError(f"dictionary['_channel_switches'] has shape {switches.shape}, the model's signal "
                             f"range {m._channel_switches.shape}")
        m._set_switches(switches.copy())
    for key, attr in _MODEL_KEYS.items():
        if dic.get(key) is not None:
            value = np.array(dic[key], dtype=getattr(m, attr).dtype)
            if value.size == int(np.prod(nav)):
                setattr(m, attr, value.reshape(nav))
    if "_psf" in dic and hasattr(m, "set_psf") and (dic["_psf"] is not None or dic.get("_oversampling", 1) != 1):
        m.set_psf(dic["_psf"], int(dic.get("_oversampling", 1)))
