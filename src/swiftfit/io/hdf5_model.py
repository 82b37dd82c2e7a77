"""Models in swiftfit HDF5 files: :func:`save_model`, :func:`restore_model`.

Layout of ``/models/<name>``::

    attrs: class ("Model1D" | "Model2D"), oversampling, date
           ("YYYY-MM-DD HH:MM:SS", when stored), dimensions ("(nav|sig)")
    channel_switches, chisq, dof, nfev, status, lnl, nfree, [psf]   datasets
    components/<NNN>     one group per component, in model order
        attrs: module, qualname, name, active
        active_array     dataset, when ``active_is_multidimensional``
        init             value tree: the constructor arguments
        parameters/<p>   datasets values, std, is_set (the map); attrs free,
                         bmin, bmax, units, ext_bounded, ext_force_positive,
                         twin_function_expr and, when set: twin
                         ("Component.param"), twin_inverse_function_expr
                         (only when not automatic), expr

Which component classes are rebuilt
-----------------------------------
* A class from ``swiftfit.components`` is looked up by (module, qualname)
  among the classes exported by ``swiftfit.components.components1d`` and
  ``components2d``; nothing is imported.
* A class registered with :func:`register_component` is used as registered.
* A class defined inside a function (``<locals>`` in its qualname) is used
  only when this Python session saved a model holding it: saving remembers
  the class object (weakly), and only that object can be found again. No
  file can name a class into this list.
* Any other class is used only when its module is already imported (in
  ``sys.modules``), or, with ``allow_import=True``, importable from
  ``sys.path`` (then imported with :func:`importlib.import_module`). It must
  be a :class:`~swiftfit.component.Component` subclass. Otherwise loading
  raises ``ValueError`` naming the stored class.

Constructor arguments are plain data (numbers, strings, lists...) from the
file; an ``Expression`` string is re-parsed by swiftfit's safe expression
parser (so a malicious string raises ``ExpressionError``), never evaluated.
Other classes get ``cls(**init)`` where ``init`` is their ``_init_kwargs``
dict when they have one, else nothing.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import shutil
import sys
import weakref
from datetime import datetime
from typing import Any

import h5py
import numpy as np

from ..component import Component
from ..errors import ExpressionError, FileFormatError, InvalidInputError, UnsafeFileError
from ..parameters import MAP_DTYPE
from ..signals import BaseSignal
from .hdf5 import (
    _check_file,
    _stamp,
    child,
    read_array,
    read_attr,
    read_group,
    read_signal,
    read_tree,
    write_optional,
    write_signal,
    write_value,
)
from .parameter_files import _apply
from .safety import Budget, atomic_target, reading

__all__ = ["StoredModel", "register_component", "restore_model", "save_model",
           "save_signal_with_models"]

_BUILTIN_PREFIX = "swiftfit.components."
_REGISTRY: dict[tuple[str, str], type] = {}
# classes defined inside a function that this session saved (never filled from a file)
_SAVED_LOCAL: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_FIT_STATE = (("_chisq", "chisq", "f"), ("_dof", "dof", "f"), ("_nfev", "nfev", "iu"),
              ("_status", "status", "iu"), ("_lnl", "lnl", "f"), ("_nfree", "nfree", "f"))
_NONE = type(None)


def register_component(cls: type) -> type:
    """Allow files to rebuild components of class ``cls`` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Component)):
        raise ValueError(f"only Component subclasses can be registered, got {cls!r}")  # noqa: TRY004 (files: ValueError by design)
    _REGISTRY[(cls.__module__, cls.__qualname__)] = cls
    return cls


# ------------------------------------------------------------------ saving
def remember_local_class(cls: type) -> None:
    """A class defined inside a function cannot be imported again: remember the
    class object this session saved (or put in a model dictionary), so that this
    session, and only it, can rebuild it.
    """
    if "<locals>" in cls.__qualname__:
        _SAVED_LOCAL[(cls.__module__, cls.__qualname__)] = cls


