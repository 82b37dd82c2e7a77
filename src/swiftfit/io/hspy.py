"""Reading HyperSpy ``.hspy`` files (format 3.x) without executing anything.

Layout read (as written by HyperSpy/RosettaSciIO, ``rsciio._hierarchical``)::

    /                          attrs: file_format = "HyperSpy", file_format_version
    /Experiments/<title>       one signal: ``data``, ``axis-<i>`` groups,
                               ``metadata``, ``original_metadata``
    /Analysis/models/<name>    attrs: _signal (the experiment's HDF5 path)
        _dict/_channel_switches, chisq.data, dof.data, _whitelist
        _dict/_list_<n>_components/<i>     attrs: _id_name, name, active,
            active_is_multidimensional, init arguments (order, expression...);
            _active_array; _whitelist (flags per key: "init", "id", "fn", "sig")
            _list_<n>_parameters/<j>       attrs: _id_name, free, self (an id),
                twin_function_expr...; datasets map (values, std, is_set),
                _list__twins (ids of the parameters twinned to this one);
                _tuple_2__bounds / _tuple__bounds (bmin, bmax)

HyperSpy marks containers by name prefixes in metadata trees: ``_list_``,
``_tuple_`` (datasets, or groups ``_list_<n>_<key>`` of items ``"0"``,
``"1"``...), ``_list_empty_``/``_tuple_empty_`` attributes, ``_sig_<key>``
(a signal, e.g. the noise variance) and the string ``"_None_"`` for None.
These are mapped to plain values; what has no plain meaning (byte strings
``_bs_``, ragged arrays, pickled axes managers, legacy date tuples...) is
skipped, and the skipped paths are reported in one warning.

Safety
------
Nothing read from a file is executed or unpickled. HyperSpy stores the class
of a custom component as a cloudpickle (``_class_dump``) and functions with
the ``fn`` flag as pickles; this reader never reads those bytes. A component
is rebuilt only when its ``_id_name`` names a swiftfit built-in component
(same names and parameters as HyperSpy's); any other component raises
:class:`~swiftfit.errors.InvalidInputError` naming it, when the model is
restored (the signal itself always loads). ``Expression`` strings, twin
functions and functional axes are parsed by swiftfit's whitelist parser, so a
string such as ``__import__('os').system(...)`` raises
:class:`~swiftfit.errors.ExpressionError`. Soft and external links are refused.
"""

from __future__ import annotations

import inspect
import os
import warnings
from typing import Any

import h5py
import numpy as np

from ..errors import ExpressionError, InvalidInputError, VisibleDeprecationWarning
from ..parameters import MAP_DTYPE
from ..signals import BaseSignal, Signal1D, Signal2D
from ..signals.signal_types import specialise
from .hdf5 import child
from .safety import Budget, check_dataset, check_declared, reading

__all__ = ["HspyStoredModel", "is_hspy_file", "load_hspy"]

_NONE = "_None_"
_MAX_DEPTH = 32
_NUMERIC = "biufc"
_AXIS_KEYS = ("size", "scale", "offset", "units", "name", "navigate", "is_binned")


# ------------------------------------------------------------------ values
def _error(path: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"HyperSpy file, {path}: {message}")


def _attr(value: Any, path: str, skipped: list) -> tuple[bool, Any]:
    """``(True, plain value)`` for a stored attribute, ``(False, None)`` when it
    has no plain meaning (recorded in ``skipped``).
    """
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            skipped.append(f"{path} (binary string)")
            return False, None
    if isinstance(value, str):
        return True, None if value == _NONE else value
    if isinstance(value, np.bool_):
        return True, bool(value)
    if isinstance(value, np.integer):
        return True, int(value)
    if isinstance(value, np.floating):
        return True, float(value)
    if isinstance(value, np.complexfloating):
        return True, complex(value)
    if isinstance(value, np.ndarray) and value.dtype.names is None:
        if value.dtype.kind in _NUMERIC:
            return True, value
        if value.dtype.kind in "SU":
            return True, value.astype("U").tolist()
    skipped.append(f"{path} ({type(value).__name__})")
    return False, None


