"""EDS spectra: :class:`EDSSpectrum`, :class:`EDSTEMSpectrum`, :class:`EDSSEMSpectrum`.

A signal becomes one of these when ``metadata.Signal.signal_type`` is
``"EDS_TEM"`` or ``"EDS_SEM"`` (on load, or by ``s.set_signal_type``). The
classes keep their state in the metadata, at exspy's paths
(``Acquisition_instrument.TEM.beam_energy``,
``Acquisition_instrument.TEM.Detector.EDS.energy_resolution_MnKa``,
``Sample.elements``, ``Sample.xray_lines``...), so copies, slices and
arithmetic results (``s * weights``) keep class and settings.

Examples
--------
>>> import numpy as np
>>> from swiftfit.signals import Signal1D
>>> s = Signal1D(np.ones(2048), axes=[{"scale": 0.01, "units": "keV"}])
>>> s.set_signal_type("EDS_TEM")
>>> s.set_microscope_parameters(beam_energy=200.0)
>>> s.add_elements(["Pt", "Fe"])
>>> s.metadata.Sample.elements
['Fe', 'Pt']
>>> s.axes_manager[-1].is_binned
True
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import InvalidInputError
from ..signals.signal1d import Signal1D
from . import database as db

__all__ = ["EDSSEMSpectrum", "EDSSpectrum", "EDSTEMSpectrum"]

# exspy's preference defaults: stage tilt 0°, elevation 35°, Mn Ka FWHM 130 eV, azimuth 0°
_DEFAULTS = {
    "Stage.tilt_alpha": 0.0,
    "Detector.EDS.elevation_angle": 35.0,
    "Detector.EDS.energy_resolution_MnKa": 130.0,
    "Detector.EDS.azimuth_angle": 0.0,
}
_MAIN_LINES = ("Ka", "La", "Ma")


def parse_only_lines(only_lines: Any) -> Any:
    """``("a",)`` → ``["a", "Ka", "La", "Ma"]``, ``"b"`` adds ``Kb, Lb1, Mb``."""
    if only_lines is None:
        return None
    if isinstance(only_lines, str):
        only_lines = [only_lines]
    only_lines = list(only_lines)
    for key, extra in (("a", ["Ka", "La", "Ma"]), ("b", ["Kb", "Lb1", "Mb"])):
        if key in only_lines:
            only_lines.extend(extra)
    return only_lines


class EDSSpectrum(Signal1D):
    """An energy-dispersive X-ray spectrum (binned signal axis in keV or eV).

    Use :class:`EDSTEMSpectrum` or :class:`EDSSEMSpectrum` (``set_signal_type``).

    Examples
    --------
    >>> import numpy as np
    >>> s = EDSSEMSpectrum(np.ones(1024), axes=[{"scale": 0.01, "units": "keV"}])
    >>> s.metadata.Signal.signal_type
    'EDS_SEM'
    """

    _microscope = ""  # "TEM" or "SEM"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        type(self)._init_signal_type(self)

    @classmethod
    def _init_signal_type(cls, signal: "EDSSpectrum") -> None:
        """Called when a signal takes this class: binned axis, exspy's defaults."""
        signal.axes_manager.signal_axes[0].is_binned = True
        if not cls._microscope:
            return
        md = signal.metadata
        md.Signal.signal_type = f"EDS_{cls._microscope}"
        other = "SEM" if cls._microscope == "TEM" else "TEM"
        here = f"Acquisition_instrument.{cls._microscope}"
        # a spectrum moved between microscopes keeps its settings (as exspy)
        if not md.has_item(f"{here}.Detector.EDS") and md.has_item(f"Acquisition_instrument.{other}.Detector.EDS"):
            md.set_item(here, md.get_item(f"Acquisition_instrument.{other}"))
            md.del_item(f"Acquisition_instrument.{other}")
        for path, value in _DEFAULTS.items():
            if not md.has_item(f"{here}.{path}"):
                md.set_item(f"{here}.{path}", value)

    # ------------------------------------------------------------ settings
    @property
    def _instrument(self) -> str:
        return f"Acquisition_instrument.{self._microscope or 'TEM'}"

    def _units_factor(self) -> float:
        """1000 for an eV axis, 1 for keV (X-ray energies are tabulated in keV)."""
        units = self.axes_manager.signal_axes[0].units
        if units == "eV":
            return 1000.0
        if units == "keV":
            return 1.0
        raise InvalidInputError(f"the energy axis has units {units!r}; expected 'eV' or 'keV' "
                                "(set s.axes_manager[-1].units)")

    @property
    def energy_resolution_MnKa(self) -> float:
        """FWHM of the detector at Mn Ka, eV (``...Detector.EDS.energy_resolution_MnKa``)."""
        value = self.metadata.get_item(f"{self._instrument}.Detector.EDS.energy_resolution_MnKa")
        if value is None:
            raise InvalidInputError("energy_resolution_MnKa is not set; use set_microscope_parameters")
        return float(value)

    def _get_beam_energy(self) -> float:
        """Beam energy in the axis units (metadata holds keV)."""
        md = self.metadata
        for mic in ("SEM", "TEM"):
            value = md.get_item(f"Acquisition_instrument.{mic}.beam_energy")
            if value is not None:
                return float(value) * self._units_factor()
        raise AttributeError("the beam energy is not set; use s.set_microscope_parameters(beam_energy=...)")

    def _get_line_energy(self, xray_line: str, FWHM_MnKa: Any = None) -> Any:
        """Energy of ``xray_line`` in the axis units, and its FWHM when
        ``FWHM_MnKa`` is given (eV, or ``"auto"`` for the metadata's).
        """
        factor = self._units_factor()
        energy = db.line_energy(xray_line)
        if FWHM_MnKa is None:
            return energy * factor
        if FWHM_MnKa == "auto":
            FWHM_MnKa = self.energy_resolution_MnKa
        return energy * factor, db.fwhm_at_energy(FWHM_MnKa, energy) * factor

    def _get_xray_lines_in_spectral_range(self, xray_lines: Iterable[str]) -> tuple[list, list]:
        """``(inside, outside)``: lines strictly between the axis ends (and below the beam energy)."""
        ax = self.axes_manager.signal_axes[0]
        low, high = ax.low_value, ax.high_value
        try:
            high = min(high, self._get_beam_energy())
        except AttributeError:
            pass
        inside, outside = [], []
        for line in xray_lines:
            (inside if low < self._get_line_energy(line) < high else outside).append(line)
        return inside, outside

    def set_microscope_parameters(self, beam_energy: float | None = None, live_time: float | None = None,
                                  tilt_stage: float | None = None, azimuth_angle: float | None = None,
                                  elevation_angle: float | None = None,
                                  energy_resolution_MnKa: float | None = None, **extra: float | None) -> None:
        """Set microscope and detector parameters (exspy's metadata paths).

        Parameters
        ----------
        beam_energy : float
            keV, ``Acquisition_instrument.<TEM|SEM>.beam_energy``.
        live_time : float
            s, ``...Detector.EDS.live_time``.
        tilt_stage : float
            degrees, ``...Stage.tilt_alpha``.
        azimuth_angle, elevation_angle : float
            degrees, ``...Detector.EDS.azimuth_angle`` / ``elevation_angle``.
        energy_resolution_MnKa : float
            eV, FWHM at Mn Ka, ``...Detector.EDS.energy_resolution_MnKa``.
        **extra
            TEM only: ``beam_current`` (nA), ``probe_area`` (nm²), ``real_time`` (s).

        Examples
        --------
        >>> import numpy as np
        >>> s = EDSTEMSpectrum(np.ones(100), axes=[{"scale": 0.1, "units": "keV"}])
        >>> s.set_microscope_parameters(beam_energy=200.0, energy_resolution_MnKa=135.0)
        >>> s.metadata.Acquisition_instrument.TEM.Detector.EDS.energy_resolution_MnKa
        135.0
        """
        allowed_extra = {"beam_current": "beam_current", "probe_area": "probe_area",
                         "real_time": "Detector.EDS.real_time"} if self._microscope == "TEM" else {}
        for key in extra:
            if key not in allowed_extra:
                raise InvalidInputError(f"set_microscope_parameters: unknown argument {key!r}; "
                                        f"expected one of beam_energy, live_time, tilt_stage, azimuth_angle, "
                                        f"elevation_angle, energy_resolution_MnKa{''.join(', ' + k for k in allowed_extra)}")
        paths = {"beam_energy": ("beam_energy", beam_energy),
                 "live_time": ("Detector.EDS.live_time", live_time),
                 "tilt_stage": ("Stage.tilt_alpha", tilt_stage),
                 "azimuth_angle": ("Detector.EDS.azimuth_angle", azimuth_angle),
                 "elevation_angle": ("Detector.EDS.elevation_angle", elevation_angle),
                 "energy_resolution_MnKa": ("Detector.EDS.energy_resolution_MnKa", energy_resolution_MnKa)}
        paths.update({k: (allowed_extra[k], v) for k, v in extra.items()})
        for name, (path, value) in paths.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidInputError(f"`{name}` must be a number, got {value!r}")
            self.metadata.set_item(f"{self._instrument}.{path}", float(value))

    # ------------------------------------------------------------ elements and lines
    def set_elements(self, elements: Sequence[str]) -> None:
        """Replace ``metadata.Sample.elements`` by ``elements`` (sorted).

        Examples
        --------
        >>> import numpy as np
        >>> s = EDSTEMSpectrum(np.ones(100), axes=[{"scale": 0.1, "units": "keV"}])
        >>> s.set_elements(["Pt", "Fe"]); s.set_elements(["Cu"])
        >>> s.metadata.Sample.elements
        ['Cu']
        """
        if self.metadata.has_item("Sample.elements"):
            self.metadata.del_item("Sample.elements")
        self.add_elements(elements)

    def add_elements(self, elements: Sequence[str]) -> None:
        """Add chemical elements to ``metadata.Sample.elements`` (kept sorted, unique).

        Examples
        --------
        >>> import numpy as np
        >>> s = EDSTEMSpectrum(np.ones(100), axes=[{"scale": 0.1, "units": "keV"}])
        >>> s.add_elements(["Pt"]); s.add_elements(("Fe", "C"))
        >>> s.metadata.Sample.elements
        ['C', 'Fe', 'Pt']
        """
        if isinstance(elements, str) or not isinstance(elements, Iterable):
            raise InvalidInputError(f"`elements` must be a list of element symbols, e.g. ['Fe'], got {elements!r}")
        current = set(self.metadata.get_item("Sample.elements", []) or [])
        for element in elements:
            current.add(db.check_element(element))
        self.metadata.set_item("Sample.elements", sorted(current))

    def _get_lines_from_elements(self, elements: Iterable[str], only_one: bool = False,
                                 only_lines: Any = ("a",)) -> list[str]:
        """The lines of ``elements`` inside the spectral range, sorted.

        With ``only_one``, per element the first line (alphabetically) below half
        the beam energy (an overvoltage of 2), else the last one; ``only_lines``
        keeps only the named lines (``"a"`` = Ka, La, Ma; ``"b"`` = Kb, Lb1, Mb).
        """
        only_lines = parse_only_lines(only_lines)
        try:
            beam = self._get_beam_energy()
        except AttributeError:
            beam = self.axes_manager.signal_axes[0].high_value
        lines = []
        for element in elements:
            element = element.decode() if isinstance(element, bytes) else element
            candidates = [f"{element}_{line}" for line in db.elements()[db.check_element(element)]["lines"]
                          if not only_lines or line in only_lines]
            candidates = self._get_xray_lines_in_spectral_range(candidates)[0]
            if only_one and candidates:
                candidates.sort()
                chosen = next((c for c in candidates if self._get_line_energy(c) < beam / 2), candidates[-1])
                candidates = [chosen]
            lines.extend(candidates)
        return sorted(lines)

    def add_lines(self, lines: Sequence[str] = (), only_one: bool = True, only_lines: Any = ("a",)) -> None:
        """Add X-ray lines to ``metadata.Sample.xray_lines`` (sorted).

        Elements of ``metadata.Sample.elements`` without a line in ``lines`` get
        theirs from :meth:`_get_lines_from_elements` (``only_one``,
        ``only_lines``); the elements of ``lines`` are added to the elements.

        Examples
        --------
        >>> import numpy as np
        >>> s = EDSTEMSpectrum(np.ones(2000), axes=[{"scale": 0.01, "units": "keV"}])
        >>> s.set_microscope_parameters(beam_energy=200.0)
        >>> s.add_elements(["Fe", "Pt"]); s.add_lines()
        >>> s.metadata.Sample.xray_lines
        ['Fe_Ka', 'Pt_La']
        """
        if isinstance(lines, str) or not isinstance(lines, Iterable):
            raise InvalidInputError(f"`lines` must be a list of X-ray lines, e.g. ['Fe_Ka'], got {lines!r}")
        lines = list(lines)
        xray_lines = set(self.metadata.get_item("Sample.xray_lines", []) or [])
        elements = {line.split("_")[0] for line in xray_lines}
        for line in lines:
            element, _ = db.element_and_line(line)
            elements.add(element)
            xray_lines.add(line)
        for line in self._get_xray_lines_in_spectral_range(sorted(xray_lines))[1]:
            warnings.warn(f"{line} is not in the data energy range.", UserWarning, stacklevel=2)
        extra = set(self.metadata.get_item("Sample.elements", []) or []) - elements
        if extra:
            xray_lines.update(self._get_lines_from_elements(sorted(extra), only_one=only_one, only_lines=only_lines))
            elements.update(line.split("_")[0] for line in xray_lines)
        self.add_elements(sorted(elements))
        self.metadata.set_item("Sample.xray_lines", sorted(xray_lines))

    def set_lines(self, lines: Sequence[str], only_one: bool = True, only_lines: Any = ("a",)) -> None:
        """Replace ``metadata.Sample.xray_lines`` (see :meth:`add_lines`).

        Examples
        --------
        >>> import numpy as np
        >>> s = EDSTEMSpectrum(np.ones(2000), axes=[{"scale": 0.01, "units": "keV"}])
        >>> s.set_microscope_parameters(beam_energy=200.0)
        >>> s.add_elements(["Fe", "Pt"]); s.set_lines(["Pt_Ma"])
        >>> s.metadata.Sample.xray_lines
        ['Fe_Ka', 'Pt_Ma']
        """
        if self.metadata.has_item("Sample.xray_lines"):
            self.metadata.del_item("Sample.xray_lines")
        self.add_lines(lines, only_one=only_one, only_lines=only_lines)

    def _get_xray_lines(self, xray_lines: Any = None, only_one: bool | None = None,
                        only_lines: Any = ("a",)) -> list[str]:
        if xray_lines is not None:
            return list(xray_lines)
        if self.metadata.has_item("Sample.xray_lines"):
            return list(self.metadata.Sample.xray_lines)
        if self.metadata.has_item("Sample.elements"):
            return self._get_lines_from_elements(self.metadata.Sample.elements, only_one=bool(only_one),
                                                 only_lines=only_lines)
        raise InvalidInputError("no X-ray line: set the elements with s.add_elements([...])")

    def _parse_xray_lines(self, xray_lines: Any, only_one: bool, only_lines: Any) -> list[str]:
        lines = self._get_xray_lines(xray_lines, only_one=only_one, only_lines=parse_only_lines(only_lines))
        inside, outside = self._get_xray_lines_in_spectral_range(lines)
        for line in outside:
            warnings.warn(f"{line} is not in the data energy range.", UserWarning, stacklevel=3)
        return inside

    # ------------------------------------------------------------ model
    def create_model(self, auto_background: bool = True, auto_add_lines: bool = True) -> Any:
        """An :class:`~swiftfit.eds.model.EDSModel` of this spectrum.

        ``auto_background`` adds ``Polynomial(order=6)`` named
        ``background_order_6``; ``auto_add_lines`` one Gaussian per X-ray line
        of ``metadata.Sample`` (see :meth:`EDSModel.add_family_lines`).

        Examples
        --------
        >>> import numpy as np
        >>> s = EDSTEMSpectrum(np.ones(2000), axes=[{"scale": 0.01, "units": "keV"}])
        >>> s.set_microscope_parameters(beam_energy=200.0); s.add_elements(["Fe"])
        >>> [c.name for c in s.create_model()]
        ['background_order_6', 'Fe_Ka', 'Fe_Kb', 'Fe_La', 'Fe_Ln', 'Fe_Ll', 'Fe_Lb3']
        """
        from .model import EDSModel
        return EDSModel(self, auto_background=auto_background, auto_add_lines=auto_add_lines)


class EDSTEMSpectrum(EDSSpectrum):
    """EDS spectrum acquired in a TEM (``signal_type`` ``"EDS_TEM"``).

    Examples
    --------
    >>> import numpy as np
    >>> s = EDSTEMSpectrum(np.ones(100), axes=[{"scale": 0.1, "units": "keV"}])
    >>> s.metadata.Acquisition_instrument.TEM.Detector.EDS.energy_resolution_MnKa
    130.0
    """

    _microscope = "TEM"


class EDSSEMSpectrum(EDSSpectrum):
    """EDS spectrum acquired in an SEM (``signal_type`` ``"EDS_SEM"``).

    Examples
    --------
    >>> import numpy as np
    >>> s = EDSSEMSpectrum(np.ones(100), axes=[{"scale": 0.1, "units": "keV"}])
    >>> s.set_microscope_parameters(beam_energy=10.0)
    >>> s.metadata.Acquisition_instrument.SEM.beam_energy
    10.0
    """

    _microscope = "SEM"
