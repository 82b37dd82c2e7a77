"""The EELS edge table (onset energies of every ionisation edge), shipped as data.

The table lives in ``edges.json`` next to this module; its ``source`` entry
names where the numbers come from (the EELS Atlas of Ahn and Krivanek, as
tabulated in exspy 0.3.2) and ``tools/make_eels_edges.py`` regenerates it.

Examples
--------
>>> onset_energy("Cr_L3")
575.0
>>> atomic_number("O")
8
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from ..errors import InvalidInputError

__all__ = ["edge_table", "onset_energy", "atomic_number", "split_subshell", "element_edges", "SOURCE"]


@lru_cache(maxsize=1)
def _load() -> dict:
    text = resources.files(__package__).joinpath("edges.json").read_text()
    return json.loads(text)


def edge_table() -> dict:
    """``{symbol: {"Z", "atomic_weight", "edges": {subshell: {"onset_energy", ...}}}}``."""
    return _load()["elements"]


SOURCE: str = _load()["source"]


def _element(symbol: str) -> dict:
    table = edge_table()
    if symbol not in table:
        raise InvalidInputError(f"element {symbol!r} is not in the EELS edge table; known: {', '.join(table)}")
    return table[symbol]


def split_subshell(element_subshell: str) -> tuple[str, str]:
    """``"Cr_L3"`` -> ``("Cr", "L3")``, checked against the table."""
    if not isinstance(element_subshell, str) or "_" not in element_subshell:
        raise InvalidInputError(
            f"`element_subshell` must be a string like 'C_K' or 'Cr_L3', got {element_subshell!r}"
        )
    element, subshell = element_subshell.split("_", 1)
    edges = _element(element)["edges"]
    if subshell not in edges:
        raise InvalidInputError(
            f"`element_subshell` {element_subshell!r}: {element} has no {subshell!r} edge in the table; "
            f"its edges are {', '.join(edges)}"
        )
    return element, subshell


def onset_energy(element_subshell: str) -> float:
    """Tabulated onset energy (eV) of an edge such as ``"C_K"``."""
    element, subshell = split_subshell(element_subshell)
    return float(edge_table()[element]["edges"][subshell]["onset_energy"])


def atomic_number(element: str) -> int:
    """Atomic number of ``element``."""
    return int(_element(element)["Z"])


def element_edges(element: str) -> dict:
    """The edges of ``element`` with their onsets and shape notes."""
    return _element(element)["edges"]