def _dataset(obj: Any, path: str, skipped: list, data: bool = False) -> tuple[bool, Any]:
    """A dataset as a numeric array or a list of strings; (False, None) else.

    External storage and virtual datasets are refused; the declared size
    counts against the read's budget (``data``: against ``max_array_bytes``).
    """
    if data or not isinstance(skipped, _Log):
        check_dataset(obj, path)
    else:
        skipped.budget.dataset(obj, path)
    dt = obj.dtype
    if h5py.check_string_dtype(dt) is not None:
        return True, np.asarray(obj.asstr()[()], dtype=object).astype(str)
    if dt.names is None and dt.kind in _NUMERIC and h5py.check_vlen_dtype(dt) is None \
            and h5py.check_ref_dtype(dt) is None:
        return True, np.asarray(obj[()])
    if dt.names == MAP_DTYPE.names and all(dt[n].base.kind == MAP_DTYPE[n].kind for n in dt.names):
        # a parameter map (values, std, is_set); HyperSpy 1.4's vector parameters
        # (Polynomial.coefficients) hold a vector of values and std per position
        return True, np.asarray(obj[()])
    if dt.kind == "S":
        try:
            return True, np.asarray(obj[()]).astype("U")
        except UnicodeDecodeError:
            pass
    skipped.append(f"{path} (dataset of type {dt})")
    return False, None


def _items(group: Any, path: str) -> list[tuple[str, Any]]:
    """The members of ``group``, refusing soft and external links."""
    return [(key, child(group, key, path)) for key in group]


def _numbered(tree: dict, path: str) -> list:
    """The values of a ``{"0": a, "1": b...}`` dict in numeric order."""
    try:
        keys = sorted(tree, key=int)
    except ValueError:
        raise _error(path, f"malformed list (keys {sorted(tree)})") from None
    return [tree[k] for k in keys]


class _Log(list):
    """The skipped paths of one read, and the budget of its tree walk
    (nodes, bytes, depth; each group visited once).
    """

    def __init__(self, source: Any = "") -> None:
        super().__init__()
        self.budget = Budget(f"HyperSpy file {source}" if source else "HyperSpy file")


def _read_tree(group: Any, path: str, skipped: _Log, depth: int = 0) -> dict:
    """A HyperSpy dictionary group as a dict of plain values (see module doc)."""
    skipped.budget.node(path, depth, group)
    skipped.budget.attrs(group.attrs, path)
    out: dict = {}
    for key, value in group.attrs.items():
        where = f"{path}.{key}"
        if key.startswith(("_list_empty_", "_tuple_empty_")):
            kind, _, name = key[1:].partition("_empty_")
            out[name] = [] if kind == "list" else ()
        elif key.startswith(("_sig_", "_bs_", "_datetime_")):
            # signals are groups; byte strings and legacy date tuples have no plain form
            skipped.append(f"{where} (not a plain value)")
        else:
            ok, v = _attr(value, where, skipped)
            if ok:
                out[key] = v
    for key, obj in _items(group, path):
        where = f"{path}.{key}"
        if key.startswith("_ragged_shapes_"):
            continue  # bookkeeping of a ragged dataset (itself skipped)
        if isinstance(obj, h5py.Dataset):
            ok, v = _dataset(obj, where, skipped)
            if not ok or f"_ragged_shapes_{key}" in group:
                if ok:
                    skipped.append(f"{where} (ragged array)")
                continue
            for prefix, kind in (("_list_", list), ("_tuple_", tuple)):
                if key.startswith(prefix):
                    out[key[len(prefix):]] = kind(v.tolist())
                    break
            else:
                out[key] = v
        elif key.startswith("_sig_"):
            out[key[5:]] = _read_signal(obj, where, skipped, depth + 1)
        elif key.startswith("_hspy_AxesManager_"):
            skipped.append(f"{where} (axes manager)")
        elif key.startswith(("_list_", "_tuple_")):
            kind = key[1:key.index("_", 1)]
            rest = key[len(kind) + 2:]
            name = rest.partition("_")[2]  # "_list_<n>_<name>"
            items = _numbered(_read_tree(obj, where, skipped, depth + 1), where)
            out[name] = items if kind == "list" else tuple(items)
        else:
            out[key] = _read_tree(obj, where, skipped, depth + 1)
    return out


