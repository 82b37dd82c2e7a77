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


class HyperSpyCompatMixin:
    """Mixed into :class:`~swiftfit.model.base.BaseModel`."""

    def _hs_free_parameters(self):
        return [p for c in self._components if c.active for p in hyperspy_order(c.parameters) if p.free]

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

    def __delitem__(self, key) -> None:
        """``del m[i]`` / ``del m["name"]``: remove a component."""
        comps = self[key] if isinstance(key, slice) else [self[key]]
        for comp in comps:
            self.remove(comp)

    def enable_adjust_position(self, components=None, fix_them=True, show_label=True) -> None:
        """HyperSpy's interactive position widgets; swiftfit has none, so this only
        remembers the request (``m._position_widgets`` stays empty)."""
        self._adjust_position_requested = True

    def disable_adjust_position(self) -> None:
        """Undo :meth:`enable_adjust_position`."""
        self._adjust_position_requested = False

    def print_model_statistics(self) -> None:
        """Print χ², reduced χ², dof and the information criteria at the current position."""
        idx = tuple(self.axes_manager._array_indices) if self._nav_shape else ()

        def at(sig):
            return float(np.asarray(sig.data)[idx]) if sig is not None else float("nan")

        lines = [f"{type(self).__name__}: {self.title}", f"  chisq     = {at(self.chisq):.6g}",
                 f"  red_chisq = {at(self.red_chisq):.6g}", f"  dof       = {at(self.dof):.6g}"]
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
