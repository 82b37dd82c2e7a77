"""BaseModel: what Model1D and Model2D share — components, parameters, printing.

Fitting lives in :mod:`.fitting` (a mixin), signal ranges and slicing in the
dimension-specific subclasses.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import numpy as np

from ..component import Component
from ..errors import InvalidInputError, InvalidTypeError, UnknownKeyError
from ..plotting.mixins import ModelPlotMixin
from ..preferences import preferences
from ..stats.mixin import StatsMixin
from .autosave import PIXEL_ARRAYS
from .components_table import ModelComponents
from .fit_mixin import FittingMixin
from .fittable_model import FittableMixin
from .hyperspy_compat import HyperSpyCompatMixin
from .multifit import MultifitMixin
from .slicing import ModelSlicer
from .store import StoreMixin

__all__ = ["BaseModel"]


class BaseModel(FittableMixin, FittingMixin, MultifitMixin, StoreMixin, ModelPlotMixin, StatsMixin, HyperSpyCompatMixin):
    """A sum of components fitted to a signal.

    Created by ``signal.create_model()``. Behaves as a list of components.
    """

    _signal_dimension = 1

    def __init__(self, signal):
        dim = signal.axes_manager.signal_dimension
        if dim != self._signal_dimension:
            raise InvalidInputError(
                f"{type(self).__name__} needs a signal with {self._signal_dimension} signal "
                f"dimension(s), got {dim}"
            )
        self.signal = signal
        self.inav = ModelSlicer(self, isNavigation=True)
        self.isig = ModelSlicer(self, isNavigation=False)
        self._components: list[Component] = []
        self.components = ModelComponents(self)
        self._channel_switches = np.ones(signal.axes_manager._signal_shape_in_array, dtype=bool)
        self._init_fit_state()

    # ----------------------------------------------------------- basics
    @property
    def axes_manager(self):
        return self.signal.axes_manager

    @property
    def _nav_shape(self) -> tuple[int, ...]:
        return tuple(self.axes_manager._navigation_shape_in_array)

    @property
    def _signal_shape_in_array(self) -> tuple[int, ...]:
        return tuple(self.axes_manager._signal_shape_in_array)

    @property
    def title(self) -> str:
        return self.signal.metadata.General.title

    def __repr__(self) -> str:
        return f"<{type(self).__name__}, title: {self.title}>"

    def __len__(self) -> int:
        return len(self._components)

    def __iter__(self):
        return iter(self._components)

    def __contains__(self, comp) -> bool:
        return any(c is comp for c in self._components)

    def __getitem__(self, key):
        if isinstance(key, str):
            for comp in self._components:
                if comp.name == key:
                    return comp
            raise UnknownKeyError(f"Component name {key!r} not found in model: the model has no component "
                                  f"named {key!r}; it has {[c.name for c in self._components]}")
        if isinstance(key, slice):
            return list(self._components[key])
        return self._components[key]

    def index(self, comp) -> int:
        for i, c in enumerate(self._components):
            if c is comp:
                return i
        raise InvalidInputError(f"{comp!r} is not in the model")

    # ------------------------------------------------------- membership
    def _unique_name(self, base: str) -> str:
        taken = {c.name for c in self._components}
        if base not in taken:
            return base
        i = 0
        while f"{base}_{i}" in taken:
            i += 1
        return f"{base}_{i}"

    def append(self, component: Component) -> None:
        """Add a component (renamed ``Name_0``, ``Name_1``... if its name is taken).

        Examples
        --------
        >>> m.append(swiftfit.model.components1D.Gaussian())   # doctest: +SKIP
        """
        if not isinstance(component, Component):
            raise InvalidTypeError(
                f"only Component instances can be added to a model, got {type(component).__name__}"
            )
        if component in self:
            raise InvalidInputError(f"Component already in model: {component!r} is already in the model")
        if component.model is not None:
            raise InvalidInputError(f"{component!r} already belongs to another model; add a copy instead")
        if getattr(component, "_ndim", 1) != self._signal_dimension:
            raise InvalidInputError(
                f"{component!r} is a {component._ndim}-D component; this model is "
                f"{self._signal_dimension}-D"
            )
        component._name = self._unique_name(component.name)
        component.model = self
        self._components.append(component)
        component._create_arrays()
        if hasattr(component, "_on_model_attach"):
            component._on_model_attach(self)

    def extend(self, components: Iterable[Component]) -> None:
        """Append several components."""
        for comp in components:
            self.append(comp)

    def remove(self, thing) -> None:
        """Remove a component given itself, its name or its index."""
        comp = thing if isinstance(thing, Component) else self[thing]
        i = self.index(comp)
        for p in comp.parameters:
            for twin in list(p._twins):
                twin.twin = None
        for other in self._components:
            for p in other.parameters:
                if p.twin is not None and p.twin.component is comp:
                    p.twin = None
        del self._components[i]
        comp.model = None

    # ------------------------------------------------------- parameters
    def _all_parameters(self):
        return [p for c in self._components for p in c.parameters]

    def _resolve_parameter(self, name: str, origin=None):
        """``"Comp.param"`` (or ``"param"`` of the origin's component) -> Parameter.

        ``"m1.Comp.param"`` names a parameter of the model called ``m1`` in a
        joint model this model belongs to.
        """
        if name.count(".") == 2:
            model_name, rest = name.split(".", 1)
            for joint in getattr(self, "_joints", []):
                if model_name in joint.names:
                    return joint.models[joint.names.index(model_name)]._resolve_parameter(rest, None)
            raise InvalidInputError(
                f"expr refers to {name!r}, but this model is in no joint model with a model named {model_name!r}"
            )
        comp_name, _, pname = name.rpartition(".")
        if not comp_name:
            if origin is None or origin.component is None:
                raise InvalidInputError(f"cannot resolve parameter {name!r} without a component")
            comp = origin.component
        else:
            comp = None
            for c in self._components:
                if c.name == comp_name or c._attribute_name == comp_name:
                    comp = c
                    break
            if comp is None:
                raise InvalidInputError(
                    f"expr refers to unknown component {comp_name!r}; components are "
                    f"{[c.name for c in self._components]}"
                )
        for p in comp.parameters:
            if p.name == pname:
                return p
        raise InvalidInputError(
            f"expr refers to unknown parameter {name!r}; {comp.name} has "
            f"{[p.name for p in comp.parameters]}"
        )

    def _check_expr_references(self, param) -> None:
        """Resolve every reference of ``param.expr`` and refuse cycles."""

        def walk(p, path):
            if any(x is p for x in path):
                raise InvalidInputError(
                    "expr/twin ties form a cycle: "
                    + " -> ".join(f"{x.component.name}.{x.name}" for x in [*path, p])
                )
            deps = []
            if p.twin is not None:
                deps.append(p.twin)
            if p._expr_sympy is not None:
                deps.extend(q for _, q in p._expr_dependencies())
            for q in deps:
                walk(q, [*path, p])

        walk(param, [])

    def set_parameters_value(self, parameter_name: str, value: float, component_list=None, only_current: bool = False) -> None:
        """Set ``parameter_name`` to ``value`` in every (listed) component that has it.

        With ``only_current=False`` the value is assigned to every navigation position.
        """
        for comp in self._component_list(component_list):
            for p in comp.parameters:
                if p.name == parameter_name:
                    p.value = value
                    if not only_current:
                        p.assign_current_value_to_all()

    def set_parameters_free(self, component_list=None, parameter_name_list=None, only_linear=False, only_nonlinear=False) -> None:
        """Free the named (default: all) parameters of the listed (default: all) components."""
        for comp in self._component_list(component_list):
            names = None if parameter_name_list is None else [
                n for n in _as_list(parameter_name_list) if any(p.name == n for p in comp.parameters)
            ]
            comp.set_parameters_free(names, only_linear=only_linear, only_nonlinear=only_nonlinear)

    def set_parameters_not_free(self, component_list=None, parameter_name_list=None, only_linear=False, only_nonlinear=False) -> None:
        """Fix the named (default: all) parameters of the listed (default: all) components."""
        for comp in self._component_list(component_list):
            names = None if parameter_name_list is None else [
                n for n in _as_list(parameter_name_list) if any(p.name == n for p in comp.parameters)
            ]
            comp.set_parameters_not_free(names, only_linear=only_linear, only_nonlinear=only_nonlinear)

    def set_component_active_value(self, value: bool, component_list=None, only_current: bool = False) -> None:
        """Switch components on or off (everywhere, or at the current position only)."""
        for comp in self._component_list(component_list):
            comp.active = value
            if comp.active_is_multidimensional and not only_current:
                comp._active_array[...] = bool(value)

    def _component_list(self, component_list):
        if component_list is None:
            return list(self._components)
        out = []
        for item in _as_list(component_list):
            comp = item if isinstance(item, Component) else self[item]
            if comp not in self:
                raise InvalidInputError(f"{comp!r} is not in the model")
            out.append(comp)
        return out

    def create_samfire(self, workers=None, ipyparallel=False, setup=True, **kwargs):
        """A SAMFire (:class:`swiftfit.samfire.Samfire`) to fit every pixel
        from the pixels fitted so far (fit one seed pixel per region first).

        ``ipyparallel=True`` is not supported (pass a dask Client as
        ``client=``); ``kwargs``: ``client``, ``random_state``,
        ``show_progressbar``, ``batch_size``.

        Examples
        --------
        >>> samf = m.create_samfire(workers=None, ipyparallel=False)   # doctest: +SKIP
        >>> samf.start()                                               # doctest: +SKIP
        """
        from ..samfire import create_samfire

        return create_samfire(self, workers=workers, ipyparallel=ipyparallel, setup=setup, **kwargs)

    def store_current_values(self) -> None:
        """Mark the current parameter values as set at the current position."""
        for comp in self._components:
            if comp.active:
                comp.store_current_parameters_in_map()

    def fetch_stored_values(self, only_fixed: bool = False) -> None:
        """Values live in the maps already (``value`` reads ``map`` at the current position)."""

    def assign_current_values_to_all(self, components_list=None, mask=None) -> None:
        """Copy the current values of (listed) components to every position (where ``mask`` is False)."""
        for comp in self._component_list(components_list):
            comp.assign_current_values_to_all(mask)

    def _free_parameters_at_current(self):
        return [p for c in self._components if c.active for p in c.parameters if p.free]

    def fetch_values_from_array(self, array, array_std=None) -> None:
        """Set the free parameters (model order; HyperSpy's, each component's sorted by
        name, with ``swiftfit.preferences.conventions = "hyperspy"``) at the current
        position from ``array``.
        """
        params = self._hs_free_parameters() if preferences.hyperspy else self._free_parameters_at_current()
        array = np.asarray(array, dtype=float).ravel()
        if array.size != len(params):
            raise InvalidInputError(f"`array` must have {len(params)} values (the free parameters), got {array.size}")
        for i, p in enumerate(params):
            p.value = array[i]
            if array_std is not None:
                p.std = float(np.asarray(array_std).ravel()[i])

    # ------------------------------------------------------------ print
    def print_current_values(self, only_free: bool = False, only_active: bool = False, component_list=None) -> None:
        """Print the parameter table of every component at the current position."""
        lines = [f"{type(self).__name__}: {self.title}"]
        for comp in self._component_list(component_list):
            if only_active and not comp.active:
                continue
            lines.append(comp._values_table(only_free))
        print("\n".join(lines))

    # ----------------------------------------------------- signal range
    def _set_switches(self, switches: np.ndarray) -> None:
        if not switches.any():
            raise InvalidInputError("the signal range would be empty; at least one point must stay in range")
        self._channel_switches = switches

    def reset_signal_range(self) -> None:
        """Fit every channel (pixel, for images)."""
        self._channel_switches = np.ones_like(self._channel_switches)

    def set_signal_range_from_mask(self, mask) -> None:
        """Fit where ``mask`` is True (a boolean array of the signal's array shape)."""
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != self._channel_switches.shape:
            raise InvalidInputError(
                f"`mask` must be a boolean array of shape {self._channel_switches.shape}, "
                f"got {mask.dtype} of shape {mask.shape}"
            )
        self._set_switches(mask.copy())

    # ------------------------------------------------------------ files
    def save(self, filename, name: str | None = None, overwrite: bool = True) -> str:
        """Store this model in its signal and save the signal with all its stored models.

        As HyperSpy's ``m.save``: ``m.store(name)`` then the signal, with every
        model in ``s.models``, is written to the HDF5 file ``filename`` (which
        is replaced). Plain data only: no pickle, nothing executed on load.

        Parameters
        ----------
        filename : str or path
            The file to write.
        name : str, optional
            The stored model's name; default the next of a, b, ..., z, aa, ...
        overwrite : bool
            Replace a model already stored under ``name`` (as HyperSpy does).

        Returns
        -------
        str
            The name the model was stored under.

        Examples
        --------
        >>> m.save("fit.h5", "peaks")                              # doctest: +SKIP
        >>> m2 = swiftfit.load("fit.h5").models.restore("peaks")   # doctest: +SKIP
        """
        from ..io.hdf5_model import save_signal_with_models

        name = self.store(name, overwrite=overwrite)
        save_signal_with_models(self.signal, filename)
        return name

    # ---------------------------------------------------------- copying
    # attributes a copy of the model (m.inav, a worker's copy) takes as they are
    _copied_settings: tuple = ()

    def _copy_onto(self, signal, nav_flat=None, channel_mask=None):
        """A new model on ``signal`` with copies of the components; maps taken at
        the flat navigation positions ``nav_flat`` (array shaped like the new
        navigation space).
        """
        new = type(self)(signal)
        for name in self._copied_settings:  # model-wide settings (Model2D: the PSF)
            setattr(new, name, copy.deepcopy(getattr(self, name)))
        memo = {id(self): new, id(self.signal): signal, id(self.signal.axes_manager): signal.axes_manager}
        comps = copy.deepcopy(self._components, memo)
        for comp in comps:
            comp.model = new
            new._components.append(comp)
            for p in comp.parameters:
                if nav_flat is not None and p._map.ndim:
                    p._map = p._map.reshape(-1)[nav_flat].copy()
                elif p._map.ndim and not new._nav_shape:
                    p._map = p._map.reshape(-1)[:1].reshape(()).copy()
            if comp._active_array is not None and nav_flat is not None:
                comp._active_array = comp._active_array.reshape(-1)[nav_flat].copy()
        if channel_mask is not None:
            new._channel_switches = channel_mask.copy()
        for name in PIXEL_ARRAYS:  # the per-pixel fit state (AIC/BIC need _lnl and _nfree)
            arr = getattr(self, name)
            if nav_flat is not None and arr.ndim:
                setattr(new, name, arr.reshape(-1)[nav_flat].copy())
        return new


def _as_list(value):
    if isinstance(value, (str, Component)):
        return [value]
    return list(value)