# ------------------------------------------------------------------ signals
def _functional_axis(d: dict, path: str) -> np.ndarray:
    """Values of a FunctionalDataAxis: its expression parsed by the whitelist
    parser and evaluated at the values of its ``x`` axis.
    """
    import sympy

    from .. import _expr

    x_spec = d.get("x")
    expression = d.get("expression")
    if not isinstance(x_spec, dict) or not isinstance(expression, str):
        raise _error(path, "functional axis without `x` axis or `expression`")
    x = _axis_values(x_spec, f"{path}.x")
    expr = _expr.parse_expression(expression)  # ExpressionError on anything else
    values = {}
    for sym in expr.free_symbols - {sympy.Symbol("x", real=True)}:
        v = d.get(sym.name)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise _error(path, f"functional axis parameter {sym.name!r} is not a number")
        values[sym] = float(v)
    fn = sympy.lambdify([sympy.Symbol("x", real=True)], expr.subs(values), modules=["numpy", "scipy"])
    return np.broadcast_to(np.asarray(fn(x), dtype=float), x.shape).copy()


def _axis_values(d: dict, path: str) -> np.ndarray:
    kind = d.get("_type", "UniformDataAxis")
    if kind == "FunctionalDataAxis":
        return _functional_axis(d, path)
    if "axis" in d:
        return np.asarray(d["axis"], dtype=float)
    size = d.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise _error(path, f"axis size must be a positive integer, got {size!r}")
    check_declared((size,), 8, path)
    return d.get("offset", 0.0) + d.get("scale", 1.0) * np.arange(size)


def _axis(d: dict, path: str) -> dict:
    """A swiftfit axis specification from a HyperSpy axis dictionary."""
    if not isinstance(d, dict):
        raise _error(path, "an axis must be a group")
    spec = {k: d[k] for k in _AXIS_KEYS if d.get(k) is not None}
    kind = d.get("_type", "UniformDataAxis")
    if kind in ("DataAxis", "FunctionalDataAxis"):
        spec.pop("scale", None)
        spec.pop("offset", None)
        spec["axis"] = _axis_values(d, path)
    elif kind != "UniformDataAxis":
        raise _error(path, f"unknown axis type {kind!r}")
    return spec


def _read_signal(group: Any, path: str, skipped: _Log, depth: int = 0) -> BaseSignal:
    """Rebuild the signal stored in an ``Experiments/<title>`` (or ``_sig_``) group."""
    if depth > _MAX_DEPTH:
        raise _error(path, "nested too deeply")
    if "data" not in group or not isinstance(child(group, "data", path), h5py.Dataset):
        raise _error(path, "missing dataset 'data'")
    if "_ragged_shapes_data" in group or "ragged_shapes" in group:
        raise _error(f"{path}.data", "ragged signals are not supported")
    ok, data = _dataset(group["data"], f"{path}.data", skipped, data=True)
    if not ok or data.dtype.kind not in _NUMERIC:
        raise _error(f"{path}.data", f"unsupported data type {group['data'].dtype}")
    if all(f"axis-{i}" in group for i in range(data.ndim)):
        axes = [_read_tree(child(group, f"axis-{i}", path), f"{path}.axis-{i}", skipped, depth + 1)
                for i in range(data.ndim)]
    else:  # signals nested in metadata keep their axes in a list group
        key = f"_list_{data.ndim}_axes"
        if key not in group:
            raise _error(path, f"expected groups axis-0 ... axis-{data.ndim - 1}")
        axes = _numbered(_read_tree(child(group, key, path), f"{path}.{key}", skipped, depth + 1),
                         f"{path}.{key}")
    axes = [_axis(d, f"{path}.axis-{i}") for i, d in enumerate(axes)]
    trees = {}
    for name in ("metadata", "original_metadata"):
        trees[name] = _read_tree(child(group, name, path), f"{path}.{name}", skipped, depth + 1) \
            if name in group else {}
    metadata = trees["metadata"]
    if metadata.get("General", {}).get("title") == "__unnamed__":
        metadata["General"]["title"] = ""
    noise = metadata.get("Signal", {}).get("Noise_properties", {})
    variance = noise.pop("variance", None) if isinstance(noise, dict) else None
    binned = metadata.get("Signal", {}).pop("binned", None) if isinstance(metadata.get("Signal"), dict) else None
    if binned is not None:  # HyperSpy < 1.7 kept it in the metadata; now each signal axis has is_binned
        warnings.warn(f"{path}: metadata.Signal.binned is deprecated (HyperSpy < 1.7 files); it is moved to "
                      "the signal axes' is_binned", VisibleDeprecationWarning, stacklevel=2)
        for a in axes:
            if not a.get("navigate", False) and "is_binned" not in a:
                a["is_binned"] = bool(binned)
    # HyperSpy's signal class follows the number of signal (non-navigation) axes
    n_sig = sum(not a.get("navigate", False) for a in axes)
    cls = {1: Signal1D, 2: Signal2D}.get(n_sig, BaseSignal)
    try:
        signal = cls(data, axes=axes, metadata=metadata, original_metadata=trees["original_metadata"])
        if variance is not None:
            signal.set_noise_variance(variance)
    except (ValueError, TypeError) as exc:
        raise _error(path, str(exc)) from exc
    return specialise(signal)


