"""HyperSpy's model conveniences that swiftfit's own API spells otherwise.

``m.p0`` / ``m.p_std`` (the free values and their errors at the current
position, in HyperSpy's order: components in model order, each component's
parameters sorted by name), ``del m[i]``, ``m.fit_component``,
``m.print_model_statistics`` and the position-widget switches. Kept apart from
:mod:`.base` so the core model stays small.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError

__all__ = ["HyperSpyCompatMixin", "hyperspy_order"]


def hyperspy_order(parameters):
    """``parameters`` in HyperSpy's order within a component: sorted by name.

    Examples
    --------
    >>> from swiftfit.components.components1d import Gaussian
    >>> [p.name for p in hyperspy_order(Gaussian().parameters)]
    ['A', 'centre', 'sigma']
    """
    return sorted(parameters, key=lambda p: p.name)


def _threshold(value, values, where: str):
    """A threshold: None, a number, or a percentile string like ``"5th"``."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        for suffix in ("th", "st", "nd", "rd"):
            if text.endswith(suffix):
                text = text[: -len(suffix)]
        try:
            q = float(text)
        except ValueError:
            raise InvalidInputError(f"`{where}` must be a number or a percentile such as '5th', got {value!r}") from None
        if not 0 <= q <= 100:
            raise InvalidInputError(f"`{where}` percentile must be within 0..100, got {value!r}")
        return float(np.nanpercentile(values, q))
    return float(value)