def _init_kwargs(comp: Component) -> dict:
    from ..components.pattern import ScalableFixedPattern

    if isinstance(comp, ScalableFixedPattern):
        return {"signal1D": (np.array(comp._x), np.array(comp._y)), "interpolate": comp.interpolate}
    init = getattr(comp, "_init_kwargs", None)
    if isinstance(init, dict):
        return dict(init)
    if hasattr(type(comp), "order") and hasattr(comp, "_order"):
        return {"order": int(comp._order)}
    if hasattr(comp, "_add_rotation") and "add_rotation" in inspect.signature(type(comp).__init__).parameters:
        # Moffat2D/Sersic2D share the centred-2-D base but take no add_rotation
        return {"add_rotation": bool(comp._add_rotation)}
    return {}


def _write_component(group: Any, comp: Component, path: str) -> None:
    cls = type(comp)
    remember_local_class(cls)
    group.attrs["module"] = cls.__module__
    group.attrs["qualname"] = cls.__qualname__
    group.attrs["name"] = comp.name
    group.attrs["active"] = np.bool_(comp._active)
    if comp._active_array is not None:
        group.create_dataset("active_array", data=np.asarray(comp._active_array, dtype=bool))
    write_value(group, "init", _init_kwargs(comp), path)
    params = group.create_group("parameters")
    for p in comp.parameters:
        g = params.create_group(p.name)
        for field in MAP_DTYPE.names:
            g.create_dataset(field, data=np.array(p._map[field]))
        g.attrs["free"] = np.bool_(p._free)
        write_optional(g.attrs, "bmin", p.bmin)
        write_optional(g.attrs, "bmax", p.bmax)
        write_optional(g.attrs, "units", p.units)
        g.attrs["ext_bounded"] = np.bool_(p.ext_bounded)
        g.attrs["ext_force_positive"] = np.bool_(p.ext_force_positive)
        g.attrs["twin_function_expr"] = p.twin_function_expr
        if p.twin is not None:
            if p.twin.component is None or p.twin.component.model is not comp.model:
                raise ValueError(f"{path}.{p.name}: twinned to a parameter outside the model")
            g.attrs["twin"] = f"{p.twin.component.name}.{p.twin.name}"
        if not p._inverse_is_automatic:
            g.attrs["twin_inverse_function_expr"] = p.twin_inverse_function_expr
        if p.expr is not None:
            g.attrs["expr"] = p.expr


def _write_model(group: Any, model: Any) -> None:
    from ..model.model1d import Model1D
    from ..model.model2d import Model2D

    if isinstance(model, Model2D):
        group.attrs["class"] = "Model2D"
        group.attrs["oversampling"] = np.int64(model._oversampling)
        if model._psf is not None:
            group.create_dataset("psf", data=np.asarray(model._psf, dtype=float))
    elif isinstance(model, Model1D):
        group.attrs["class"] = "Model1D"
    else:
        raise ValueError(f"only Model1D and Model2D can be saved, got {type(model).__name__}")  # noqa: TRY004 (files: ValueError by design)
    # shown by s.models (HyperSpy's tree); not needed to rebuild the model
    group.attrs["date"] = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    group.attrs["dimensions"] = model.signal.axes_manager._dims_string()
    group.create_dataset("channel_switches", data=np.asarray(model._channel_switches, dtype=bool))
    for attr, key, _ in _FIT_STATE:
        value = getattr(model, attr, None)
        if value is not None:
            group.create_dataset(key, data=np.asarray(value))
    comps = group.create_group("components")
    for i, comp in enumerate(model._components):
        _write_component(comps.create_group(f"{i:03d}"), comp, f"component {comp.name}")