# ------------------------------------------------------------------ models
_MISSING = object()


def _typed(d: dict, key: str, types: tuple, path: str, default: Any = _MISSING) -> Any:
    """``d[key]`` checked to be one of ``types`` (int accepted for float)."""
    if key not in d:
        if default is _MISSING:
            raise _error(path, f"missing {key!r}")
        return default
    value = d[key]
    if isinstance(value, int) and not isinstance(value, bool) and float in types:
        value = float(value)
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        names = " or ".join("None" if t is type(None) else t.__name__ for t in types)
        raise _error(f"{path}.{key}", f"expected {names}, got {type(value).__name__}")
    return value


def _component_class(id_name: str, name: str, is_2d: bool, path: str) -> type:
    from ..components import components1d, components2d, legacy

    ns = components2d if is_2d else components1d
    if id_name in ns.__all__:
        return getattr(ns, id_name)
    if not is_2d and id_name in legacy.__all__:  # exspy's, in HyperSpy 1.6 files
        return getattr(legacy, id_name)
    raise _error(
        path,
        f"component {name!r} is of class {id_name!r}, which is not a swiftfit built-in "
        f"{'2-D' if is_2d else '1-D'} component. HyperSpy stores such custom components as a "
        "pickled class (cloudpickle); loading it would execute code from the file, which "
        "swiftfit never does. Recreate the component in swiftfit (e.g. as an Expression)."
    )


def _pattern_signal(d: Any, path: str) -> BaseSignal:
    """The pattern of a ScalableFixedPattern: HyperSpy stores the signal's
    dictionary (data, axes, metadata) under its ``signal1D`` init argument.
    """
    if isinstance(d, BaseSignal):
        return d
    if not isinstance(d, dict) or not isinstance(d.get("data"), np.ndarray) \
            or not isinstance(d.get("axes"), list):
        raise _error(path, "expected a stored signal (data and axes)")
    axes = [_axis(a, f"{path}.axes.{i}") for i, a in enumerate(d["axes"])]
    return Signal1D(d["data"], axes=axes)


def _init_args(cd: dict, cls: type, path: str) -> dict:
    """The constructor arguments HyperSpy flagged ``init``; refuses pickled functions."""
    flags = _typed(cd, "_whitelist", (dict,), path, {})
    accepted = inspect.signature(cls.__init__).parameters
    init: dict = {}
    for key, flag in flags.items():
        flag_list = [f.strip() for f in str(flag or "").split(",")]
        if "fn" in flag_list:
            raise _error(f"{path}.{key}", "stores a pickled function; loading it would execute "
                                          "code from the file, which swiftfit never does")
        # ``module`` picks HyperSpy's numeric backend; swiftfit compiles its own
        if "init" not in flag_list or key == "module":
            continue
        if key not in cd:
            raise _error(path, f"missing the constructor argument {key!r}")
        if key not in accepted or key in ("self", "kwargs"):
            raise _error(f"{path}.{key}", f"{cls.__name__} has no constructor argument {key!r}")
        value = cd[key]
        if "sig" in flag_list:
            value = _pattern_signal(value, f"{path}.{key}")
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        init[key] = value
    if init.get("linear_parameter_list") == []:
        init["linear_parameter_list"] = None  # HyperSpy stores "detect" as []
    return init