class HyperSpyCompatMixin:
    """Mixed into :class:`~swiftfit.model.base.BaseModel`."""

    # HyperSpy's attribute; swiftfit keeps the bounds on the parameters
    free_parameters_boundaries = None

    def _hs_free_parameters(self):
        return [p for c in self._components if c.active for p in hyperspy_order(c.parameters) if p.free]

    @property
    def _free_parameters(self) -> list:
        """HyperSpy's: the free parameters of the active components, in its order.

        Examples
        --------
        >>> [p.name for p in m._free_parameters]
        ['A', 'centre', 'sigma', 'offset']
        """
        return self._hs_free_parameters()

    def _get_component(self, thing):
        """HyperSpy's: a component of this model from itself, its index or its name;
        a list for an iterable of those. Anything else, or a component of
        another model, raises ValueError.

        Examples
        --------
        >>> m._get_component("Offset") is m[1], m._get_component([0, "Offset"]) == [m[0], m[1]]
        (True, True)
        """
        from ..component import Component

        if isinstance(thing, (int, np.integer, str)):
            return self[thing]
        if isinstance(thing, Component):
            if thing not in self:
                raise InvalidInputError(f"{thing!r} is not in the model")
            return thing
        if np.iterable(thing):
            return [self._get_component(t) for t in thing]
        # the words HyperSpy's message starts with, which scripts match on
        raise InvalidInputError(f"Not a component or component id: `thing` must be a component, its index "
                                f"or its name, got {thing!r}")

    @property
    def p0(self) -> tuple:
        """The free parameters' values at the current position (HyperSpy's order).

        Examples
        --------
        >>> m.p0                       # doctest: +SKIP
        (10.0, 5.0, 1.0)
        """
        return tuple(p.value for p in self._hs_free_parameters())

    @property
    def p_std(self):
        """Their standard deviations; None until a fit has computed them."""
        stds = [p.std for p in self._hs_free_parameters()]
        if not stds or all(s is None for s in stds):
            return None
        return np.array([np.nan if s is None else s for s in stds])

    def _get_current_data(self, onlyactive: bool = False, component_list=None, binned=None,
                          ignore_channel_switches: bool = False) -> np.ndarray:
        """HyperSpy's: the model at the current position over the channels in the
        signal range (every channel with ``ignore_channel_switches``), summed
        over ``component_list`` (a list or tuple; default all components,
        the active ones with ``onlyactive``).

        Examples
        --------
        >>> m._get_current_data().shape
        (100,)
        >>> bool(np.allclose(m._get_current_data(), m()))
        True
        """
        if component_list is not None and not isinstance(component_list, (list, tuple)):
            raise InvalidInputError(f"`component_list` must be a list, a tuple or None, got {component_list!r}")
        if not ignore_channel_switches:
            return self(onlyactive=onlyactive, component_list=component_list, binned=binned)
        switches = self._channel_switches
        self._channel_switches = np.ones_like(switches)
        try:
            return self(onlyactive=onlyactive, component_list=component_list, binned=binned)
        finally:
            self._channel_switches = switches

    def __delitem__(self, key) -> None:
        """``del m[i]`` / ``del m["name"]``: remove a component."""
        comps = self[key] if isinstance(key, slice) else [self[key]]
        for comp in comps:
            self.remove(comp)

    def enable_adjust_position(self, components=None, fix_them=True, show_label=True) -> None:
        """HyperSpy's interactive position widgets; swiftfit has none, so this only
        remembers the request (``m._position_widgets`` stays empty).
        """
        self._adjust_position_requested = True

    def disable_adjust_position(self) -> None:
        """Undo :meth:`enable_adjust_position`."""
        self._adjust_position_requested = False

    def print_model_statistics(self, component_list=None, thresholds=None) -> None:
        """Print each parameter's map statistics over the navigation space.

        For every parameter of the (listed) components: mean, std, min and max
        of its values over all positions. ``thresholds`` maps parameter names
        to ``{"min": v, "max": v}``, where ``v`` is a number or a percentile
        string such as ``"5th"``; the table then counts the positions below the
        min and above the max.

        Examples
        --------
        >>> m.print_model_statistics(thresholds={"A": {"min": 0.0}})   # doctest: +SKIP
        """
        thresholds = {} if thresholds is None else dict(thresholds)
        head = f"{'Component':>14} | {'Parameter':>10} | {'mean':>10} | {'std':>10} | {'min':>10} | {'max':>10}"
        if thresholds:
            head += f" | {'< min':>6} | {'> max':>6}"
        lines = [f"{type(self).__name__}: {self.title}", head, "-" * len(head)]
        for comp in self._component_list(component_list):
            for p in hyperspy_order(comp.parameters):
                values = np.asarray(p._map["values"], dtype=float).ravel()
                row = (f"{comp.name:>14} | {p.name:>10} | {np.nanmean(values):10.4g} | {np.nanstd(values):10.4g} | "
                       f"{np.nanmin(values):10.4g} | {np.nanmax(values):10.4g}")
                if thresholds:
                    limits = thresholds.get(p.name, {})
                    lo = _threshold(limits.get("min"), values, f"thresholds[{p.name!r}]['min']")
                    hi = _threshold(limits.get("max"), values, f"thresholds[{p.name!r}]['max']")
                    below = "" if lo is None else int(np.sum(values < lo))
                    above = "" if hi is None else int(np.sum(values > hi))
                    row += f" | {below!s:>6} | {above!s:>6}"
                lines.append(row)
        print("\n".join(lines))

    def fit_component(self, component, signal_range=None, estimate_parameters=True, fit_independent=False,
                      only_current=True, display=False, **kwargs) -> None:
        """Fit one component inside ``signal_range`` = ``(x1, x2)``.

        Its starting values are estimated first (``estimate_parameters``); the
        other components stay in the model with their parameters fixed, or are
        switched off for the fit when ``fit_independent``. ``"interactive"``
        ranges need HyperSpy's GUI and are refused.
        """
        if component not in self:
            raise InvalidInputError(f"{component!r} is not in the model: append it before fit_component")
        if signal_range is None or isinstance(signal_range, str):
            raise InvalidInputError(
                f"`signal_range` must be (x1, x2) in axis units; got {signal_range!r} (no interactive ranges)"
            )
        x1, x2 = signal_range
        switches = self._channel_switches.copy()
        others = [c for c in self._components if c is not component]
        saved = [(c, c.active, [(p, p._free) for p in c.parameters]) for c in others]
        try:
            self.set_signal_range(x1, x2)
            if estimate_parameters:
                component.estimate_parameters(self.signal, x1, x2, only_current=only_current)
            for c in others:
                if fit_independent:
                    c.active = False
                for p in c.parameters:
                    p._free = False
            if only_current:
                self.fit(**kwargs)
            else:
                self.multifit(**kwargs)
        finally:
            self._channel_switches = switches
            for c, active, frees in saved:
                c.active = active
                for p, free in frees:
                    p._free = free

    def as_dictionary(self, fullcopy: bool = True) -> dict:
        """The model as HyperSpy's model dictionary: components, signal range, fit state.

        Plain data (numbers, strings, arrays): no pickle, and the component
        classes are named, not stored. See :mod:`swiftfit.model.dictionary`.

        Parameters
        ----------
        fullcopy : bool
            Copy the arrays (default) instead of referring to the model's own.

        Examples
        --------
        >>> d = m.as_dictionary()
        >>> [c["_id_name"] for c in d["components"]]
        ['Gaussian', 'Offset']
        >>> m2 = s.create_model()
        >>> m2._load_dictionary(d)
        >>> m2[0].A.value == m[0].A.value
        True
        """
        from .dictionary import model_as_dictionary

        return model_as_dictionary(self, fullcopy)

    def _load_dictionary(self, dic: dict) -> None:
        """Replace the components, signal range and fit state by those of
        :meth:`as_dictionary`'s output (HyperSpy's meaning), twins and exprs included.
        """
        from .dictionary import model_load_dictionary

        model_load_dictionary(self, dic)
