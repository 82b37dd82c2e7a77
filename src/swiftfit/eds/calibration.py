"""Calibrations of an :class:`~swiftfit.eds.model.EDSModel` (exspy's names and arguments).

* ``calibrate_energy_axis("resolution" | "scale" | "offset")`` frees one
  quantity shared by the main lines — the detector resolution (every main
  line's sigma twinned to the first one's through the resolution law), the
  energy scale or the energy offset (every centre twinned to the first
  one's) — fits, fixes the lines again and writes the result into the
  metadata or the energy axis.
* ``calibrate_xray_lines("energy" | "sub_weight" | "width", bound=)`` frees
  each line's centre, the areas of the family lines, or each width, within
  ``bound``, fits with bounds and fixes them again; ``"sub_weight"`` twins
  every family line back to its main line with the fitted ratio as weight.

Examples
--------
>>> m.fit(); m.calibrate_energy_axis("resolution")          # doctest: +SKIP
>>> m.calibrate_xray_lines("energy", ["Fe_Ka"], bound=10)   # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import InvalidInputError
from . import database as db

_log = logging.getLogger("swiftfit")
_MIN_FWHM_MNKA = 110.0  # eV: below what any silicon detector achieves


class CalibrationMixin:
    """The calibration methods of :class:`~swiftfit.eds.model.EDSModel`."""

    def _alpha_components(self, xray_lines: Any) -> list:
        if isinstance(xray_lines, str) and xray_lines == "all_alpha":
            return list(self.xray_lines)
        if isinstance(xray_lines, str) or not hasattr(xray_lines, "__iter__"):
            raise InvalidInputError(f"`xray_lines` must be 'all_alpha' or a list of lines, got {xray_lines!r}")
        components = [self[name] for name in xray_lines]
        if not components:
            raise InvalidInputError("`xray_lines` is empty")
        return components

    def _selected_lines(self, xray_lines: Any) -> list:
        if isinstance(xray_lines, str):
            if xray_lines == "all":
                return self._line_components()
            if xray_lines == "all_alpha":
                return list(self.xray_lines)
            raise InvalidInputError(f"`xray_lines` must be 'all', 'all_alpha' or a list of lines, got {xray_lines!r}")
        names = set(xray_lines)
        return [c for c in self._line_components() if c.name in names]

    # ------------------------------------------------------------ widths
    def _with_family(self, components: list) -> list:
        """``components`` followed by the family lines of their families."""
        families = {db.xray_lines_family(c.name) for c in components}
        return components + [c for c in self.family_lines if db.xray_lines_family(c.name) in families]

    def _twin_xray_lines_width(self, components: list) -> None:
        ref = components[0]
        ref.sigma.free = True
        e_ref = ref.centre.value
        uf = self.units_factor
        for comp in components[1:]:
            e = comp.centre.value
            comp.sigma.twin = None
            comp.sigma.twin_inverse_function_expr = db.sigma_twin_expression(e_ref, e, uf)
            comp.sigma.twin_function_expr = db.sigma_twin_expression(e, e_ref, uf)
            comp.sigma.twin = ref.sigma

    def _free_lines(self, name: str, xray_lines: Any, bound: float) -> None:
        """Untwin and free parameter ``name`` of the lines within ``±bound`` of its value."""
        for comp in self._selected_lines(xray_lines):
            p = getattr(comp, name)
            p.twin = None
            p.free = True
            p.bmin = p.value - bound
            p.bmax = p.value + bound

    def _fix_lines(self, name: str, xray_lines: Any) -> None:
        """Fix parameter ``name`` of the lines at its value (no twin, no bounds)."""
        for comp in self._selected_lines(xray_lines):
            p = getattr(comp, name)
            value = p.value
            p.twin = None
            p.value = value
            p.free = False
            p.bmin = None
            p.bmax = None

    def free_xray_lines_width(self, xray_lines: Any = "all", bound: float = 0.01) -> None:
        """Free the sigma of the lines, within ``±bound`` (axis units)."""
        self._free_lines("sigma", xray_lines, bound)

    def fix_xray_lines_width(self, xray_lines: Any = "all") -> None:
        """Fix the sigma of the lines (no twin, no bounds)."""
        self._fix_lines("sigma", xray_lines)

    def _set_energy_resolution(self, components: list) -> None:
        uf = self.units_factor
        ref = components[0]
        e_mnka = db.line_energy("Mn_Ka") * uf
        old = self.signal.energy_resolution_MnKa
        c = 2.5 / (1000.0 * db.SIGMA2FWHM**2)
        sigma_mnka = abs(c * (e_mnka - ref.centre.value) * uf + ref.sigma.value**2) ** 0.5
        fwhm_mnka = sigma_mnka * 1000.0 / uf * db.SIGMA2FWHM
        if fwhm_mnka < _MIN_FWHM_MNKA:
            raise InvalidInputError(f"fitted FWHM at Mn Ka of {fwhm_mnka:.2f} eV is below the physically "
                                    f"possible {_MIN_FWHM_MNKA} eV; the calibration is not kept")
        self.signal.set_microscope_parameters(energy_resolution_MnKa=fwhm_mnka)
        _log.info("Energy resolution (FWHM at Mn Ka) changed from %.2f to %.2f eV", old, fwhm_mnka)
        for comp in self._line_components():
            comp.fwhm = self.signal._get_line_energy(comp.name, FWHM_MnKa="auto")[1]

    # ------------------------------------------------------------ energies
    def free_xray_lines_energy(self, xray_lines: Any = "all", bound: float = 0.001) -> None:
        """Free the centre of the lines, within ``±bound`` (axis units)."""
        self._free_lines("centre", xray_lines, bound)

    def fix_xray_lines_energy(self, xray_lines: Any = "all") -> None:
        """Fix the centre of the lines (no twin, no bounds)."""
        self._fix_lines("centre", xray_lines)

    def _twin_xray_lines_centre(self, components: list, kind: str) -> list[float]:
        ref = components[0]
        ref.centre.free = True
        e_ref = ref.centre.value
        offset = self.axis.offset
        for comp in components[1:]:
            e = comp.centre.value
            comp.centre.twin = None
            if kind == "offset":  # every line moves by the same shift
                comp.centre.twin_inverse_function_expr = f"x - {e - e_ref!r}"
                comp.centre.twin_function_expr = f"x + {e - e_ref!r}"
            else:  # "scale": every line moves in proportion to its distance from the axis origin
                fact = (e - offset) / (e_ref - offset)
                comp.centre.twin_inverse_function_expr = f"{e_ref!r} + (x - {e!r}) / {fact!r}"
                comp.centre.twin_function_expr = f"{e!r} + {fact!r} * (x - {e_ref!r})"
            comp.centre.twin = ref.centre
        return [c.centre.value for c in components]

    def calibrate_energy_axis(self, calibrate: str = "resolution", xray_lines: Any = "all_alpha",
                              family_lines: bool = False, **kwargs: Any) -> None:
        """Calibrate the detector resolution, or the energy scale or offset, by a fit.

        Parameters
        ----------
        calibrate : {"resolution", "scale", "offset"}
            ``"resolution"``: the widths of the lines, all following the first
            line's through the resolution law; the fitted FWHM at Mn Ka is
            written to ``energy_resolution_MnKa`` and every line's width
            reset from it. ``"scale"``/``"offset"``: the centres, shifted
            together (offset) or stretched about the axis origin (scale); the
            axis scale or offset is corrected so that the lines sit at their
            tabulated energies, and the centres are reset to them.
        xray_lines : "all_alpha" or list of str
            The main lines used (the first is the reference).
        family_lines : bool
            False (exspy's behaviour): the other lines of the families keep
            their width and centre during the fit. True: they follow the
            reference line too, by the same law — the physical model when the
            detector or the axis is off, and unbiased (exspy's choice biases
            the result when family lines carry much intensity).
        **kwargs
            Passed to ``fit`` (e.g. ``optimizer``).

        Examples
        --------
        >>> m.fit(); m.calibrate_energy_axis("offset")     # doctest: +SKIP
        """
        if calibrate not in ("resolution", "scale", "offset"):
            raise InvalidInputError(f"`calibrate` must be one of ('resolution', 'scale', 'offset'), got {calibrate!r}")
        components = self._alpha_components(xray_lines)
        if family_lines:
            components = self._with_family(components)
        names = [c.name for c in components]
        if calibrate == "resolution":
            self._twin_xray_lines_width(components)
            try:
                self.fit(**kwargs)
            finally:
                self.fix_xray_lines_width(names)
            self._set_energy_resolution(components)
            return
        ref = self._twin_xray_lines_centre(components, calibrate)
        try:
            self.fit(**kwargs)
        finally:
            fitted = components[0].centre.value
            self.fix_xray_lines_energy(names)
        ax = self.axis
        if calibrate == "offset":
            old = ax.offset
            ax.offset = old - (fitted - ref[0])
            _log.info("Offset changed from %f to %f", old, ax.offset)
        else:
            old = ax.scale
            ax.scale = old * (ref[0] - ax.offset) / (fitted - ax.offset)
            _log.info("Scale changed from %f to %f", old, ax.scale)
        for comp, energy in zip(components, ref):
            comp.centre.value = energy

    # ------------------------------------------------------------ sub-line weights
    def free_sub_xray_lines_weight(self, xray_lines: Any = "all", bound: float = 0.01) -> None:
        """Untwin the family lines' areas; each line's area may move by ``±bound`` × itself."""
        if isinstance(xray_lines, str) and xray_lines == "all":
            selected = self._line_components()
        else:
            families = {db.xray_lines_family(line) for line in xray_lines}
            selected = [c for c in self._line_components() if db.xray_lines_family(c.name) in families]
        for comp in selected:
            value = comp.A.value
            comp.A.twin = None
            comp.A.value = value
            comp.A.free = True
            comp.A.bmin = 1e-10 if value - bound * value <= 0 else value - bound * value
            comp.A.bmax = value + bound * value

    def fix_sub_xray_lines_weight(self, xray_lines: Any = "all") -> None:
        """Twin every family line's area to its main line, with the current ratio as weight."""
        if isinstance(xray_lines, str) and xray_lines == "all":
            families = None
        else:
            families = {db.xray_lines_family(line) for line in xray_lines}
        for main in self.xray_lines:
            family = db.xray_lines_family(main.name)
            if families is not None and family not in families:
                continue
            main.A.bmin, main.A.bmax = 0.0, None
            for sub in self.family_lines:
                if db.xray_lines_family(sub.name) != family:
                    continue
                weight = sub.A.value / main.A.value
                sub.A.bmin, sub.A.bmax = 0.0, None
                sub.A.twin_inverse_function_expr = f"x / {weight!r}"
                sub.A.twin_function_expr = f"x * {weight!r}"
                sub.A.twin = main.A

    def calibrate_xray_lines(self, calibrate: str = "energy", xray_lines: Any = "all", bound: float = 1,
                             kind: str = "single", **kwargs: Any) -> None:
        """Calibrate each line's energy, width, or the weights of the family lines.

        Parameters
        ----------
        calibrate : {"energy", "sub_weight", "width"}
        xray_lines : "all" or list of str
            Lines (for ``"sub_weight"``: their families).
        bound : float
            ``"energy"``/``"width"``: eV either side of the current value;
            ``"sub_weight"``: fraction of each area.
        kind : {"single", "multi"}
            ``fit`` or ``multifit``, always with ``bounded=True``.

        Examples
        --------
        >>> m.calibrate_xray_lines("width", ["Pt_La"], bound=10)     # doctest: +SKIP
        """
        if calibrate not in ("energy", "sub_weight", "width"):
            raise InvalidInputError(f"`calibrate` must be one of ('energy', 'sub_weight', 'width'), got {calibrate!r}")
        if kind not in ("single", "multi"):
            raise InvalidInputError(f"`kind` must be 'single' or 'multi', got {kind!r}")
        if calibrate == "energy":
            free, fix, bound = self.free_xray_lines_energy, self.fix_xray_lines_energy, bound / 1000.0 * self.units_factor
        elif calibrate == "width":
            free, fix, bound = self.free_xray_lines_width, self.fix_xray_lines_width, bound / 1000.0 * self.units_factor
        else:
            free, fix = self.free_sub_xray_lines_weight, self.fix_sub_xray_lines_weight
        free(xray_lines=xray_lines, bound=bound)
        try:
            (self.fit if kind == "single" else self.multifit)(bounded=True, **kwargs)
        finally:
            fix(xray_lines=xray_lines)