def _restore_parameter(p: Any, d: dict, path: str, nav_shape: tuple) -> tuple:
    """Set map, free flag, bounds... of ``p`` from HyperSpy's dict ``d``;
    return ``(id, ids of the parameters twinned to p, twin exprs)``.
    """
    stored = d.get("map")
    if not isinstance(stored, np.ndarray) or stored.dtype.names != MAP_DTYPE.names \
            or any(stored.dtype[n].shape for n in MAP_DTYPE.names):
        raise _error(f"{path}.map", "missing or not a (values, std, is_set) map of one value per position")
    if stored.size != int(np.prod(nav_shape)):
        raise _error(f"{path}.map", f"has {stored.size} positions; the signal has "
                                    f"navigation shape {nav_shape}")
    new = np.zeros(nav_shape, dtype=MAP_DTYPE)
    for field in MAP_DTYPE.names:
        new[field] = stored[field].reshape(nav_shape)
    value = d.get("value")
    here = (0,) * len(nav_shape)  # a restored model is at the first position
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not new["is_set"][here]:
        # HyperSpy keeps the current value apart from the map; files of 1.x
        # hold it only there (map not stored): it is the value at this position
        new["values"][here] = float(value)
    p._map = new
    p.free = _typed(d, "free", (bool,), path)
    bounds = _typed(d, "_bounds", (tuple, list), path, (None, None))
    if len(bounds) != 2 or not all(b is None or isinstance(b, (int, float)) for b in bounds):
        raise _error(f"{path}._bounds", f"expected (bmin, bmax), got {bounds!r}")
    p._bmin = p._bmax = None
    p.bmin, p.bmax = bounds
    p.units = _typed(d, "units", (str, type(None)), path, None) or None
    p._ext_bounded = _typed(d, "ext_bounded", (bool,), path, False)  # no clipping while loading
    p.ext_force_positive = _typed(d, "ext_force_positive", (bool,), path, False)
    twins = _typed(d, "_twins", (list, tuple), path, [])
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in twins):
        raise _error(f"{path}._twins", "expected parameter ids")
    fexpr = _typed(d, "twin_function_expr", (str, type(None)), path, None)
    iexpr = _typed(d, "twin_inverse_function_expr", (str, type(None)), path, None)
    return _typed(d, "self", (int, type(None)), path, None), twins, fexpr, iexpr


def _legacy_component(id_name: str, cd: dict, is_2d: bool, path: str) -> tuple:
    """HyperSpy 1.4/1.5 names for what exspy now holds: ``Arctan(minimum_at_zero=True)``
    is ``EELSArctan`` (``False``: today's ``Arctan``), the 8-parameter ``Voigt``
    is ``PESVoigt``. Returns the class name and the component dict to use.
    """
    if is_2d:
        return id_name, cd
    if id_name == "Arctan" and "minimum_at_zero" in cd:
        at_zero = _typed(cd, "minimum_at_zero", (bool,), path)
        cd = {k: v for k, v in cd.items() if k != "minimum_at_zero"}
        if isinstance(cd.get("_whitelist"), dict):
            cd["_whitelist"] = {k: v for k, v in cd["_whitelist"].items() if k != "minimum_at_zero"}
        return ("EELSArctan" if at_zero else "Arctan"), cd
    if id_name == "Voigt" and len(_typed(cd, "parameters", (list,), path, [])) == 8:
        return "PESVoigt", cd
    if id_name == "Polynomial":
        cd = _split_coefficients(cd, path)
    return id_name, cd


