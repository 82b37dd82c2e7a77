"""EDSModel: a polynomial background and one Gaussian per X-ray line.

The model exspy users know, on swiftfit's engine: ``s.create_model()`` gives
``background_order_6`` (``Polynomial(order=6)``) and, for every main line
(Ka, La, Ma) of ``metadata.Sample.elements`` in the energy range, a Gaussian
named after the line whose centre and width are fixed from the line energy
and the detector resolution (:func:`~swiftfit.eds.database.fwhm_at_energy`);
every other line of the family follows the main line's area through a twin
``x * weight``. With every width and centre fixed the model is linear, so
``multifit(optimizer="lstsq")`` solves all pixels at once in closed form.

Calibrations (:mod:`swiftfit.eds.calibration`) free widths, centres or
weights for one fit and fix them again. After each fit the covariance of the
main lines' areas is kept per pixel, so :meth:`EDSModel.get_lines_intensity`
reports standard errors and :meth:`EDSModel.quantification_cliff_lorimer`
propagates them, correlations included, into compositions.

Examples
--------
>>> import numpy as np
>>> from swiftfit.eds.signal import EDSTEMSpectrum
>>> x = np.arange(1000) * 0.01
>>> s = EDSTEMSpectrum(100 * np.exp(-0.5 * ((x - 6.4039) / 0.057) ** 2) + 5,
...                    axes=[{"scale": 0.01, "units": "keV"}])
>>> s.set_microscope_parameters(beam_energy=200.0); s.add_elements(["Fe"])
>>> m = s.create_model()
>>> m.multifit(optimizer="lstsq")
>>> [str(i) for i in m.get_lines_intensity()]
['<BaseSignal, title: Fe_Ka at 6.40 keV, dimensions: (|1)>', '<BaseSignal, title: Fe_La at 0.70 keV, dimensions: (|1)>']
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..components.background import Polynomial
from ..components.peaks import Gaussian
from ..errors import InvalidInputError
from ..model.model1d import Model1D
from ..signals.base import BaseSignal
from . import database as db
from .calibration import CalibrationMixin
from .quantification import cliff_lorimer

__all__ = ["EDSModel"]


class EDSModel(CalibrationMixin, Model1D):
    """Model of an EDS spectrum (see the module docstring).

    Parameters
    ----------
    spectrum : EDSTEMSpectrum or EDSSEMSpectrum
    auto_background : bool
        Add ``Polynomial(order=6)`` named ``background_order_6`` (first).
    auto_add_lines : bool
        Add the X-ray lines of ``metadata.Sample.elements``
        (:meth:`add_family_lines`).

    Attributes
    ----------
    xray_lines, family_lines, background_components : list of Component
        The main lines, the other lines of their families, the background.

    Examples
    --------
    >>> m = s.create_model(auto_background=False)        # doctest: +SKIP
    >>> m.add_polynomial_background(order=4)              # doctest: +SKIP
    """

    def __init__(self, spectrum: Any, auto_background: bool = True, auto_add_lines: bool = True) -> None:
        from .signal import EDSSpectrum

        if not isinstance(spectrum, EDSSpectrum):
            raise InvalidInputError(f"`spectrum` must be an EDS spectrum (set_signal_type('EDS_TEM') or "
                                    f"'EDS_SEM'), got {type(spectrum).__name__}")
        super().__init__(spectrum)
        self.xray_lines: list = []
        self.family_lines: list = []
        self.background_components: list = []
        ax = self.axis
        try:
            beam = spectrum._get_beam_energy()
        except AttributeError:
            beam = np.inf
        self.end_energy = min(ax.high_value, beam)
        self.start_energy = ax.low_value
        self._line_covariance: np.ndarray | None = None
        if auto_background:
            self.add_polynomial_background()
        if auto_add_lines and spectrum.metadata.has_item("Sample.elements"):
            self.add_family_lines()

    @property
    def spectrum(self) -> Any:
        """The EDS spectrum this model fits."""
        return self.signal

    @property
    def units_factor(self) -> float:
        """1000 for an eV axis, 1 for a keV axis."""
        return self.signal._units_factor()

    def _is_background(self, component: Any) -> bool:
        return component in self.background_components

    def _line_components(self) -> list:
        return [c for c in self if not self._is_background(c)]

    # ------------------------------------------------------------ components
    def add_polynomial_background(self, order: int = 6) -> None:
        """Append ``Polynomial(order)`` named ``background_order_<order>`` as background.

        Examples
        --------
        >>> m.add_polynomial_background(order=2)   # doctest: +SKIP
        """
        background = Polynomial(order=order)
        background.name = f"background_order_{order}"
        self.append(background)
        self.background_components.append(background)

    def _line_gaussian(self, xray_line: str) -> Gaussian:
        energy, fwhm = self.signal._get_line_energy(xray_line, FWHM_MnKa="auto")
        component = Gaussian()
        component.centre.value = energy
        component.fwhm = fwhm
        component.centre.free = False
        component.sigma.free = False
        component.name = xray_line
        return component

    def add_family_lines(self, xray_lines: Any = "from_elements") -> None:
        """Add a Gaussian for each main line and its family's other lines.

        Parameters
        ----------
        xray_lines : "from_elements", None or list of str
            ``"from_elements"``: the Ka, La and Ma lines of
            ``metadata.Sample.elements`` in the energy range; None: those of
            ``metadata.Sample.xray_lines`` if set; or the lines given
            (e.g. ``["Fe_Ka"]``). Each main line's area starts from the
            data at its energy × FWHM / channel width, at every pixel; the
            family's other lines in range follow it as ``x * weight``.

        Examples
        --------
        >>> m.add_family_lines(["Cu_Ka"])   # doctest: +SKIP
        """
        md = self.signal.metadata
        if xray_lines is None or (isinstance(xray_lines, str) and xray_lines == "from_elements"):
            if xray_lines is None and md.has_item("Sample.xray_lines"):
                xray_lines = list(md.Sample.xray_lines)
            elif md.has_item("Sample.elements"):
                xray_lines = self.signal._get_lines_from_elements(md.Sample.elements, only_one=False,
                                                                  only_lines=("Ka", "La", "Ma"))
            else:
                raise InvalidInputError("no elements: set them with s.add_elements([...])")
        elif isinstance(xray_lines, str):
            raise InvalidInputError(f"`xray_lines` must be 'from_elements', None or a list of lines, got {xray_lines!r}")
        present = {c.name for c in self.xray_lines}
        wanted = [line for line in xray_lines if line not in present]
        inside, outside = self.signal._get_xray_lines_in_spectral_range(wanted)
        for line in outside:
            warnings.warn(f"{line} is not in the data energy range.", UserWarning, stacklevel=2)
        ax = self.axis
        data = np.asarray(self.signal.data)
        for xray_line in inside:
            element, line = db.element_and_line(xray_line)
            main = self._line_gaussian(xray_line)
            self.append(main)
            self.xray_lines.append(main)
            start = data[..., ax.value2index(main.centre.value)] * main.fwhm / ax.scale
            main.A.map["values"] = np.asarray(start, dtype=float).reshape(main.A.map.shape)
            main.A.map["is_set"] = True
            for sub_line in db.elements()[element]["lines"]:
                if line[0] not in sub_line or sub_line == line:
                    continue
                name = f"{element}_{sub_line}"
                if not self.signal._get_xray_lines_in_spectral_range([name])[0]:
                    continue
                sub = self._line_gaussian(name)
                weight = db.line_weight(name)
                # the inverse given, not solved by sympy (which costs ~0.5 s a line)
                sub.A.twin_inverse_function_expr = f"x / {weight!r}"
                sub.A.twin_function_expr = f"x * {weight!r}"
                sub.A.twin = main.A
                self.append(sub)
                self.family_lines.append(sub)
        self.fetch_stored_values()

    def remove(self, thing: Any) -> None:
        """Remove a component (also from ``xray_lines``, ``family_lines``, ``background_components``)."""
        components = thing if isinstance(thing, (list, tuple)) else [thing]
        resolved = [self[c] if isinstance(c, (str, int)) else c for c in components]
        for comp in resolved:
            for group in (self.xray_lines, self.family_lines, self.background_components):
                if comp in group:
                    group.remove(comp)
        super().remove(thing)

    # ------------------------------------------------------------ background
    def free_background(self) -> None:
        """Free every background parameter."""
        for component in self.background_components:
            component.set_parameters_free()

    def fix_background(self) -> None:
        """Fix every background parameter."""
        for component in self.background_components:
            component.set_parameters_not_free()

    def enable_xray_lines(self) -> None:
        """Activate every X-ray line component."""
        for component in self._line_components():
            component.active = True

    def disable_xray_lines(self) -> None:
        """Deactivate every X-ray line component."""
        for component in self._line_components():
            component.active = False

    def fit_background(self, start_energy: float | None = None, end_energy: float | None = None,
                       windows_sigma: tuple[float, float] = (4.0, 3.0), kind: str = "single",
                       **kwargs: Any) -> None:
        """Fit the background where no line is, then fix it.

        The lines are switched off and the channels from ``centre −
        windows_sigma[0]·σ`` to ``centre + windows_sigma[1]·σ`` of every line
        are left out; the range is ``[start_energy, end_energy]`` (default the
        axis start and ``min(axis end, beam energy)``). ``kind="multi"`` fits
        every pixel (``multifit``); keywords go to ``fit``/``multifit``.

        Examples
        --------
        >>> m.fit_background(); m.fit()    # doctest: +SKIP
        """
        if kind not in ("single", "multi"):
            raise InvalidInputError(f"`kind` must be 'single' or 'multi', got {kind!r}")
        start = self.start_energy if start_energy is None else start_energy
        end = self.end_energy if end_energy is None else end_energy
        switches = self._channel_switches.copy()
        active = [(c, c.active) for c in self]
        self.free_background()
        try:
            self.disable_xray_lines()
            self.set_signal_range(start, end)
            for component in self._line_components():
                centre, sigma = component.centre.value, component.sigma.value
                self.remove_signal_range(centre - windows_sigma[0] * sigma, centre + windows_sigma[1] * sigma)
            (self.fit if kind == "single" else self.multifit)(**kwargs)
        finally:
            self._set_switches(switches)
            for component, was in active:
                component.active = was
        self.fix_background()

    def multifit(self, *args: Any, **kwargs: Any) -> None:
        """``multifit`` of every model (see :meth:`swiftfit.model.multifit.MultifitMixin.multifit`).

        With a linear optimizer (``"lstsq"``, ``"ols"``, ``"nnls"``,
        ``"ridge"``) and no ``chunk_size``, pixels go to the solver in chunks
        of 8192: the design is shared by all pixels, so memory grows only with
        the data, and fewer chunks mean less per-chunk work (compiling the
        model, checking the design), which dominates this small model.

        Examples
        --------
        >>> m.multifit(optimizer="lstsq")     # doctest: +SKIP
        """
        if kwargs.get("optimizer") in ("lstsq", "ols", "nnls", "ridge") and kwargs.get("chunk_size") is None:
            kwargs["chunk_size"] = 8192
        return super().multifit(*args, **kwargs)

    # ------------------------------------------------------------ covariance of the line areas
    def _write_back(self, problem, solution, pixels, rescale=None, loss=None, parts=None, verify=True):
        out = super()._write_back(problem, solution, pixels, rescale=rescale, loss=loss, parts=parts, verify=verify)
        cov = out.get("covariance")
        params = [p for c in problem.components for p in c.parameters]
        columns = []
        for comp in self.xray_lines:
            try:
                i = next(k for k, p in enumerate(params) if p is comp.A)
            except StopIteration:
                columns.append(None)
                continue
            plan = problem.plans[i]
            columns.append(plan.column if plan.kind == "free" else None)
        L = len(self.xray_lines)
        shape = self._nav_shape + (L, L)
        if self._line_covariance is None or self._line_covariance.shape != shape:
            self._line_covariance = np.full(shape, np.nan)
        block = np.full((problem.B, L, L), np.nan)
        if cov is not None:
            for a, ca in enumerate(columns):
                for b, cb in enumerate(columns):
                    if ca is not None and cb is not None:
                        block[:, a, b] = cov[:, ca, cb]
        idx = self._nav_index(pixels)
        if idx == ():
            self._line_covariance[...] = block[0]
        else:
            self._line_covariance[idx] = block
        return out

    def lines_covariance(self) -> np.ndarray:
        """Covariance of the main lines' areas (``xray_lines`` order) at every
        pixel, ``nav_shape + (L, L)``, from the last fit of each pixel (NaN
        where not fitted, or where an area was fixed).

        Examples
        --------
        >>> m.multifit(optimizer="lstsq"); m.lines_covariance().shape    # doctest: +SKIP
        (300, 300, 3, 3)
        """
        L = len(self.xray_lines)
        if self._line_covariance is None or self._line_covariance.shape != self._nav_shape + (L, L):
            return np.full(self._nav_shape + (L, L), np.nan)
        return self._line_covariance.copy()

    # ------------------------------------------------------------ results
    def get_lines_intensity(self, xray_lines: Any = None, plot_result: bool = False, only_one: bool = True,
                            only_lines: Any = ("a",), **kwargs: Any) -> list[BaseSignal]:
        """The fitted area of each main X-ray line, as navigation-shaped signals.

        Each signal is titled like exspy's ("Fe_Ka at 6.40 keV"), carries
        ``metadata.Sample.elements``/``xray_lines``, and its standard error
        (from the fit covariance) as the noise variance
        ``metadata.Signal.Noise_properties.variance`` (a signal of std²).

        Parameters
        ----------
        xray_lines : list of str, optional
            Default: every main line of the model; else the lines named (or
            those :meth:`EDSSpectrum.add_lines` would pick, ``only_one``,
            ``only_lines``) that are components of the model.
        plot_result : bool
            Print "line at energy units : Intensity = value ± std" for a single spectrum.

        Examples
        --------
        >>> m.multifit(optimizer="lstsq")                       # doctest: +SKIP
        >>> fe = m.get_lines_intensity(["Fe_Ka"])[0]            # doctest: +SKIP
        >>> fe.metadata.General.title                           # doctest: +SKIP
        'Fe_Ka at 6.40 keV'
        """
        if xray_lines is None:
            lines = [c.name for c in self.xray_lines]
        else:
            lines = self.signal._parse_xray_lines(xray_lines, only_one, only_lines)
            names = {c.name for c in self}
            lines = [line for line in lines if line in names]
        if not lines:
            raise InvalidInputError("these X-ray lines are not part of the model")
        units = self.axis.units
        nav_axes = [ax.copy() for ax in self.signal.axes_manager.navigation_axes][::-1]
        out = []
        for line in lines:
            element, _ = db.element_and_line(line)
            energy = self.signal._get_line_energy(line)
            A = self[line].A
            values = np.array(A.map["values"], dtype=float)
            std = np.array(A.map["std"], dtype=float)
            if not self._nav_shape:
                values, std = values.reshape(1), std.reshape(1)
            img = BaseSignal(values, axes=nav_axes if nav_axes else None)
            if nav_axes:
                img = img.transpose(signal_axes=[])
            img.metadata.General.title = f"{line} at {energy:.2f} {units}"
            img.metadata.set_item("Sample.elements", [element])
            img.metadata.set_item("Sample.xray_lines", [line])
            img.set_noise_variance(BaseSignal(std**2).transpose(signal_axes=[]) if nav_axes else std**2)
            if plot_result and not self._nav_shape:
                print(f"{line} at {energy} {units} : Intensity = {values[0]:.2f} ± {std[0]:.2f}")
            out.append(img)
        return out

    def quantification_cliff_lorimer(self, kfactors: Any, xray_lines: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Weight fractions from the fitted areas by Cliff–Lorimer, with standard errors.

        ``C_i = k_i I_i / Σ_j k_j I_j``; the errors are propagated from the
        covariance of the areas (correlations between lines included) to first
        order, ``Σ_C = J Σ_I Jᵀ``.

        Parameters
        ----------
        kfactors : sequence of float
            One per line, in the order of ``xray_lines``.
        xray_lines : list of str, optional
            Main lines of the model (default: all, in ``xray_lines`` order).

        Returns
        -------
        composition, std : ndarray
            ``(L,) + nav_shape`` each (fractions summing to 1).

        Examples
        --------
        >>> c, dc = m.quantification_cliff_lorimer([1.0, 1.2])    # doctest: +SKIP
        """
        names = [c.name for c in self.xray_lines]
        lines = names if xray_lines is None else list(xray_lines)
        for line in lines:
            if line not in names:
                raise InvalidInputError(f"`xray_lines`: {line!r} is not a main line of the model; expected one of {names}")
        pick = [names.index(line) for line in lines]
        intensities = np.stack([np.asarray(self.xray_lines[i].A.map["values"], dtype=float) for i in pick])
        cov = self.lines_covariance()[..., pick, :][..., :, pick]
        return cliff_lorimer(intensities, kfactors, np.moveaxis(cov, (-2, -1), (0, 1)))
