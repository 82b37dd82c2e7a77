"""EELSSpectrum: a binned spectrum (or spectrum image) of energy losses.

Chosen for a one-dimensional signal whose ``metadata.Signal.signal_type`` is
"EELS" — on load, by ``s.set_signal_type("EELS")`` or by constructing it —
and kept by arithmetic (``s * nav``). Metadata paths are exspy's, so files
move between the two:

* ``Sample.elements`` — sorted list of element symbols;
* ``Acquisition_instrument.TEM.beam_energy`` (keV),
  ``.convergence_angle`` and ``.Detector.EELS.collection_angle`` (mrad).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import InvalidInputError, InvalidTypeError
from ..signals.signal1d import Signal1D
from .database import edge_table

__all__ = ["EELSSpectrum"]

_TEM = "Acquisition_instrument.TEM"
_PATHS = {
    "beam_energy": f"{_TEM}.beam_energy",
    "convergence_angle": f"{_TEM}.convergence_angle",
    "collection_angle": f"{_TEM}.Detector.EELS.collection_angle",
}


class EELSSpectrum(Signal1D):
    """An electron energy-loss spectrum (binned energy axis, eV).

    Examples
    --------
    >>> import numpy as np
    >>> s = EELSSpectrum(np.ones(100), axes=[{"offset": 250.0, "scale": 1.0, "units": "eV"}])
    >>> s.axes_manager[-1].is_binned, s.metadata.Signal.signal_type
    (True, 'EELS')
    >>> s.add_elements(["C"])
    >>> sorted(s.subshells)
    ['C_K']
    >>> s.set_microscope_parameters(beam_energy=200, convergence_angle=10, collection_angle=20)
    >>> s.metadata.Acquisition_instrument.TEM.Detector.EELS.collection_angle
    20.0
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        EELSSpectrum._init_signal_type(self)

    @staticmethod
    def _init_signal_type(signal) -> None:
        """What every EELS spectrum has: the signal type, a binned axis, ``subshells``."""
        signal.metadata.set_item("Signal.signal_type", "EELS")
        signal.axes_manager.signal_axes[0].is_binned = True

    @property
    def subshells(self) -> set:
        """The edges (``"Mn_L3"``, ...) of ``Sample.elements`` inside the energy range."""
        if "_subshells" not in self.__dict__:
            self._subshells = set()
            elements = self.metadata.get_item("Sample.elements", None)
            if elements:
                self._generate_subshells(list(elements))
        return self._subshells

    @subshells.setter
    def subshells(self, value) -> None:
        self._subshells = set(value)

    # ---------------------------------------------------------- elements
    def add_elements(self, elements: Iterable[str], include_pre_edges: bool = False) -> None:
        """Add ``elements`` to ``metadata.Sample.elements`` and their edges in the
        energy range to :attr:`subshells`.

        Parameters
        ----------
        elements : iterable of str
            Chemical symbols, e.g. ``("Mn", "O")``.
        include_pre_edges : bool
            Also take edges up to 100 eV below the start of the axis (their
            tails reach into the range), as exspy's option of that name.
        """
        if isinstance(elements, str) or not isinstance(elements, Iterable):
            raise InvalidTypeError(f"`elements` must be a list or tuple of symbols, got {elements!r}")
        elements = list(elements)
        table = edge_table()
        for el in elements:
            if el not in table:
                raise InvalidInputError(f"`elements`: {el!r} is not a chemical symbol in the edge table")
        current = list(self.metadata.get_item("Sample.elements", []) or [])
        merged = sorted(set(current) | set(elements))
        self.metadata.set_item("Sample.elements", merged)
        self._generate_subshells(merged, include_pre_edges)

    def _generate_subshells(self, elements, include_pre_edges: bool = False) -> None:
        axis = self.axes_manager.signal_axes[0]
        lo, hi = float(np.min(axis.axis)), float(np.max(axis.axis))
        if include_pre_edges:
            lo -= 100.0
        table = edge_table()
        subshells = set(self.__dict__.get("_subshells", set()))
        for el in elements:
            for shell, info in table[el]["edges"].items():
                # "K1a"/"L1a" are alternative entries of the same edge, not subshells
                if not shell.endswith("a") and lo <= info["onset_energy"] <= hi:
                    subshells.add(f"{el}_{shell}")
        self.subshells = subshells

    # -------------------------------------------------------- microscope
    def set_microscope_parameters(self, beam_energy: float | None = None, convergence_angle: float | None = None,
                                  collection_angle: float | None = None) -> None:
        """Write the beam energy (keV) and semi-angles (mrad) into exspy's metadata paths."""
        for name, value in (("beam_energy", beam_energy), ("convergence_angle", convergence_angle),
                            ("collection_angle", collection_angle)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value) \
                    or value < 0:
                raise InvalidInputError(f"`{name}` must be a finite number >= 0, got {value!r}")
            self.metadata.set_item(_PATHS[name], float(value))

    # ------------------------------------------------------------- model
    def create_model(self, low_loss=None, auto_background: bool = True, auto_add_edges: bool = True,
                     GOS: str = "hydrogenic", gos_file_path=None, dictionary=None):
        """An :class:`~swiftfit.eels.model.EELSModel` of this spectrum.

        Parameters
        ----------
        low_loss : EELSSpectrum, optional
            The low-loss spectrum (same navigation shape, or a single one) the
            edges are convolved with.
        auto_background : bool
            Add a ``PowerLaw`` named "PowerLaw", estimated by the two-area method.
        auto_add_edges : bool
            One ``EELSCLEdge`` per subshell in :attr:`subshells`.
        GOS : {"hydrogenic", "gosh", "dft", "dirac", "Hartree-Slater"}
        gos_file_path : str or Path, optional
            The tabulated GOS file (required for the tabulated kinds).
        """
        from .model import EELSModel
        if dictionary is not None:
            raise InvalidInputError("`dictionary` is not supported; restore stored models with s.models.restore")
        return EELSModel(self, low_loss=low_loss, auto_background=auto_background,
                         auto_add_edges=auto_add_edges, GOS=GOS, gos_file_path=gos_file_path)
