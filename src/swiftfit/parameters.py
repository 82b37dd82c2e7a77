"""Parameter: a named value of a component, stored for every navigation position.

A ``Parameter`` keeps its values for every pixel of the navigation space in
``map`` (fields ``values``, ``std``, ``is_set``); ``value`` reads and writes the
entry at the current navigation index of the model's axes manager. A parameter
may be *twinned* to another (``twin``, optionally through
``twin_function_expr``) or *tied* by ``expr`` to several others; such a
parameter is never free. Nothing here knows about optimizers.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy

from . import _expr
from .errors import ExpressionError, InvalidInputError, InvalidTypeError
from .plotting.mixins import ParameterPlotMixin

if TYPE_CHECKING:  # pragma: no cover
    from .component import Component

__all__ = ["Parameter", "MAP_DTYPE"]

MAP_DTYPE = np.dtype([("values", "f8"), ("std", "f8"), ("is_set", "?")])
_X = sympy.Symbol("x", real=True)


def _as_finite_float(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.number)):
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.item()
        elif isinstance(value, (tuple, list, np.ndarray)):
            raise InvalidInputError(f"`{name}` must be one real number, got {len(value)} values {value!r}")
        else:
            raise InvalidTypeError(f"`{name}` must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidInputError(f"`{name}` must be finite, got {value!r}")
    return value


def _compile_x_function(text: str, what: str) -> tuple[sympy.Expr, Callable]:
    expr = _expr.parse_expression(text)
    extra = expr.free_symbols - {_X}
    if extra:
        raise ExpressionError(
            f"`{what}` may only use the variable 'x', got {sorted(map(str, extra))} in {text!r}"
        )
    return expr, sympy.lambdify([_X], expr, modules=["numpy", "scipy"])


def _cheaply_invertible(expr: sympy.Expr) -> bool:
    """True where sympy solves ``expr = y`` for x in bounded time (see
    ``Parameter._refresh_automatic_inverse``).
    """
    nodes = list(sympy.preorder_traversal(expr))
    if sum(1 for node in nodes if node == _X) <= 1:
        return True
    if any(node.is_Pow and node.base.has(_X) and not (node.exp.is_Integer and 0 < node.exp <= 4)
           for node in nodes):  # checked first: degree() would expand (x + 1)**1000
        return False
    return bool(expr.is_polynomial(_X)) and sympy.degree(expr, _X) <= 4


class Parameter(ParameterPlotMixin):
    """A model parameter with a value at every navigation position.

    Parameters
    ----------
    name : str
        The parameter's name inside its component ("" for an unnamed one, as
        HyperSpy's ``Parameter()``).
    value : float
        Initial value.
    linear : bool
        Whether the component scales linearly with this parameter.

    Examples
    --------
    >>> p = Parameter("A", value=2.0)
    >>> p.value
    2.0
    >>> p.bmin = 0.0
    >>> p.free
    True
    """

    def __init__(self, name: str = "", value: float = 0.0, *, linear: bool = False, units: str | None = None):
        # "" is HyperSpy's unnamed Parameter(); a component names it when it adopts it
        if not isinstance(name, str) or (name and not name.isidentifier()):
            raise InvalidInputError(f"parameter `name` must be a Python identifier or '', got {name!r}")
        self.name = name
        self.component: Component | None = None
        self._linear = bool(linear)
        self._free = True
        self._bmin: float | None = None
        self._bmax: float | None = None
        self.units = units
        self._grad: Callable | None = None
        self._ext_bounded = False
        self.ext_force_positive = False
        self._map = np.zeros((), dtype=MAP_DTYPE)
        self._map["values"] = _as_finite_float("value", value)
        self._map["std"] = np.nan
        self._twin: Parameter | None = None
        self._twins: weakref.WeakSet[Parameter] = weakref.WeakSet()
        self._twin_function_expr = "x"
        self._twin_inverse_function_expr = "x"
        self._inverse_is_automatic = True
        self._twin_function: Callable = lambda v: v
        self._twin_inverse_function: Callable | None = lambda v: v
        self._expr_text: str | None = None
        self._expr_sympy: sympy.Expr | None = None
        self._value_override: float | None = None
        # Gammapy's scan settings for likelihood profiles (swiftfit.stats / Fit)
        # (validated properties below)
        self._scan_min: float | None = None
        self._scan_max: float | None = None
        self._scan_n_values: int = 11
        self._scan_n_sigma: float = 3.0
        self._scan_values: np.ndarray | None = None
        # a prior (swiftfit.priors) adding -2 ln(prior) to the fit statistic
        self.prior = None

    # -------------------------------------------------------------- prior
    @property
    def prior(self):
        """The prior of this parameter (:mod:`swiftfit.priors`), or None.

        A fit adds its penalty ``−2 ln π(value)`` to the statistic while the
        parameter is free: a maximum a posteriori fit.

        Examples
        --------
        >>> from swiftfit.priors import GaussianPrior
        >>> g.sigma.prior = GaussianPrior(mu=2.0, sigma=0.1)    # doctest: +SKIP
        """
        return self._prior

    @prior.setter
    def prior(self, value) -> None:
        from .priors import Prior

        if value is not None and not isinstance(value, Prior):
            raise InvalidTypeError(
                f"{self.name}.prior must be a swiftfit.priors prior (GaussianPrior, UniformPrior, "
                f"LogUniformPrior) or None, got {type(value).__name__} {value!r}"
            )
        self._prior = value

    # ------------------------------------------------------ scan settings
    # Gammapy's semantics (swiftfit.stats.profile.scan_values): explicit
    # ``scan_values`` win; else ``scan_min..scan_max`` with ``scan_n_values``;
    # else ``value ± scan_n_sigma·error``. Checked here so a bad setting fails
    # where it is made, not inside a long scan.
    def _scan_bound(self, which: str, value: Any) -> float | None:
        if value is None:
            return None
        value = _as_finite_float(f"{self.name}.{which}", value)
        lo = value if which == "scan_min" else self._scan_min
        hi = value if which == "scan_max" else self._scan_max
        if lo is not None and hi is not None and not lo < hi:
            raise InvalidInputError(f"{self!r}: `scan_min` ({lo}) must be below `scan_max` ({hi})")
        return value

    @property
    def scan_min(self) -> float | None:
        """Lower end of the profile scan (None: ``value − scan_n_sigma·error``)."""
        return self._scan_min

    @scan_min.setter
    def scan_min(self, value: float | None) -> None:
        self._scan_min = self._scan_bound("scan_min", value)

    @property
    def scan_max(self) -> float | None:
        """Upper end of the profile scan (None: ``value + scan_n_sigma·error``)."""
        return self._scan_max

    @scan_max.setter
    def scan_max(self, value: float | None) -> None:
        self._scan_max = self._scan_bound("scan_max", value)

    @property
    def scan_n_values(self) -> int:
        """Number of scan points (≥ 2; default 11)."""
        return self._scan_n_values

    @scan_n_values.setter
    def scan_n_values(self, value: int) -> None:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise InvalidTypeError(f"`{self.name}.scan_n_values` must be an integer, got {value!r}")
        if value < 2:
            raise InvalidInputError(f"`{self.name}.scan_n_values` must be at least 2, got {value}")
        self._scan_n_values = int(value)

    @property
    def scan_n_sigma(self) -> float:
        """Half-width of the default scan in errors (> 0; default 3)."""
        return self._scan_n_sigma

    @scan_n_sigma.setter
    def scan_n_sigma(self, value: float) -> None:
        value = _as_finite_float(f"{self.name}.scan_n_sigma", value)
        if value <= 0:
            raise InvalidInputError(f"`{self.name}.scan_n_sigma` must be positive, got {value}")
        self._scan_n_sigma = value

    @property
    def scan_values(self) -> np.ndarray | None:
        """Explicit scan values (a non-empty 1-D finite array), overriding the others."""
        return self._scan_values

    @scan_values.setter
    def scan_values(self, values) -> None:
        if values is None:
            self._scan_values = None
            return
        try:
            arr = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise InvalidTypeError(f"`{self.name}.scan_values` must be a sequence of numbers, got {values!r}") from None
        if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
            raise InvalidInputError(
                f"`{self.name}.scan_values` must be a non-empty 1-D sequence of finite numbers, got {values!r}"
            )
        self._scan_values = arr

    # --------------------------------------------------------------- grad
    @property
    def grad(self) -> Callable | None:
        """``grad(x)``: the component's derivative with respect to this
        parameter at the current values (HyperSpy's attribute).

        A template-style component sets it (``self.p.grad = callable``); for
        the built-in components it evaluates their closed-form gradients.
        None where a built-in has no closed-form derivative for this
        parameter (``PowerLaw.left_cutoff``, ``HeavisideStep.n``), as in HyperSpy.

        Examples
        --------
        >>> from swiftfit.components.components1d import HeavisideStep, Polynomial
        >>> Polynomial(order=2).a2.grad(np.arange(3.0)).tolist()
        [0.0, 1.0, 4.0]
        >>> HeavisideStep().n.grad is None
        True
        """
        if self._grad is not None:
            return self._grad
        comp = self.component
        if comp is None or not getattr(comp, "_pure", False) or getattr(type(comp), "gradients", None) is None:
            return None
        i = next(k for k, q in enumerate(comp.parameters) if q is self)
        probe = (np.ones(1),) * getattr(comp, "_ndim", 1)
        with np.errstate(all="ignore"):
            if type(comp).gradients(*probe, *[q.value for q in comp.parameters])[i] is None:
                return None  # no closed form (a cut-off, a step position): None, as HyperSpy's

        def grad(*coords):
            values = [q.value for q in comp.parameters]
            g = type(comp).gradients(*coords, *values)[i]
            if g is None:
                raise NotImplementedError(f"{comp!r} has no closed-form derivative for {self.name}")
            return np.broadcast_to(g, np.broadcast(*coords).shape).astype(float)

        return grad

    @grad.setter
    def grad(self, function: Callable | None) -> None:
        self._grad = function

    # ---------------------------------------------------------------- map
    @property
    def map(self) -> np.ndarray:
        """The (values, std, is_set) record of every navigation position.

        Shaped like the navigation space in array order; shape ``(1,)`` when
        there is none (HyperSpy's shape), a view that writes through.

        Examples
        --------
        >>> p = Parameter("A", value=2.0)
        >>> p.map["values"][:] = 3.0
        >>> p.map.shape, p.value
        ((1,), 3.0)
        """
        return self._map.reshape(1) if self._map.ndim == 0 else self._map

    @map.setter
    def map(self, new: np.ndarray | None) -> None:
        if new is None:  # HyperSpy code resets a map this way: keep the current value
            current = self._map.reshape(-1)[0] if self._map.size else None
            self._map = np.zeros((), dtype=MAP_DTYPE)
            self._map["values"] = 0.0 if current is None else current["values"]
            self._map["std"] = np.nan
            return
        arr = np.asarray(new)
        if arr.dtype != MAP_DTYPE:
            if arr.dtype.names is None or not set(MAP_DTYPE.names) <= set(arr.dtype.names):
                raise InvalidTypeError(
                    f"`{self.name}.map` must be a structured array with fields {MAP_DTYPE.names} or None, "
                    f"got dtype {arr.dtype}"
                )
            converted = np.zeros(arr.shape, dtype=MAP_DTYPE)
            for field in MAP_DTYPE.names:
                converted[field] = arr[field]
            arr = converted
        if self._map.ndim == 0 and arr.shape == (1,):
            arr = arr.reshape(())
        self._map = arr

    # ----------------------------------------------------------- position
    @property
    def _axes_manager(self):
        """The component's axes manager (HyperSpy's name); a parameter in no
        component has the one set on it, or None.
        """
        comp = self.component
        return self.__dict__.get("_own_axes_manager") if comp is None else comp._axes_manager

    @_axes_manager.setter
    def _axes_manager(self, value) -> None:
        self._own_axes_manager = value

    def _index(self) -> tuple:
        if self._map.ndim == 0:
            return ()
        am = self._axes_manager
        if am is None:  # a map sized for a signal, on a component in no model
            return (0,) * self._map.ndim
        indices = getattr(am, "indices", None)  # natural order, reversed as HyperSpy does
        index = tuple(am._array_indices) if indices is None else tuple(indices)[::-1]
        return index + (0,) * (self._map.ndim - len(index))  # a (1,) map without navigation: (0,)

    def _create_array(self, nav_shape_in_array: tuple[int, ...] | None = None) -> None:
        """Resize ``map`` to the navigation shape, filled with the current value
        (a map that already has that shape, e.g. from ``estimate_parameters``
        on the signal before the component joined the model, is kept).
        Without a shape, that of ``_axes_manager`` (none: a single position).
        """
        if nav_shape_in_array is None:
            am = self._axes_manager
            nav_shape_in_array = () if am is None else tuple(am._navigation_shape_in_array)
        if self._map.shape == tuple(nav_shape_in_array):
            return
        current = self._map[()] if self._map.ndim == 0 else self._map.flat[0]
        new = np.zeros(tuple(nav_shape_in_array), dtype=MAP_DTYPE)
        new["values"] = current["values"]
        new["std"] = current["std"]
        new["is_set"] = False
        self._map = new

    # -------------------------------------------------------------- value
    @property
    def value(self) -> float:
        """Value at the current navigation position (follows ``twin``/``expr``)."""
        if self._value_override is not None:
            return self._value_override
        if self._twin is not None:
            return float(self._twin_function(self._twin.value))
        if self._expr_sympy is not None:
            return self._evaluate_expr()
        return float(self._map["values"][self._index()])

    @value.setter
    def value(self, value: float) -> None:
        if self._twin is not None:  # the twin's setter notifies the whole twin tree, this one included
            self._set_value(value)
            return
        watched = self._watched() if self._twins or "_events" in self.__dict__ else None
        if not watched:
            self._set_value(value)
            return
        before = [q.value for q in watched]
        self._set_value(value)
        self._notify(watched, before)

    # ------------------------------------------------------------- events
    @property
    def events(self):
        """HyperSpy's events: ``value_changed`` (arguments ``obj``, ``value``),
        triggered when ``value`` changes, also through a twin.

        Examples
        --------
        >>> p, seen = Parameter("A"), []
        >>> p.events.value_changed.connect(lambda value: seen.append(value), ["value"])
        >>> p.value = 2.0
        >>> seen
        [2.0]
        """
        events = self.__dict__.get("_events")
        if events is None:
            from .events import Event, Events

            events = self.__dict__["_events"] = Events()
            events.value_changed = Event("`value` changed", arguments=["obj", "value"])
        return events

    def _watched(self) -> list:
        """The parameter and those following it through twins, if any has a callback."""
        found, stack = [], [self]
        while stack:
            q = stack.pop()
            found.append(q)
            stack.extend(q._twins)
        return found if any(q.__dict__.get("_events") is not None for q in found) else []

    @staticmethod
    def _notify(watched: list, before: list) -> None:
        for q, old in zip(watched, before, strict=True):
            events = q.__dict__.get("_events")
            if events is None:
                continue
            new = q.value
            if new != old and not (math.isnan(new) and math.isnan(old)):
                events.value_changed.trigger(obj=q, value=new)

    # HyperSpy's number of elements of ``value``: 1 here, values are scalars
    _number_of_elements = 1

    def __len__(self) -> int:
        """HyperSpy's ``len(p)``: the number of elements of ``value`` (1: values are scalars)."""
        return 1

    def _set_value(self, value: float) -> None:
        value = _as_finite_float(f"{self.name}.value", value)
        if self.ext_force_positive:
            value = abs(value)
        if self.ext_bounded:
            value = self._clip(value)
        if self._twin is not None:
            if self._twin_inverse_function is None:
                raise InvalidInputError(
                    f"cannot set {self!r}: it is twinned through {self._twin_function_expr!r}, "
                    "which has no inverse; set `twin_inverse_function_expr`"
                )
            self._twin.value = float(self._twin_inverse_function(value))
            return
        if self._expr_sympy is not None:
            raise InvalidInputError(
                f"cannot set {self!r}: it is constrained by expr {self._expr_text!r}; "
                "set the parameters it depends on, or set `expr = None`"
            )
        self._map["values"][self._index()] = value

    @property
    def ext_bounded(self) -> bool:
        """Keep ``value`` inside ``[bmin, bmax]`` whenever it or the bounds are set
        (HyperSpy's ``ext_bounded``); bounded fits use the bounds either way.
        """
        return self._ext_bounded

    @ext_bounded.setter
    def ext_bounded(self, flag: bool) -> None:
        if not isinstance(flag, (bool, np.bool_)):
            raise InvalidTypeError(f"`{self.name}.ext_bounded` must be True or False, got {flag!r}")
        self._ext_bounded = bool(flag)
        self._clip_current()

    def _clip_current(self) -> None:
        """With ``ext_bounded``, move the stored value at the current position into the bounds."""
        if not self._ext_bounded or self._twin is not None or self._expr_sympy is not None:
            return
        idx = self._index()
        current = float(self._map["values"][idx])
        if math.isfinite(current) and self._clip(current) != current:
            self._map["values"][idx] = self._clip(current)

    def _clip(self, value: float) -> float:
        if self._bmin is not None and value < self._bmin:
            return self._bmin
        if self._bmax is not None and value > self._bmax:
            return self._bmax
        return value

    @property
    def std(self) -> float | None:
        """Standard deviation at the current position; None until a fit computes it."""
        std = float(self._map["std"][self._index()])
        return None if math.isnan(std) else std

    @std.setter
    def std(self, value: float | None) -> None:
        self._map["std"][self._index()] = np.nan if value is None else float(value)

    # ---------------------------------------------------------- free/bounds
    @property
    def free(self) -> bool:
        """Whether the optimizer varies this parameter (never for twins and exprs)."""
        return self._free and self._twin is None and self._expr_sympy is None

    @free.setter
    def free(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise InvalidTypeError(f"`{self.name}.free` must be True or False, got {value!r}")
        if value and self._twin is not None:  # HyperSpy's ValueError
            raise InvalidInputError(f"{self!r} can't be set free, because it is twinned with {self._twin!r}; "
                                    "set `twin = None` first")
        self._free = bool(value)

    def _check_bound(self, which: str, value: Any) -> float | None:
        if value is None:
            return None
        value = float(_as_bound(f"{self.name}.{which}", value))
        lo = value if which == "bmin" else self._bmin
        hi = value if which == "bmax" else self._bmax
        if lo is not None and hi is not None and lo > hi:
            raise InvalidInputError(
                f"{self!r}: `bmin` ({lo}) must not exceed `bmax` ({hi})"
            )
        return value

    @property
    def bmin(self) -> float | None:
        """Lower bound used by bounded fits (None: unbounded)."""
        return self._bmin

    @bmin.setter
    def bmin(self, value: float | None) -> None:
        self._bmin = self._check_bound("bmin", value)
        self._clip_current()

    @property
    def bmax(self) -> float | None:
        """Upper bound used by bounded fits (None: unbounded)."""
        return self._bmax

    @bmax.setter
    def bmax(self, value: float | None) -> None:
        self._bmax = self._check_bound("bmax", value)
        self._clip_current()

    # --------------------------------------------------------------- twins
    @property
    def twin(self) -> Parameter | None:
        """The parameter this one follows through ``twin_function_expr``."""
        return self._twin

    @twin.setter
    def twin(self, other: Parameter | None) -> None:
        if other is not None:
            if not isinstance(other, Parameter):
                raise InvalidTypeError(f"`twin` must be a Parameter or None, got {type(other).__name__}")
            node = other
            while node is not None:
                if node is self:
                    raise InvalidInputError(f"twinning {self!r} to {other!r} would form a cycle")
                node = node._twin
        if self._twin is not None:
            self._twin._twins.discard(self)
            if other is None:  # keep the value the twin gave, as HyperSpy does
                with np.errstate(all="ignore"):
                    current = self.value
                if math.isfinite(current):
                    stored = float(self._map["values"][self._index()])
                    self._map["values"][self._index()] = self._clip(current) if self._ext_bounded else current
                    if self.__dict__.get("_events") is not None:
                        self._notify([self], [stored])  # the value now comes from the map
        self._twin = other
        if other is not None:
            other._twins.add(self)
            self._refresh_automatic_inverse()

    @property
    def twin_function_expr(self) -> str:
        """Expression in ``x`` giving this value from the twin's value."""
        return self._twin_function_expr

    @twin_function_expr.setter
    def twin_function_expr(self, text: str) -> None:
        _, self._twin_function = _compile_x_function(text, "twin_function_expr")
        self._twin_function_expr = text
        if self._inverse_is_automatic:
            self._refresh_automatic_inverse()

    @property
    def twin_inverse_function_expr(self) -> str | None:
        """Expression in ``x`` giving the twin's value from this one's (solved by sympy when unset)."""
        return self._twin_inverse_function_expr

    @twin_inverse_function_expr.setter
    def twin_inverse_function_expr(self, text: str | None) -> None:
        if text is None or text == "":
            self._inverse_is_automatic = True
            self._refresh_automatic_inverse()
            return
        _, self._twin_inverse_function = _compile_x_function(text, "twin_inverse_function_expr")
        self._twin_inverse_function_expr = text
        self._inverse_is_automatic = False

    @property
    def twin_function(self) -> Callable:
        return self._twin_function

    @property
    def twin_inverse_function(self) -> Callable | None:
        return self._twin_inverse_function

    def _refresh_automatic_inverse(self) -> None:
        """Solve ``y = f(x)`` for ``x`` with sympy; keep the branch that round-trips
        at the twin's current value (so ``x**2`` inverts to ``sqrt`` for x >= 0).
        """
        if not self._inverse_is_automatic:
            return
        forward, _ = _compile_x_function(self._twin_function_expr, "twin_function_expr")
        y = sympy.Symbol("y", real=True)
        try:
            # sympy.solve is unbounded ("sin(x)**5 + cos(x)**3 + x" runs for
            # minutes): it is asked only where x occurs once (inverted by
            # unwinding) or in a polynomial of degree <= 4 (closed forms)
            solutions = sympy.solve(sympy.Eq(forward, y), _X) if _cheaply_invertible(forward) else []
        except (NotImplementedError, TypeError, ValueError):
            solutions = []
        x0 = self._twin.value if self._twin is not None else 1.0
        chosen = None
        for sol in solutions:
            fn = sympy.lambdify([y], sol, modules=["numpy", "scipy"])
            try:
                back = complex(fn(complex(self._twin_function(x0))))
            except (ZeroDivisionError, ValueError, TypeError, OverflowError):
                continue
            if abs(back.imag) < 1e-9 and math.isclose(back.real, x0, rel_tol=1e-9, abs_tol=1e-12):
                chosen = sol
                break
        if chosen is None:
            self._twin_inverse_function = None
            self._twin_inverse_function_expr = None
            return
        self._twin_inverse_function_expr = str(chosen.subs(y, _X))
        self._twin_inverse_function = sympy.lambdify([y], chosen, modules=["numpy", "scipy"])

    # ---------------------------------------------------------------- expr
    @property
    def expr(self) -> str | None:
        """Constraint over other parameters, e.g. ``"2*Carbon.A - Nitrogen.A"`` (lmfit's ``expr``)."""
        return self._expr_text

    @expr.setter
    def expr(self, text: str | None) -> None:
        if text is None or text == "":
            self._expr_text = None
            self._expr_sympy = None
            return
        parsed = _expr.parse_expression(text, allow_dotted=True)
        old = (self._expr_text, self._expr_sympy)
        self._expr_text, self._expr_sympy = text, parsed
        model = self._model
        if model is not None:
            try:
                model._check_expr_references(self)
            except ValueError:
                self._expr_text, self._expr_sympy = old
                raise

    @property
    def _model(self):
        comp = self.component
        return None if comp is None else comp.model

    def _expr_dependencies(self) -> list[tuple[str, Parameter]]:
        model = self._model
        if model is None:
            raise InvalidInputError(
                f"{self!r} has expr {self._expr_text!r} but its component is in no model"
            )
        return [(name, model._resolve_parameter(name, self)) for name in _expr.free_symbol_names(self._expr_sympy)]

    def _evaluate_expr(self) -> float:
        deps = self._expr_dependencies()
        subs = {sympy.Symbol(name, real=True): p.value for name, p in deps}
        return float(self._expr_sympy.subs(subs))

    # ------------------------------------------------------------ helpers
    @property
    def linear(self) -> bool:
        return self._linear

    def assign_current_value_to_all(self, mask: np.ndarray | None = None) -> None:
        """Copy the current value (and std) to every navigation position (where ``mask`` is False)."""
        if self._map.ndim == 0:
            return
        value, std = self.value, self._map["std"][self._index()]
        target = np.ones(self._map.shape, bool) if mask is None else ~np.asarray(mask, bool)
        self._map["values"][target] = value
        self._map["std"][target] = std

    def store_current_value_in_array(self) -> None:
        """Mark the current position as set, writing twin/expr-derived values into ``map``."""
        idx = self._index()
        self._map["values"][idx] = self.value
        self._map["is_set"][idx] = True

    def fetch(self) -> None:
        """Values live in ``map``, so there is nothing to fetch; kept for HyperSpy code."""

    def _bounds(self) -> tuple[float, float]:
        lo = -np.inf if self._bmin is None else self._bmin
        hi = np.inf if self._bmax is None else self._bmax
        return lo, hi

    def as_signal(self, field: str = "values"):
        """The map ``field`` as a signal over the navigation axes."""
        from .signals import BaseSignal

        if field not in MAP_DTYPE.names:
            raise InvalidInputError(f"`field` must be one of {MAP_DTYPE.names}, got {field!r}")
        data = np.array(self._map[field], dtype=float)
        active = getattr(self.component, "_active_array", None)
        if active is not None and np.shape(active) == data.shape:
            data[~np.asarray(active, bool)] = np.nan  # HyperSpy: NaN where the component is off
        am = self._axes_manager
        axes = None
        if am is not None and data.ndim:
            axes = [
                {"size": ax.size, "scale": ax.scale, "offset": ax.offset, "units": ax.units,
                 "name": ax.name, "navigate": False}
                for ax in sorted(am.navigation_axes, key=lambda a: a.index_in_array)
            ]
        sig = BaseSignal(data, axes=axes)
        comp = self.component.name if self.component is not None else ""
        sig.metadata.General.title = f"{comp} parameter {self.name}".strip()
        std = np.array(self._map["std"], dtype=float)
        if field == "values" and np.isfinite(std).any() and 1 <= std.ndim <= 2:
            # the errors travel as the noise variance, as in HyperSpy
            from .signals import Signal1D, Signal2D

            sig.set_noise_variance((Signal1D if std.ndim == 1 else Signal2D)(std**2, axes=axes))
        return sig

    def as_dictionary(self, fullcopy: bool = True) -> dict:
        """The parameter as HyperSpy's parameter dictionary (no pickle).

        See :mod:`swiftfit.model.dictionary` for the keys.

        Examples
        --------
        >>> p = Parameter("A", value=2.0)
        >>> d = p.as_dictionary()
        >>> d["name"], float(d["map"]["values"][0]), d["_bounds"]
        ('A', 2.0, (None, None))
        >>> q = Parameter("A")
        >>> q._load_dictionary(d) == id(p), q.value
        (True, 2.0)
        """
        from .model.dictionary import parameter_as_dictionary

        return parameter_as_dictionary(self, fullcopy)

    def _load_dictionary(self, dictionary: dict) -> int:
        """Set this parameter from :meth:`as_dictionary`'s output (HyperSpy's
        meaning); returns the id of the parameter the dictionary was made from.
        A dictionary of another parameter (``_id_name``) raises ValueError.
        """
        from .model.dictionary import parameter_load_dictionary

        return parameter_load_dictionary(self, dictionary)

    def __repr__(self) -> str:
        comp = self.component.name if self.component is not None else None
        return f"<Parameter {self.name} of {comp} component>" if comp else f"<Parameter {self.name}>"


def _as_bound(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.number)):
        raise InvalidTypeError(f"`{name}` must be a real number or None, got {value!r}")
    value = float(value)
    if math.isnan(value):
        raise InvalidInputError(f"`{name}` must not be NaN")
    return value