def save_model(model: Any, filename: str | os.PathLike, name: str | None = None,
               overwrite: bool = True) -> str:
    """Write ``model`` (and its signal) to the HDF5 file ``filename``.

    Several models of the same signal can live in one file under different
    names: an existing swiftfit file is updated (its signal rewritten, which
    must have the model's data shape), anything else is replaced. The update
    is made on a copy next to the file, renamed over it when complete (an
    interrupted save leaves the previous file).

    Parameters
    ----------
    name : str, optional
        The model's name in the file; default the first free of ``"a"``,
        ``"b"``, ... ``"z"``, ``"model_26"``...
    overwrite : bool
        Replace a stored model of the same name (else ``ValueError``).

    Returns
    -------
    str
        The name the model was stored under.
    """
    with atomic_target(filename) as tmp:
        return _save_model(model, filename, tmp, name, overwrite)


def _save_model(model: Any, filename: Any, tmp: str, name: str | None, overwrite: bool) -> str:
    signal = model.signal
    mode = "x"
    if os.path.exists(filename) and h5py.is_hdf5(filename):
        with h5py.File(filename, "r") as f:
            if "swiftfit_format" in f.attrs:
                mode = "a"
    if mode == "a":
        shutil.copyfile(filename, tmp)
    with h5py.File(tmp, mode) as f:
        if mode == "a":
            _check_file(f, filename)
            if "signal" in f:
                stored = child(read_group(f, "signal", ""), "data", "signal")
                if getattr(stored, "shape", None) != np.shape(signal.data):
                    raise ValueError(
                        f"{filename!s} holds a signal of shape {stored.shape}; the model's "
                        f"signal has shape {np.shape(signal.data)}"
                    )
                del f["signal"]
        _stamp(f)
        write_signal(f.create_group("signal"), signal)
        models = f.require_group("models")
        if name is None:
            i = 0
            name = "a"
            while name in models:
                i += 1
                name = chr(ord("a") + i) if i < 26 else f"model_{i}"
        if not isinstance(name, str) or not name or "/" in name or name == ".":
            raise ValueError(f"`name` must be a non-empty string without '/', got {name!r}")
        if name in models:
            if not overwrite:
                raise ValueError(f"{filename!s} already holds a model named {name!r}")
            del models[name]
        group = models.create_group(name)
        try:
            _write_model(group, model)
        except Exception:
            del models[name]
            raise
    return name


# ------------------------------------------------------------------ loading
def _component_class(module: str, qualname: str, path: str, allow_import: bool) -> type:
    if module.startswith(_BUILTIN_PREFIX):
        from ..components import components1d, components2d, legacy

        for ns in (components1d, components2d, legacy):
            for attr in ns.__all__:
                cls = getattr(ns, attr)
                if cls.__module__ == module and cls.__qualname__ == qualname:
                    return cls
        raise ValueError(f"{path}: {module}.{qualname} is not a swiftfit component")
    if (module, qualname) in _REGISTRY:
        return _REGISTRY[(module, qualname)]
    if (module, qualname) in _SAVED_LOCAL:
        return _SAVED_LOCAL[(module, qualname)]
    if "<locals>" in qualname:
        raise ValueError(f"{path}: component class {module}.{qualname} was defined inside a function; "
                         "only the session that saved it can restore it (or register the class with "
                         "register_component)")
    mod = sys.modules.get(module)
    if mod is None and allow_import:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if found:
            mod = importlib.import_module(module)
    if mod is None:
        raise ValueError(
            f"{path}: component class {module}.{qualname} is not allowed: its module is not "
            "imported (import it, register the class with register_component, or load with "
            "allow_import=True)"
        )
    obj: Any = mod
    for part in qualname.split("."):
        if not part.isidentifier() or part.startswith("__"):
            raise ValueError(f"{path}: bad class name {qualname!r}")
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and issubclass(obj, Component)):
        raise ValueError(f"{path}: {module}.{qualname} is not a Component class")  # noqa: TRY004 (files: ValueError by design)
    if getattr(obj, "function", None) is None:
        # the bare base class (or a subclass without ``function``) restores,
        # then fails in every fit: refuse it here, naming it
        raise ValueError(f"{path}: {module}.{qualname} defines no `function`; it is a base class, "
                         "not a component a model can evaluate")
    return obj


