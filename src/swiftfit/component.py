"""Component: a named term of a model, built from a pure batched function.

Two ways to write a component are accepted.

1. The batched form (every built-in component): class attributes ``parameters``
   and ``linear`` name the parameters, and ``function``/``gradients`` are
   ``@staticmethod``\\ s taking the coordinates and one array per parameter,
   broadcast as ``(B, 1)`` against ``x`` of shape ``(N,)``::

       class Line(Component):
           parameters = ("a", "b")
           linear = ("a", "b")

           @staticmethod
           def function(x, a, b):
               return a * x + b

           @staticmethod
           def gradients(x, a, b):
               return (x, 1.0)

   Calling ``line.function(x)`` on an instance evaluates it at the current
   parameter values, as HyperSpy users expect.

2. HyperSpy's template: ``Component.__init__(self, ("p1", "p2"))``, a method
   ``function(self, x)`` that reads ``self.p1.value``, and optional
   ``self.p1.grad = callable(x)``. The problem layer evaluates such a component
   pixel by pixel.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from . import _xp
from .errors import InvalidInputError, InvalidTypeError, InvalidTypeValueError
from .parameters import Parameter
from .plotting.mixins import ComponentPlotMixin

__all__ = ["Component", "format_value"]


class _PureFunction:
    """Descriptor for a batched static ``function``/``gradients``.

    On the class it is the plain function; on an instance it is a callable that
    fills in the current parameter values when only coordinates are given.
    """

    def __init__(self, func):
        self.func = func
        self.__doc__ = getattr(func, "__doc__", None)

    def __get__(self, obj, owner=None):
        if obj is None:
            return self.func
        func = self.func

        def bound(*args, **kwargs):
            if len(args) == obj._ndim and not kwargs:
                args = args + tuple(p.value for p in obj.parameters)
            return func(*args, **kwargs)

        bound.__doc__ = func.__doc__
        return bound


def _slug(name: str) -> str:
    slug = re.sub(r"\W", "_", name)
    return slug if slug and not slug[0].isdigit() else f"_{slug}"


def format_value(value: Any, width: int = 10) -> str:
    """Format a number in at most ``width`` characters, as many digits as fit."""
    if value is None:
        return "None"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    value = float(value)
    for prec in range(width, 0, -1):
        text = f"{value:.{prec}g}"
        if len(text) <= width:
            return text
    return f"{value:.1e}"


def _taking_axes_manager(estimate):
    """Wrap a subclass's ``estimate_parameters`` so that it first calls
    ``_estimate_parameters(signal)`` (HyperSpy's order).
    """

    @functools.wraps(estimate)
    def estimate_parameters(self, signal, *args, **kwargs):
        self._estimate_parameters(signal)
        return estimate(self, signal, *args, **kwargs)

    estimate_parameters._takes_axes_manager = True
    return estimate_parameters


class Component(ComponentPlotMixin):
    """Base class of every model component.

    Parameters
    ----------
    parameter_name_list : sequence of str, optional
        Names of the parameters (HyperSpy's template); defaults to the class
        attribute ``parameters``.
    linear_parameter_list : sequence of str, optional
        Names of the parameters the component is linear in; defaults to the
        class attribute ``linear``.
    **initial_values
        Initial parameter values by name.

    Examples
    --------
    >>> class Line(Component):
    ...     parameters = ("a", "b")
    ...     linear = ("a", "b")
    ...     @staticmethod
    ...     def function(x, a, b):
    ...         return a * x + b
    ...     @staticmethod
    ...     def gradients(x, a, b):
    ...         return (x, 1.0)
    >>> line = Line(a=2.0, b=1.0)
    >>> float(line.function(3.0))
    7.0
    """

    parameters: Sequence[str] = ()
    linear: Sequence[str] = ()
    _ndim = 1
    _pure = False
    _position: str | None = None
    #: The component's compiled form for the fused numba kernel
    #: (:mod:`swiftfit.engines.numba.lower` reads it): the name of a kernel
    #: kind (``"gaussian"``, ``"voigt"``, ...) ...
    compiled_kind: str | None = None
    #: ... or a formula in ``x`` and the parameters (Expression syntax,
    #: ``"; name = ..."`` substitutions allowed) that the kernel's expression
    #: machine runs, derivatives by sympy. A subclass that overrides
    #: ``function``/``gradients`` without declaring its own form is refused by
    #: the kernel (NumPy path, with the reason), not mis-evaluated.
    compiled_expression: str | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for attr in ("function", "gradients"):
            raw = cls.__dict__.get(attr)
            if isinstance(raw, staticmethod):
                setattr(cls, attr, _PureFunction(raw.__func__))
        fn = cls.__dict__.get("function")
        if fn is not None:
            cls._pure = isinstance(fn, _PureFunction)
        estimate = cls.__dict__.get("estimate_parameters")
        if callable(estimate) and not getattr(estimate, "_takes_axes_manager", False):
            cls.estimate_parameters = _taking_axes_manager(estimate)

    def __init__(
        self,
        parameter_name_list: Iterable[str] | None = None,
        linear_parameter_list: Iterable[str] | None = None,
        *,
        name: str | None = None,
        **initial_values: float,
    ):
        cls_params = type(self).parameters
        names = tuple(cls_params if parameter_name_list is None else parameter_name_list)
        if isinstance(parameter_name_list, str):
            raise InvalidTypeError(
                f"`parameter_name_list` must be a sequence of names, got the string {parameter_name_list!r}"
            )
        linear = set(type(self).linear if linear_parameter_list is None else linear_parameter_list)
        unknown = linear - set(names)
        if unknown:
            raise InvalidInputError(f"linear parameters {sorted(unknown)} are not among {names}")
        if len(set(names)) != len(names):
            raise InvalidInputError(f"parameter names must be unique, got {names}")
        self.model = None
        if name is not None and not isinstance(name, str):  # HyperSpy raises ValueError: both
            raise InvalidTypeValueError(f"component `name` must be a string, got {name!r}")
        self._name = name if name is not None else type(self).__name__
        self._active = True
        self._active_array: np.ndarray | None = None
        params = []
        for pname in names:
            p = Parameter(pname, linear=pname in linear)
            p.component = self
            params.append(p)
            object.__setattr__(self, pname, p)
        self.parameters = tuple(params)
        for key, value in initial_values.items():
            if key not in names:
                raise InvalidInputError(
                    f"{type(self).__name__} has no parameter {key!r}; parameters are {names}"
                )
            getattr(self, key).value = value

    def __getattr__(self, name: str):
        # HyperSpy's ``c.grad_A``: the derivative with respect to ``A``
        if name.startswith("grad_"):
            p = self.__dict__.get(name[len("grad_"):])
            if isinstance(p, Parameter) and p.grad is not None:
                return p.grad
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ---------------------------------------------------------- identity
    @property
    def name(self) -> str:
        """Component name; unique within a model."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        if not isinstance(value, str):  # HyperSpy raises ValueError: both
            raise InvalidTypeValueError(f"component `name` must be a non-empty string, got {value!r}")
        if not value:
            raise InvalidInputError("component `name` must be a non-empty string, got ''")
        if value == self._name:
            return
        if self.model is not None:
            for other in self.model:
                if other is not self and other.name == value:
                    raise InvalidInputError(f"Another component already has the name {value}")
        self._name = value

    @property
    def _id_name(self) -> str:
        """The component's type name (HyperSpy's ``_id_name``, settable as there)."""
        return self.__dict__.get("_id_name_override") or type(self).__name__

    @_id_name.setter
    def _id_name(self, value: str) -> None:
        if not isinstance(value, str):
            raise InvalidTypeError(f"`_id_name` must be a string, got {value!r}")
        self._id_name_override = value

    @property
    def _attribute_name(self) -> str:
        return _slug(self._name)

    def __repr__(self) -> str:
        return f"<{self.name} ({self._id_name} component)>"

    @property
    def _axes_manager(self):
        """The axes manager the parameter maps follow (HyperSpy's ``_axes_manager``).

        That of the model once the component is in one; before, the one of the
        signal last given to ``estimate_parameters``, or one set by hand; else None.

        Examples
        --------
        >>> from swiftfit.components.components1d import Gaussian
        >>> s = hs.signals.Signal1D(np.ones((3, 10)))
        >>> g = Gaussian()
        >>> g._axes_manager is None
        True
        >>> g.estimate_parameters(s, 0, 9)
        True
        >>> g._axes_manager is s.axes_manager, g.A.map.shape
        (True, (3,))
        """
        if self.model is not None:
            return self.model.axes_manager
        return self.__dict__.get("_own_axes_manager")

    @_axes_manager.setter
    def _axes_manager(self, value) -> None:
        self._own_axes_manager = value

    def _estimate_parameters(self, signal) -> None:
        """Follow ``signal``'s axes manager, as HyperSpy's estimators do first:
        a component in no model takes it and sizes its maps to its navigation
        shape. Resized maps are new, as HyperSpy's: values 0 and not set, but
        for the current value at the current position.
        """
        am = getattr(signal, "axes_manager", None)
        if am is None or self.model is not None or self._axes_manager is am:
            return
        self._axes_manager = am
        before = [p._map.shape for p in self.parameters]
        self._create_arrays()
        for p, shape in zip(self.parameters, before):
            if p._map.shape != shape and p._map.ndim:
                index = p._index()
                current = p._map[index].copy()
                p._map["values"] = 0.0
                p._map["std"] = np.nan
                p._map[index] = current

    # ------------------------------------------------------------ active
    @property
    def active(self) -> bool:
        """Whether the component takes part in the model (at the current position
        when ``active_is_multidimensional``).
        """
        if self._active_array is not None and self._axes_manager is not None:
            return bool(self._active_array[self._active_index()])
        return self._active

    def _active_index(self) -> tuple:
        """The current position in ``_active_array``: from the axes manager's
        public ``indices`` (natural order, reversed), as the parameters find it.
        """
        am = self._axes_manager
        indices = getattr(am, "indices", None)
        index = tuple(am._array_indices) if indices is None else tuple(indices)[::-1]
        return index + (0,) * (self._active_array.ndim - len(index))

    @active.setter
    def active(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise InvalidTypeError(f"`active` must be True or False, got {value!r}")
        if self._active_array is not None and self._axes_manager is not None:
            self._active_array[self._active_index()] = bool(value)
        else:
            self._active = bool(value)

    @property
    def active_is_multidimensional(self) -> bool:
        """Store ``active`` for each navigation position."""
        return self._active_array is not None

    @active_is_multidimensional.setter
    def active_is_multidimensional(self, value: bool) -> None:
        if value:
            if self._active_array is None:
                shape = () if self._axes_manager is None else self._axes_manager._navigation_shape_in_array
                self._active_array = np.full(shape, self._active, dtype=bool)
        else:
            if self._active_array is not None and self._axes_manager is not None:
                self._active = bool(self._active_array[self._active_index()])
            self._active_array = None

    def _create_arrays(self) -> None:
        shape = self._axes_manager._navigation_shape_in_array
        for p in self.parameters:
            p._create_array(shape)
        if self._active_array is not None:
            self._active_array = np.full(shape, self._active, dtype=bool)

    # -------------------------------------------------------- parameters
    @property
    def free_parameters(self) -> set[Parameter]:
        """The parameters the optimizer varies."""
        return {p for p in self.parameters if p.free}

    @property
    def _free_parameters(self) -> list[Parameter]:
        """The free parameters sorted by name (HyperSpy's ``_free_parameters``)."""
        return sorted((p for p in self.parameters if p.free), key=lambda p: p.name)

    @property
    def is_linear(self) -> bool:
        """True when the component holds at most one free parameter and it is linear."""
        free = self._free_parameters
        return len(free) <= 1 and all(p._linear for p in free)

    def _select(self, parameter_name_list, only_linear, only_nonlinear) -> list[Parameter]:
        if only_linear and only_nonlinear:
            raise InvalidInputError("`only_linear` and `only_nonlinear` cannot both be True")
        params = list(self.parameters)
        if parameter_name_list is not None:
            if isinstance(parameter_name_list, str):
                parameter_name_list = [parameter_name_list]
            names = {p.name for p in params}
            unknown = set(parameter_name_list) - names
            if unknown:
                raise InvalidInputError(
                    f"{self!r} has no parameters {sorted(unknown)}; it has {sorted(names)}"
                )
            params = [p for p in params if p.name in parameter_name_list]
        if only_linear:
            params = [p for p in params if p._linear]
        if only_nonlinear:
            params = [p for p in params if not p._linear]
        return params

    def set_parameters_free(self, parameter_name_list=None, only_linear=False, only_nonlinear=False):
        """Make the named (default: all) parameters free and return ``free_parameters``."""
        for p in self._select(parameter_name_list, only_linear, only_nonlinear):
            p._free = True  # twinned ones stay tied (their `free` setter refuses True) and are free once untwinned
        return self.free_parameters

    def set_parameters_not_free(self, parameter_name_list=None, only_linear=False, only_nonlinear=False):
        """Fix the named (default: all) parameters and return ``free_parameters``."""
        for p in self._select(parameter_name_list, only_linear, only_nonlinear):
            p.free = False
        return self.free_parameters

    def store_current_parameters_in_map(self) -> None:
        for p in self.parameters:
            p.store_current_value_in_array()

    def fetch_stored_values(self, only_fixed: bool = False) -> None:
        """Values live in the parameter maps already; kept for HyperSpy code."""

    def assign_current_values_to_all(self, mask: np.ndarray | None = None) -> None:
        for p in self.parameters:
            p.assign_current_value_to_all(mask)

    # -------------------------------------------------------- evaluation
    @property
    def _has_gradients(self) -> bool:
        if self._pure:
            return getattr(type(self), "gradients", None) is not None
        return all(callable(p.grad) for p in self.parameters)

    def _array_key(self):
        """Hashable structure of :meth:`_function_nd` as array-namespace code
        (:mod:`swiftfit._xp`: it then runs on NumPy and on JAX arrays; equal keys,
        the same maths), or None where it has none: a HyperSpy-style
        ``function(self, x)`` reads its parameters' values one pixel at a time.
        """
        if not self._pure:
            return None
        cls = type(self)
        return (cls.__module__, cls.__qualname__, len(self.parameters))

    def _array_function(self):
        """``f(coords, values)``: this component's maths for any array namespace,
        ``values`` ``(B, 1)`` arrays or scalars (one pixel), the result
        broadcastable to ``(B, N)``: the static ``function`` itself (what
        :meth:`_function_nd` broadcasts), so that a JAX trace of one pixel is
        the scalar code, as written.
        """
        f = type(self).function
        return lambda coords, values: f(*coords, *values)

    def _function_nd(self, coords: Sequence[np.ndarray], values: Sequence[np.ndarray]) -> np.ndarray:
        """Evaluate for a batch: ``coords`` are ``(N,)`` arrays, ``values`` one
        ``(B, 1)`` array per parameter; returns ``(B, N)``.
        """
        batch = max((np.shape(v)[0] for v in values), default=1)
        shape = (batch, np.shape(coords[0])[0])
        if self._pure:
            return _xp.broadcast_to(type(self).function(*coords, *values), shape)
        return self._loop(coords, values, shape, lambda: self.function(*coords))

    def _gradients_nd(self, coords: Sequence[np.ndarray], values: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One ``(B, N)`` array per parameter: the analytic derivatives."""
        batch = max((np.shape(v)[0] for v in values), default=1)
        shape = (batch, np.shape(coords[0])[0])
        if self._pure:
            grads = type(self).gradients(*coords, *values)
            # None marks a parameter without a closed-form derivative
            return [None if g is None else _xp.broadcast_to(g, shape) for g in grads]
        out = []
        for p in self.parameters:
            out.append(self._loop(coords, values, shape, lambda p=p: p.grad(*coords)))
        return out

    def _loop(self, coords, values, shape, evaluate) -> np.ndarray:
        if any(np.iscomplexobj(v) for v in values):
            raise InvalidInputError(
                f"fd_scheme='cs' needs every component to accept complex input; {self!r} is "
                "evaluated through its `function(self, x)` with real parameter values"
            )
        out = np.empty(shape)
        try:
            for b in range(shape[0]):
                for p, v in zip(self.parameters, values):
                    v = np.asarray(v)
                    p._value_override = float(v.reshape(-1)[b if v.size > 1 else 0])
                out[b] = np.broadcast_to(np.asarray(evaluate(), dtype=float), shape[1:])
        finally:
            for p in self.parameters:
                p._value_override = None
        return out

    def _parameter_maps(self, parameters_values=None) -> list:
        """The parameters' value maps as float arrays, or ``parameters_values``
        (one array-like per parameter, in ``self.parameters`` order) checked.
        """
        if parameters_values is None:
            return [np.asarray(p._map["values"], dtype=float) for p in self.parameters]
        if len(parameters_values) != len(self.parameters):
            raise InvalidInputError(
                f"`parameters_values` must hold {len(self.parameters)} values (one per parameter "
                f"{[p.name for p in self.parameters]}), got {len(parameters_values)}"
            )
        return [np.asarray(v, dtype=float) for v in parameters_values]

    def function_nd(self, *coords, parameters_values=None) -> np.ndarray:
        """Evaluate at every navigation position of the parameter maps (HyperSpy API).

        The result has shape ``navigation_shape + coordinate shape``; with maps
        of a single position it equals ``function``. ``parameters_values``
        (one value, or one array broadcasting against the maps, per parameter
        in ``parameters`` order) replaces the maps.

        Examples
        --------
        >>> from swiftfit.components.components1d import Polynomial
        >>> Polynomial(order=1).function_nd(np.arange(3.0), parameters_values=[1.0, 2.0]).tolist()
        [1.0, 3.0, 5.0]
        """
        coords = [np.asarray(c, dtype=float) for c in coords]
        maps = self._parameter_maps(parameters_values)
        if not self._pure:
            return self._function_nd_by_position(coords, maps)
        if all(m.ndim == 0 for m in maps):
            return np.asarray(type(self).function(*coords, *maps), dtype=float)
        extra = (np.newaxis,) * max(c.ndim for c in coords)
        values = [m[(Ellipsis, *extra)] for m in maps]
        shape = np.broadcast_shapes(*(c.shape for c in coords), *(v.shape for v in values))
        return np.broadcast_to(np.asarray(type(self).function(*coords, *values), dtype=float), shape).copy()

    def _function_nd_by_position(self, coords, maps) -> np.ndarray:
        """``function_nd`` of a component written as ``function(self, x)``: one
        call per navigation position, the parameters set to that position's values.
        """
        nav = np.broadcast_shapes(*(m.shape for m in maps))
        maps = [np.broadcast_to(m, nav) for m in maps]
        out = None
        try:
            for index in np.ndindex(*nav):
                for p, m in zip(self.parameters, maps):
                    p._value_override = float(m[index])
                value = np.asarray(self.function(*coords), dtype=float)
                if out is None:
                    out = np.empty(nav + value.shape)
                out[index] = value
        finally:
            for p in self.parameters:
                p._value_override = None
        return out if nav else out[()]

    @property
    def _constant_term(self) -> float:
        """The part of the component that does not change with its free
        parameters, when it is a constant (HyperSpy's ``_constant_term``):
        0 for most components.
        """
        return 0.0

    def __call__(self) -> np.ndarray:
        """Evaluate at the current values over the model's signal axis (whole axis)."""
        if self.model is None:
            raise InvalidInputError(f"{self!r} is in no model; call component.function(x) instead")
        coords = self.model._full_coordinates()
        values = [np.array([[p.value]]) for p in self.parameters]
        return self._function_nd(coords, values)[0].reshape(self.model._signal_shape_in_array)

    # --------------------------------------------------------- printing
    def _values_table(self, only_free: bool = False) -> str:
        head = f"{'Parameter Name':>14} | {'Free':>5} | {'Value':>10} | {'Std':>10} | {'Min':>10} | {'Max':>10} | {'Linear':>6}"
        rule = " | ".join(["=" * 14, "=" * 5] + ["=" * 10] * 4 + ["=" * 6])
        lines = [f"{self.name}: {self._id_name}", f"Active: {self.active}", head, rule]
        for p in self.parameters:
            if only_free and not p.free:
                continue
            lines.append(
                f"{p.name:>14} | {str(p.free):>5} | {format_value(p.value):>10} | "
                f"{format_value(p.std):>10} | {format_value(p.bmin):>10} | "
                f"{format_value(p.bmax):>10} | {str(p._linear):>6}"
            )
        return "\n".join(lines)

    def as_dictionary(self, fullcopy: bool = True) -> dict:
        """The component as HyperSpy's component dictionary (no pickle).

        See :mod:`swiftfit.model.dictionary` for the keys; a model rebuilds
        the component from it with ``m._load_dictionary``.

        Examples
        --------
        >>> from swiftfit.components.components1d import Gaussian
        >>> d = Gaussian(A=3.0).as_dictionary()
        >>> d["_id_name"], [p["name"] for p in d["parameters"]]
        ('Gaussian', ['A', 'sigma', 'centre'])
        >>> g = Gaussian()
        >>> _ = g._load_dictionary(d)
        >>> g.A.value
        3.0
        """
        from .model.dictionary import component_as_dictionary

        return component_as_dictionary(self, fullcopy)

    def _load_dictionary(self, dic: dict) -> dict:
        """Set this component from :meth:`as_dictionary`'s output (HyperSpy's
        meaning); returns ``{original parameter id: parameter}``. Another
        component's dictionary (``_id_name``) raises ValueError.
        """
        from .model.dictionary import component_load_dictionary

        return component_load_dictionary(self, dic)

    def print_current_values(self, only_free: bool = False) -> None:
        """Print the parameter table at the current navigation position."""
        print(self._values_table(only_free))

    def estimate_parameters(self, signal, x1=None, x2=None, only_current: bool = False, out: bool = False,
                            intervals=None) -> bool:
        """Estimate starting values from ``signal`` between ``x1`` and ``x2``.

        Components without an estimator return False, as HyperSpy's do.
        """
        return False
