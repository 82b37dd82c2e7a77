"""The X-ray line table (energies and weights) and the detector-resolution law.

The table is data, ``xray_lines.json`` in this package, written once by
``tools/make_xray_lines.py``; :data:`SOURCE` names where the numbers come from
(line energies: Chantler et al. 2005, NIST FFAST; family weights: NIST's EPQ
library). Each element lists its lines in a fixed order, which sets the order
of a family's components in a model.

Examples
--------
>>> line_energy("Fe_Ka")
6.4039
>>> element_and_line("Pt_La")
('Pt', 'La')
>>> round(fwhm_at_energy(130.0, line_energy("Mn_Ka")), 6)  # keV
0.13
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources
from typing import Any

from ..errors import InvalidInputError

__all__ = [
    "SIGMA2FWHM",
    "SOURCE",
    "element_and_line",
    "elements",
    "fwhm_at_energy",
    "line_energy",
    "line_weight",
    "xray_lines_family",
]

SIGMA2FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))
# Fiori & Newbury (1978), Goldstein et al. (2003) p. 315: the squared FWHM
# (eV²) grows by 2.5 eV per eV of line energy (Fano statistics of the detector)
_FANO_EV = 2.5


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("xray_lines.json").read_text()
    return json.loads(text)


def elements() -> dict[str, dict]:
    """The table: ``{symbol: {"Z", "atomic_weight", "name", "density", "lines":
    {line: {"energy_keV", "weight"}}}}`` (do not modify it).

    Examples
    --------
    >>> elements()["Pt"]["lines"]["La"]["energy_keV"]
    9.4421
    """
    return _table()["elements"]


SOURCE: str = _table()["source"]


def check_element(element: str) -> str:
    """``element`` if it is a symbol of the table, else a clear ValueError."""
    if not isinstance(element, str) or element not in elements():
        raise InvalidInputError(f"{element!r} is not a valid chemical element symbol")
    return element


def element_and_line(xray_line: str) -> tuple[str, str]:
    """``("Fe", "Ka")`` for ``"Fe_Ka"`` (a ValueError if the line is not in the table)."""
    if not isinstance(xray_line, str) or "_" not in xray_line:
        raise InvalidInputError(f"invalid X-ray line {xray_line!r}: expected 'Element_Line', e.g. 'Fe_Ka'")
    element, _, line = xray_line.partition("_")
    check_element(element)
    if line not in elements()[element]["lines"]:
        raise InvalidInputError(f"{xray_line!r}: {line!r} is not a line of {element}; "
                                f"expected one of {list(elements()[element]['lines'])}")
    return element, line


def line_energy(xray_line: str) -> float:
    """Energy of ``xray_line`` in keV."""
    element, line = element_and_line(xray_line)
    return elements()[element]["lines"][line]["energy_keV"]


def line_weight(xray_line: str) -> float:
    """Weight of ``xray_line`` relative to its family's main line (1 for Ka, La, Ma)."""
    element, line = element_and_line(xray_line)
    return elements()[element]["lines"][line]["weight"]


def xray_lines_family(xray_line: str) -> str:
    """The family of a line: ``"Mn_K"`` for ``"Mn_Ka"``."""
    return xray_line[: xray_line.find("_") + 2]


def fwhm_at_energy(resolution_MnKa: float, energy: float) -> float:
    """Detector FWHM (keV) at ``energy`` (keV), from the FWHM at Mn Ka (eV).

    ``FWHM(E)² = FWHM(Mn Ka)² + 2.5 eV · (E − E(Mn Ka))`` in eV (Fiori and
    Newbury 1978; Goldstein et al. 2003, *Scanning Electron Microscopy and
    X-ray Microanalysis*, 3rd ed., p. 315).

    Examples
    --------
    >>> round(fwhm_at_energy(130.0, 6.4039) * 1000, 4)  # eV at Fe Ka
    134.7702
    """
    e_ref = line_energy("Mn_Ka")
    return math.sqrt(_FANO_EV * (energy - e_ref) * 1000.0 + resolution_MnKa**2) / 1000.0


def sigma_twin_expression(energy: float, reference: float, units_factor: float) -> str:
    """Expression in ``x`` (the sigma of the line at ``reference``) giving the
    sigma of the line at ``energy`` under the resolution law; energies and sigma
    in the axis units, ``units_factor`` 1 for keV, 1000 for eV.
    """
    c = _FANO_EV / (1000.0 * SIGMA2FWHM**2)
    return f"sqrt(abs({c!r} * ({energy!r} - {reference!r}) * {units_factor!r} + x**2))"