def _build_component(group: Any, path: str, allow_import: bool, budget: Budget | None = None) -> Component:
    module = read_attr(group.attrs, "module", path, (str,))
    qualname = read_attr(group.attrs, "qualname", path, (str,))
    cls = _component_class(module, qualname, f"{path}.module", allow_import)
    init = read_tree(read_group(group, "init", path), f"{path}.init", budget=budget)
    if not isinstance(init, dict):
        raise ValueError(f"{path}.init: expected a dict")  # noqa: TRY004 (files: ValueError by design)
    try:
        return cls(**init)
    except ExpressionError:
        raise
    except (ValueError, TypeError) as exc:
        raise FileFormatError(f"{path}: cannot rebuild {qualname} from its stored arguments: {exc}") from exc


def _restore_parameters(comp: Component, group: Any, path: str, nav_shape: tuple) -> dict:
    """Read every parameter of ``comp``: units and extension flags are set here;
    the rest is returned as ``parameter_files._apply``'s state (the twin still
    a name, resolved once every component exists), with ``where`` for errors.
    """
    params_group = read_group(group, "parameters", path)
    names = [p.name for p in comp.parameters]
    if sorted(params_group) != sorted(names):
        raise ValueError(f"{path}.parameters: stored {sorted(params_group)}, "
                         f"the component has {sorted(names)}")
    state = {}
    for p in comp.parameters:
        g = read_group(params_group, p.name, f"{path}.parameters")
        where = f"{path}.parameters.{p.name}"
        new = np.zeros(nav_shape, dtype=MAP_DTYPE)
        new["values"] = read_array(g, "values", where, kinds="f", shape=nav_shape)
        new["std"] = read_array(g, "std", where, kinds="f", shape=nav_shape)
        new["is_set"] = read_array(g, "is_set", where, kinds="b", shape=nav_shape)
        state[p] = {
            "map": new,
            "free": read_attr(g.attrs, "free", where, (bool,)),
            "bmin": read_attr(g.attrs, "bmin", where, (float, _NONE)),
            "bmax": read_attr(g.attrs, "bmax", where, (float, _NONE)),
            "twin": read_attr(g.attrs, "twin", where, (str,), optional=True),
            "twin_function_expr": read_attr(g.attrs, "twin_function_expr", where, (str,)),
            "twin_inverse_function_expr": read_attr(g.attrs, "twin_inverse_function_expr", where, (str,),
                                                    optional=True),
            "expr": read_attr(g.attrs, "expr", where, (str,), optional=True),
            "where": where,
        }
        p.units = read_attr(g.attrs, "units", where, (str, _NONE))  # plain attributes, any value of these types
        p._ext_bounded = read_attr(g.attrs, "ext_bounded", where, (bool,))  # no clipping while loading
        p.ext_force_positive = read_attr(g.attrs, "ext_force_positive", where, (bool,))
    return state


