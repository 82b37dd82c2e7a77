"""Parameter files: ``m.save_parameters2file`` / ``m.load_parameters_from_file``.

A parameter file is NumPy's uncompressed ``.npz`` (as HyperSpy's), holding

* ``"<i>_<component>.<parameter>"`` (names lower-cased, spaces -> ``_``,
  ``i`` the component's index): the parameter's map, a structured array
  with fields ``values``, ``std``, ``is_set`` - HyperSpy's own keys and
  layout, so either library reads the other's maps;
* ``"swiftfit_parameters"``: a JSON string (a 0-d unicode array) with, per
  component and parameter name, the map's key, ``free``, ``bmin``,
  ``bmax``, ``twin`` (``"Component.parameter"``), ``twin_function_expr``,
  ``twin_inverse_function_expr`` (null when automatic) and ``expr``.

Files are read with ``allow_pickle=False``; every entry is type-checked, so a
crafted file raises ``InvalidInputError`` and changes nothing. A file written
by HyperSpy (no ``swiftfit_parameters``) sets the maps only, matched by key
(component order included) as HyperSpy does.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..parameters import MAP_DTYPE

__all__ = ["load_parameters", "save_parameters"]

META_KEY = "swiftfit_parameters"
FORMAT = "swiftfit-parameters"
VERSION = 1
_NONE = type(None)


def _key(index: int, comp_name: str, param_name: str) -> str:
    # HyperSpy's key, so that its load_parameters_from_file reads our maps
    return f"{index}_{comp_name.lower().replace(' ', '_')}.{param_name.lower().replace(' ', '_')}"


def _twin_path(p: Any) -> str | None:
    return None if p.twin is None else f"{p.twin.component.name}.{p.twin.name}"


def save_parameters(model: Any, filename: str | os.PathLike) -> None:
    """Write every parameter's map, free flag, bounds and ties to ``filename`` (.npz).

    Examples
    --------
    >>> save_parameters(m, "params.npz")          # doctest: +SKIP
    """
    arrays: dict[str, np.ndarray] = {}
    components = []
    for i, comp in enumerate(model):
        params = []
        for p in comp.parameters:
            key = _key(i, comp.name, p.name)
            arrays[key] = np.array(p._map, dtype=MAP_DTYPE)
            params.append({
                "name": p.name, "key": key, "free": bool(p._free), "bmin": p.bmin, "bmax": p.bmax,
                "twin": _twin_path(p), "twin_function_expr": p.twin_function_expr,
                "twin_inverse_function_expr": None if p._inverse_is_automatic else p.twin_inverse_function_expr,
                "expr": p.expr,
            })
        components.append({"name": comp.name, "parameters": params})
    meta = {"format": FORMAT, "version": VERSION, "components": components}
    arrays[META_KEY] = np.array(json.dumps(meta))
    target = os.fspath(filename)
    if not target.endswith(".npz"):
        target += ".npz"  # what np.savez does with a path
    from .safety import atomic_target

    with atomic_target(target) as tmp, open(tmp, "xb") as f:  # a file object: savez adds no suffix
        np.savez(f, **arrays)


# ------------------------------------------------------------------ reading
def _field(d: Any, key: str, types: tuple, where: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise InvalidInputError(f"{where}: missing {key!r}")
    value = d[key]
    if isinstance(value, int) and not isinstance(value, bool) and float in types:
        value = float(value)
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        raise InvalidInputError(f"{where}.{key}: expected {' or '.join(t.__name__ for t in types)}, "
                                f"got {value!r}")
    return value


def _read_map(data: Any, key: str, shape: tuple, where: str) -> np.ndarray:
    if key not in data.files:
        raise InvalidInputError(f"{where}: the file has no map {key!r}")
    try:
        arr = data[key]
    except ValueError as exc:  # an object array, which would need pickle
        raise InvalidInputError(f"{where}: map {key!r} cannot be read without pickle ({exc})") from None
    names = arr.dtype.names or ()
    kinds = {"values": "f", "std": "f", "is_set": "b"}
    if set(names) != set(kinds) or any(arr.dtype[n].kind != k or arr.dtype[n].shape for n, k in kinds.items()):
        raise InvalidInputError(f"{where}: map {key!r} has dtype {arr.dtype}; expected {MAP_DTYPE}")
    if arr.shape != shape:
        raise InvalidInputError(f"{where}: map {key!r} has shape {arr.shape}; the model's is {shape}")
    out = np.zeros(shape, dtype=MAP_DTYPE)
    for n in kinds:
        out[n] = arr[n]
    return out


def _parse_meta(data: Any) -> list:
    try:
        raw = data[META_KEY]
    except ValueError as exc:
        raise InvalidInputError(f"{META_KEY!r} cannot be read without pickle ({exc})") from None
    if raw.dtype.kind != "U" or raw.ndim != 0:
        raise InvalidInputError(f"{META_KEY!r} must be a text scalar, got {raw.dtype} of shape {raw.shape}")
    try:
        meta = json.loads(str(raw[()]))
    except ValueError as exc:
        raise InvalidInputError(f"{META_KEY!r} is not valid JSON ({exc})") from None
    if _field(meta, "format", (str,), META_KEY) != FORMAT:
        raise InvalidInputError(f"{META_KEY}.format must be {FORMAT!r}")
    version = _field(meta, "version", (int,), META_KEY)
    if version > VERSION:
        raise InvalidInputError(f"parameter file version {version}; this swiftfit reads up to {VERSION}")
    comps = _field(meta, "components", (list,), META_KEY)
    out = []
    for i, c in enumerate(comps):
        where = f"components[{i}]"
        name = _field(c, "name", (str,), where)
        params = []
        for j, p in enumerate(_field(c, "parameters", (list,), where)):
            w = f"{where}.parameters[{j}]"
            entry = {"name": _field(p, "name", (str,), w), "key": _field(p, "key", (str,), w),
                     "free": _field(p, "free", (bool,), w),
                     "twin_function_expr": _field(p, "twin_function_expr", (str,), w)}
            for k in ("bmin", "bmax"):
                entry[k] = _field(p, k, (float, _NONE), w)
                if entry[k] is not None and math.isnan(entry[k]):
                    raise InvalidInputError(f"{w}.{k}: must not be NaN")
            for k in ("twin", "twin_inverse_function_expr", "expr"):
                entry[k] = _field(p, k, (str, _NONE), w)
            params.append(entry)
        out.append((name, params))
    return out


def _difference(file_comps: list, model: Any) -> str | None:
    """What differs between the file's components/parameters and the model's, or None."""
    in_file = {name: [p["name"] for p in params] for name, params in file_comps}
    in_model = {c.name: [p.name for p in c.parameters] for c in model}
    problems = []
    if len(in_file) != len(file_comps):
        problems.append("the file repeats a component name")
    only_file = [n for n in in_file if n not in in_model]
    only_model = [n for n in in_model if n not in in_file]
    if only_file:
        problems.append(f"components only in the file: {only_file}")
    if only_model:
        problems.append(f"components only in the model: {only_model}")
    for name, file_params in in_file.items():
        if name in in_model and sorted(file_params) != sorted(in_model[name]):
            problems.append(f"{name}: file parameters {file_params}, model parameters {in_model[name]}")
    return "; ".join(problems) or None


def _snapshot(model: Any) -> dict:
    state = {}
    for comp in model:
        for p in comp.parameters:
            state[p] = {"map": p._map.copy(), "free": p._free, "bmin": p.bmin, "bmax": p.bmax,
                        "twin": p.twin, "twin_function_expr": p.twin_function_expr,
                        "twin_inverse_function_expr": None if p._inverse_is_automatic
                        else p.twin_inverse_function_expr, "expr": p.expr}
    return state


def _apply(state: dict) -> None:
    """Set each parameter from ``state`` (parameter -> dict; ``twin`` a Parameter)."""
    for p in state:  # drop every tie first: no transient cycle while re-tying
        p.expr = None
        p.twin = None
    for p, s in state.items():
        p._map = s["map"]
        p.free = s["free"]
        p._bmin = p._bmax = None
        # through the checks, but without ext_bounded's clipping of the restored map
        p._bmin = p._check_bound("bmin", s["bmin"])
        p._bmax = p._check_bound("bmax", s["bmax"])
    for p, s in state.items():
        p.twin = s["twin"]
        if s["twin_function_expr"] != p.twin_function_expr:
            p.twin_function_expr = s["twin_function_expr"]
        if s["twin_inverse_function_expr"] is not None or not p._inverse_is_automatic:
            p.twin_inverse_function_expr = s["twin_inverse_function_expr"]
    for p, s in state.items():  # exprs last: they resolve other parameters by name
        if s["expr"] is not None:
            p.expr = s["expr"]


def load_parameters(model: Any, filename: str | os.PathLike) -> None:
    """Set ``model``'s parameters from a file of :func:`save_parameters` (or HyperSpy's).

    Raises
    ------
    InvalidInputError
        The file is not a parameter file, is crafted (pickled or mistyped
        entries), or its components/parameters differ from the model's (the
        message names what differs). The model is then left unchanged.

    Examples
    --------
    >>> load_parameters(m, "params.npz")          # doctest: +SKIP
    """
    path = os.fspath(filename)
    if not os.path.exists(path) and os.path.exists(path + ".npz"):
        path += ".npz"  # np.savez added the extension when saving
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InvalidInputError(f"`filename` {path!r} is not a readable .npz parameter file ({exc})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise InvalidInputError(f"`filename` {path!r} holds a single array, not an .npz parameter file")
    with data:
        if META_KEY in data.files:
            comps = _parse_meta(data)
            diff = _difference(comps, model)
            if diff:
                raise InvalidInputError(f"`filename` {path!r} does not match the model: {diff}")
            params = {(c.name, p.name): p for c in model for p in c.parameters}
            state = {}
            for cname, entries in comps:
                for e in entries:
                    p = params[(cname, e["name"])]
                    where = f"{cname}.{e['name']}"
                    twin = None
                    if e["twin"] is not None:
                        twin = params.get(tuple(e["twin"].rsplit(".", 1)))
                        if twin is None:
                            raise InvalidInputError(f"{where}.twin: the model has no parameter {e['twin']!r}")
                    state[p] = dict(e, map=_read_map(data, e["key"], p._map.shape, where), twin=twin)
        else:  # HyperSpy's file: maps only, keyed by index and lower-cased names
            expected = {_key(i, c.name, p.name): p for i, c in enumerate(model) for p in c.parameters}
            found = set(data.files)
            if found != set(expected):
                raise InvalidInputError(
                    f"`filename` {path!r} does not match the model: keys only in the file "
                    f"{sorted(found - set(expected))}, only in the model {sorted(set(expected) - found)}"
                )
            maps = {p: _read_map(data, k, p._map.shape, k) for k, p in expected.items()}
            for p, new in maps.items():
                p._map = new
            return
    before = _snapshot(model)
    try:
        _apply(state)
    except Exception:
        _apply(before)  # a bad bound or expr: put the model back as it was
        raise