def _split_coefficients(cd: dict, path: str) -> dict:
    """HyperSpy 1.4's Polynomial held one vector parameter ``coefficients``
    (highest order first); HyperSpy >= 1.5 and swiftfit have ``a0 ... aN``.
    The component dict with that parameter split into those.
    """
    params = _typed(cd, "parameters", (list,), path, [])
    if len(params) != 1 or not isinstance(params[0], dict) or params[0].get("_id_name") != "coefficients":
        return cd
    pd, where = params[0], f"{path}.parameters.0"
    stored = pd.get("map")
    if not isinstance(stored, np.ndarray) or stored.dtype.names != MAP_DTYPE.names \
            or stored.dtype["values"].ndim != 1:
        raise _error(f"{where}.map", "expected a map of coefficient vectors")
    n = stored.dtype["values"].shape[0]
    order = _typed(cd, "order", (int,), path, n - 1)
    if order != n - 1:
        raise _error(f"{path}.order", f"is {order}, the coefficients hold {n} values")
    value = pd.get("value")
    bounds = pd.get("_bounds")
    split = []
    for i in range(n):  # a_i is coefficient n - 1 - i (highest order first)
        j = n - 1 - i
        m = np.zeros(stored.shape, dtype=MAP_DTYPE)
        m["values"], m["std"], m["is_set"] = stored["values"][..., j], stored["std"][..., j], stored["is_set"]
        part = {k: v for k, v in pd.items() if k not in ("map", "value", "_bounds", "self", "_twins")}
        part.update(_id_name=f"a{i}", name=f"a{i}", map=m, _twins=[])
        if isinstance(value, (tuple, list)) and len(value) == n:
            part["value"] = value[j]
        if isinstance(bounds, (tuple, list)) and len(bounds) == n:
            part["_bounds"] = bounds[j]
        if i == 0 and "self" in pd:
            part["self"] = pd["self"]
        split.append(part)
    if pd.get("_twins"):
        raise _error(f"{where}._twins", "a twin of the whole coefficient vector has no a0..aN equivalent")
    return {**cd, "parameters": split, "order": order}