def _build_model(signal: BaseSignal, group: Any, path: str, allow_import: bool) -> Any:
    from ..model.model1d import Model1D
    from ..model.model2d import Model2D

    cls_name = read_attr(group.attrs, "class", path, (str,))
    classes = {"Model1D": Model1D, "Model2D": Model2D}
    if cls_name not in classes:
        raise ValueError(f"{path}.class: unknown model class {cls_name!r}")
    model = classes[cls_name](signal)
    nav_shape = tuple(model._nav_shape)
    comps_group = read_group(group, "components", path)
    budget = Budget(path)
    keys = sorted(comps_group)
    if keys != [f"{i:03d}" for i in range(len(keys))]:
        raise ValueError(f"{path}.components: malformed component list {keys}")
    state = {}
    for key in keys:
        g = read_group(comps_group, key, f"{path}.components")
        where = f"{path}.components.{key}"
        comp = _build_component(g, where, allow_import, budget)
        name = read_attr(g.attrs, "name", where, (str,))
        if any(c.name == name for c in model._components):
            raise ValueError(f"{where}.name: duplicate component name {name!r}")
        comp.name = name
        model.append(comp)
        comp.active = read_attr(g.attrs, "active", where, (bool,))  # the public setter
        active = read_array(g, "active_array", where, kinds="b", shape=nav_shape, optional=True)
        comp._active_array = None if active is None else active.astype(bool)
        state.update(_restore_parameters(comp, g, where, nav_shape))
    by_name = {c.name: c for c in model._components}
    for s in state.values():  # twins by name, once every component exists
        where, twin = s.pop("where"), s["twin"]
        if twin is not None:
            cname, _, pname = twin.rpartition(".")
            target = by_name.get(cname)
            s["twin"] = None if target is None else next((q for q in target.parameters if q.name == pname), None)
            if s["twin"] is None:
                raise ValueError(f"{where}.twin: unknown parameter {twin!r}")
    _apply(state)  # maps, bounds, then twins, then exprs: as a parameter file is applied
    switches = read_array(group, "channel_switches", path, kinds="b",
                          shape=tuple(model._channel_switches.shape))
    model._set_switches(switches.astype(bool))
    for attr, key, kinds in _FIT_STATE:
        value = read_array(group, key, path, kinds=kinds, shape=nav_shape, optional=True)
        if value is not None:
            setattr(model, attr, value)
    if cls_name == "Model2D":
        oversampling = read_attr(group.attrs, "oversampling", path, (int,))
        psf = read_array(group, "psf", path, kinds="f", optional=True)
        if psf is not None or oversampling != 1:
            model.set_psf(psf, oversampling)
    return model


def restore_model(signal_or_file: Any, name: str, allow_import: bool = False) -> Any:
    """Rebuild the model stored as ``name``.

    Parameters
    ----------
    signal_or_file : BaseSignal or path
        A signal from :func:`~swiftfit.io.hdf5.load` (the model is built on
        it) or a file name (its signal is loaded first).
    allow_import : bool
        Let the loader import a component's module that is not imported yet
        (see the module docstring); off by default.
    """
    if isinstance(signal_or_file, BaseSignal):
        stored = getattr(signal_or_file, "models_stored", {}).get(name)
        if stored is None:
            raise ValueError(f"the signal has no stored model named {name!r}")
        if not isinstance(stored, StoredModel):  # stored in memory (m.store) or by another reader
            return stored.restore()
        return _restore(stored.filename, name, signal_or_file, allow_import)
    return _restore(signal_or_file, name, None, allow_import)


def _restore(filename: Any, name: str, signal: BaseSignal | None, allow_import: bool) -> Any:
    """Build the model ``name`` of ``filename`` on ``signal`` (the file's own when None)."""
    with reading(filename), h5py.File(filename, "r") as f:
        _check_file(f, filename)
        if signal is None:
            signal = read_signal(read_group(f, "signal", ""), "signal", budget=Budget(filename))
        models = read_group(f, "models", "")
        if name not in models:
            raise ValueError(f"{filename!s} holds no model named {name!r}; it has {sorted(models)}")
        return _build_model(signal, read_group(models, name, "models"), f"models.{name}", allow_import)