def _build_component(cd: Any, path: str, is_2d: bool) -> tuple:
    if not isinstance(cd, dict):
        raise _error(path, "a component must be a group")
    id_name = _typed(cd, "_id_name", (str,), path)
    name = _typed(cd, "name", (str,), path)
    id_name, cd = _legacy_component(id_name, cd, is_2d, path)
    cls = _component_class(id_name, name, is_2d, path)
    init = _init_args(cd, cls, path)
    if id_name == "Polynomial" and "order" not in init:
        # HyperSpy 1.5-2.1.1 saved a Polynomial without its order: the stored
        # coefficients a0..aN say it (N = order)
        names = [pd.get("_id_name") for pd in cd.get("parameters", []) if isinstance(pd, dict)]
        orders = [int(n[1:]) for n in names if isinstance(n, str) and n[:1] == "a" and n[1:].isdigit()]
        if orders and len(orders) == len(names) and sorted(orders) == list(range(len(orders))):
            init["order"] = max(orders)
    try:
        comp = cls(**init)
    except ExpressionError as exc:
        raise ExpressionError(f"HyperSpy file, {path} ({name!r}): {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise _error(path, f"cannot rebuild {id_name} {name!r}: {exc}") from exc
    if "interpolate" in cd:  # ScalableFixedPattern; before the free flags, which it sets
        comp.interpolate = _typed(cd, "interpolate", (bool,), path)
    comp.name = name
    params = _typed(cd, "parameters", (list,), path, [])
    by_name = {p.name: p for p in comp.parameters}
    stored = {}
    for j, pd in enumerate(params):
        where = f"{path}.parameters.{j}"
        if not isinstance(pd, dict):
            raise _error(where, "a parameter must be a group")
        stored[_typed(pd, "_id_name", (str,), where)] = (pd, where)
    if sorted(stored) != sorted(by_name):
        raise _error(path, f"stores parameters {sorted(stored)}; swiftfit's {id_name} "
                           f"has {sorted(by_name)}")
    return comp, cd, stored


def _build_model(signal: BaseSignal, tree: dict, path: str) -> Any:
    """A swiftfit model from the plain tree of ``Analysis/models/<name>/_dict``."""
    from ..model.model1d import Model1D
    from ..model.model2d import Model2D

    if not isinstance(signal, (Signal1D, Signal2D)):
        raise _error(path, f"models need a Signal1D or Signal2D, the file holds a "
                           f"{type(signal).__name__}")
    is_2d = isinstance(signal, Signal2D)
    model = (Model2D if is_2d else Model1D)(signal)
    nav_shape = tuple(model._nav_shape)
    ids: dict = {}
    links = []
    for i, cd in enumerate(_typed(tree, "components", (list,), path, [])):
        where = f"{path}.components.{i}"
        comp, cd, stored = _build_component(cd, where, is_2d)
        if any(c.name == comp.name for c in model._components):
            raise _error(f"{where}.name", f"duplicate component name {comp.name!r}")
        model.append(comp)
        comp._active = _typed(cd, "active", (bool,), where, True)
        active = cd.get("_active_array")
        if _typed(cd, "active_is_multidimensional", (bool,), where, False) and active is not None:
            if not isinstance(active, np.ndarray) or active.size != int(np.prod(nav_shape)):
                raise _error(f"{where}._active_array", f"expected {nav_shape} booleans")
            comp._active_array = active.astype(bool).reshape(nav_shape)
        for p in comp.parameters:
            pd, pwhere = stored[p.name]
            pid, twins, fexpr, iexpr = _restore_parameter(p, pd, pwhere, nav_shape)
            if pid is not None:
                if pid in ids:
                    raise _error(f"{pwhere}.self", f"duplicate parameter id {pid}")
                ids[pid] = p
            links.append((p, pwhere, twins, fexpr, iexpr))
    for p, where, _, fexpr, iexpr in links:  # expressions first: twinning solves the inverse
        for key, text in (("twin_function_expr", fexpr), ("twin_inverse_function_expr", iexpr)):
            if text:  # HyperSpy stores "" for the default
                try:
                    setattr(p, key, text)
                except ExpressionError as exc:
                    raise ExpressionError(f"HyperSpy file, {where}.{key}: {exc}") from exc
    for p, where, twins, _, _ in links:  # HyperSpy lists on p the ids of the parameters twinned to p
        for tw in twins:
            if tw not in ids:
                raise _error(f"{where}._twins", f"unknown parameter id {tw}")
            try:
                ids[tw].twin = p
            except ValueError as exc:
                raise _error(f"{where}._twins", str(exc)) from exc
    switches = tree.get("_channel_switches")
    if switches is not None:
        shape = tuple(model._channel_switches.shape)
        if not isinstance(switches, np.ndarray) or switches.size != int(np.prod(shape)):
            raise _error(f"{path}._channel_switches", f"expected {shape} booleans")
        model._set_switches(switches.astype(bool).reshape(shape))
    for key, attr in (("chisq.data", "_chisq"), ("dof.data", "_dof")):
        value = tree.get(key)
        if isinstance(value, np.ndarray) and value.dtype.kind in "iuf" \
                and value.size == int(np.prod(nav_shape)):
            setattr(model, attr, value.astype(float).reshape(nav_shape))
    return model


# ------------------------------------------------------------------ files
def is_hspy_file(filename: str | os.PathLike) -> bool:
    """Whether ``filename`` should be read as a HyperSpy file.

    True for an HDF5 file whose root attribute ``file_format`` is
    ``"HyperSpy"``, and for any file named ``*.hspy`` that is not a swiftfit
    file (swiftfit's own files carry ``swiftfit_format``).

    Examples
    --------
    >>> is_hspy_file("spectrum.hspy")      # doctest: +SKIP
    True
    """
    try:
        with h5py.File(filename, "r") as f:
            if "swiftfit_format" in f.attrs:
                return False
            fmt = f.attrs.get("file_format")
    except OSError:
        return str(filename).lower().endswith(".hspy")
    if isinstance(fmt, bytes):
        fmt = fmt.decode(errors="replace")
    return fmt == "HyperSpy" or str(filename).lower().endswith(".hspy")


def _check_hspy(f: Any, filename: Any) -> None:
    fmt = f.attrs.get("file_format")
    version = f.attrs.get("file_format_version")
    if isinstance(version, bytes):
        version = version.decode(errors="replace")
    if fmt not in ("HyperSpy", b"HyperSpy") or "Experiments" not in f:
        raise InvalidInputError(f"{filename!s} is not a HyperSpy file (no file_format "
                                "'HyperSpy' attribute or no /Experiments group)")
    if not str(version).startswith("3."):
        raise InvalidInputError(f"{filename!s} has HyperSpy format version {version}; "
                                "swiftfit reads versions 3.x")


def load_hspy(filename: str | os.PathLike) -> BaseSignal:
    """Read the signal and the stored models of a HyperSpy ``.hspy`` file.

    The first signal of ``/Experiments`` is returned (a file written by
    ``s.save`` holds one). ``signal.models_stored`` maps the name of each
    model stored with ``m.store(name)`` to a :class:`HspyStoredModel`; call
    its :meth:`~HspyStoredModel.restore` to rebuild it as a swiftfit model.
    Metadata items without a plain value are skipped with one warning.

    Examples
    --------
    >>> s = load_hspy("fit.hspy")                    # doctest: +SKIP
    >>> m = s.models_stored["fit1"].restore()        # doctest: +SKIP
    >>> m.as_signal()                                # doctest: +SKIP
    """
    skipped = _Log(filename)
    with reading(filename), h5py.File(filename, "r") as f:
        _check_hspy(f, filename)
        experiments = child(f, "Experiments", "")
        names = [k for k in experiments
                 if isinstance(experiments.get(k, getlink=True), h5py.HardLink)
                 and isinstance(experiments[k], h5py.Group) and "data" in experiments[k]]
        if not names:
            raise InvalidInputError(f"{filename!s}: /Experiments holds no signal")
        if len(names) > 1:
            warnings.warn(f"{filename!s} holds {len(names)} signals {names}; "
                          f"only {names[0]!r} is loaded", stacklevel=2)
        group = experiments[names[0]]
        signal = _read_signal(group, f"Experiments.{names[0]}", skipped)
        models = []
        if "Analysis" in f and "models" in child(f, "Analysis", ""):
            m_group = child(f["Analysis"], "models", "Analysis")
            for name, obj in _items(m_group, "Analysis.models"):
                if isinstance(obj, h5py.Group) and obj.attrs.get("_signal") in (group.name, group.name.encode()):
                    models.append(name)
    if skipped:
        warnings.warn(f"{filename!s}: skipped {len(skipped)} item(s) without a plain value: "
                      + "; ".join(skipped[:20]) + (" ..." if len(skipped) > 20 else ""), stacklevel=2)
    signal.models_stored = {name: HspyStoredModel(filename, name, signal) for name in models}
    return signal


class HspyStoredModel:
    """A model stored in a HyperSpy file; :meth:`restore` (or calling it) rebuilds it.

    Examples
    --------
    >>> m = swiftfit.load("fit.hspy").models_stored["fit1"]()   # doctest: +SKIP
    """

    def __init__(self, filename: Any, name: str, signal: BaseSignal):
        self.filename = filename
        self.name = name
        self._signal = signal

    def _tree(self) -> tuple[dict, dict, str]:
        """The model's plain ``_dict`` tree, its group attributes, and its path."""
        with reading(self.filename), h5py.File(self.filename, "r") as f:
            _check_hspy(f, self.filename)
            path = f"Analysis.models.{self.name}"
            group = child(child(child(f, "Analysis", ""), "models", "Analysis"), self.name, "Analysis.models")
            if "_dict" not in group:
                raise _error(path, "missing group '_dict'")
            attrs = {k: _attr(group.attrs[k], f"{path}.{k}", [])[1]
                     for k in ("date", "dimensions") if k in group.attrs}
            # what has no plain value (e.g. the pickled ``_class_dump``) is left out,
            # never unpickled; the builder refuses components it cannot rebuild
            tree = _read_tree(child(group, "_dict", path), f"{path}._dict", _Log(self.filename))
        return tree, attrs, f"{path}._dict"

    def restore(self) -> Any:
        """Build the swiftfit model (Model1D or Model2D) on the loaded signal."""
        tree, _, path = self._tree()
        with reading(self.filename):
            return _build_model(self._signal, tree, path)

    def info(self) -> dict:
        """``{"components": [names], "date": str | None, "dimensions": str | None}``."""
        tree, attrs, _ = self._tree()
        comps = tree.get("components", [])
        return {
            "components": [c.get("name") for c in comps if isinstance(c, dict)],
            "date": attrs.get("date") if isinstance(attrs.get("date"), str) else None,
            "dimensions": attrs.get("dimensions") if isinstance(attrs.get("dimensions"), str) else None,
        }

    __call__ = restore

    def __repr__(self) -> str:
        return f"<HspyStoredModel {self.name!r} in {os.fspath(self.filename)!r}>"