class StoredModel:
    """A model stored in a file; call it (or :meth:`restore`) to rebuild it."""

    def __init__(self, filename: Any, name: str, signal: BaseSignal, allow_import: bool = False):
        self.filename = filename
        self.name = name
        self._signal = signal
        self._allow_import = allow_import

    def restore(self) -> Any:
        return _restore(self.filename, self.name, self._signal, self._allow_import)

    __call__ = restore

    def info(self) -> dict:
        """Component names (model order), date and dimensions, for ``s.models``."""
        with reading(self.filename), h5py.File(self.filename, "r") as f:
            _check_file(f, self.filename)
            models = read_group(f, "models", "")
            return _model_info(read_group(models, self.name, "models"), f"models.{self.name}")

    def _copy_into(self, models: Any, name: str) -> None:
        """Copy the stored model into the HDF5 group ``models`` as ``name``."""
        with reading(self.filename), h5py.File(self.filename, "r") as f:
            _check_file(f, self.filename)
            source = read_group(read_group(f, "models", ""), self.name, "models")
            # the copy takes what the group holds: check it as a restore would
            _check_copyable(source, f"models.{self.name}")
            f.copy(source, models, name=name)

    def __repr__(self) -> str:
        return f"<StoredModel {self.name!r} in {os.fspath(self.filename)!r}>"


def _check_copyable(group: Any, path: str) -> None:
    """Refuse a stored model whose copy would carry links, external storage or
    virtual datasets (h5py's copy would follow them into the new file).
    """
    from .safety import check_dataset

    budget = Budget(path)

    def visit(g: Any, where: str, depth: int) -> None:
        budget.node(where, depth, g)
        for key in g:
            link = g.get(key, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise UnsafeFileError(f"{where}.{key}: links are not allowed")
            obj = g[key]
            if isinstance(obj, h5py.Dataset):
                budget.node(f"{where}.{key}", depth + 1, obj)
                budget.take(check_dataset(obj, f"{where}.{key}", budget.max_bytes), f"{where}.{key}")
            else:
                visit(obj, f"{where}.{key}", depth + 1)

    visit(group, path, 0)


def _model_info(group: Any, path: str) -> dict:
    """``{"components": [names], "date": str | None, "dimensions": str | None}``."""
    comps = read_group(group, "components", path)
    names = [read_attr(read_group(comps, key, f"{path}.components").attrs, "name",
                       f"{path}.components.{key}", (str,)) for key in sorted(comps)]
    return {
        "components": names,
        "date": read_attr(group.attrs, "date", path, (str,), optional=True),
        "dimensions": read_attr(group.attrs, "dimensions", path, (str,), optional=True),
    }


def save_signal_with_models(signal: BaseSignal, filename: str | os.PathLike) -> None:
    """Write ``signal`` and every model stored in it (``signal.models``) to ``filename``.

    The file is replaced as a whole (written to a temporary file next to it,
    then renamed), so models that ``signal`` lists from that same file are
    copied before it is overwritten and a failure leaves the old file intact.

    Examples
    --------
    >>> m.store("start"); save_signal_with_models(s, "fit.h5")    # doctest: +SKIP
    >>> swiftfit.load("fit.h5").models.start.restore()             # doctest: +SKIP
    """
    if not isinstance(signal, BaseSignal):
        raise ValueError(f"`signal` must be a signal, got {type(signal).__name__}")  # noqa: TRY004 (files: ValueError by design)
    stored = dict(getattr(signal, "models_stored", None) or {})
    from .lazy_io import is_zarr_path, save_zarr

    if is_zarr_path(filename):
        if stored:
            raise InvalidInputError(f"`filename` {os.fspath(filename)!r} is a zarr store, which holds no models; "
                                    f"the signal has {len(stored)} stored model(s) {sorted(stored)}: save to "
                                    "an HDF5 file (.h5) instead, or remove them")
        save_zarr(signal, filename)
        return
    # a fresh name in the same folder (os.replace stays atomic); mode "x" keeps
    # the umask's permissions, which mkstemp (0600) would not
    with atomic_target(filename) as tmp:
        with h5py.File(tmp, "x") as f:
            _stamp(f)
            write_signal(f.create_group("signal"), signal)
            models = f.create_group("models")
            for name, entry in stored.items():
                if hasattr(entry, "_copy_into"):
                    entry._copy_into(models, name)
                else:  # e.g. a model read from a HyperSpy file: rebuild, then write
                    _write_model(models.create_group(name), entry.restore())
