"""One-off generator of ``src/swiftfit/eds/xray_lines.json`` (the X-ray line table).

The table holds published facts, copied as numbers:

* line energies (keV): C. T. Chantler, K. Olsen, R. A. Dragoset, A. R. Kishore,
  S. A. Kotochigova and D. S. Zucker (2005), *X-Ray Form Factor, Attenuation
  and Scattering Tables* (version 2.1), NIST, http://physics.nist.gov/ffast;
* relative line weights within a family (K, L, M): the approximate weights of
  NIST's EPQ library (DTSA-II, N. W. M. Ritchie);
* Z, atomic weight and density of each element.

These are the values exspy 0.3.2 tabulates (``exspy._misc.elements``), which
this script reads so that our table and exspy's agree to the last digit (the
numbers, and the order in which each element lists its lines, which decides
the order of a family's components); no exspy code is used by swiftfit.

Run once (needs exspy)::

    python tools/make_xray_lines.py
"""

from __future__ import annotations

import json
import pathlib

SOURCE = (
    "Line energies: Chantler et al. (2005), X-Ray Form Factor, Attenuation and Scattering Tables v2.1, "
    "NIST (http://physics.nist.gov/ffast). Line weights: approximate K/L/M family weights of NIST's EPQ "
    "library (DTSA-II). Values as tabulated by exspy 0.3.2 (exspy._misc.elements)."
)


def main() -> None:
    from exspy._misc.elements import elements

    table = {}
    for symbol, props in elements.items():
        # Li, Np, Pu and Am have no tabulated line: listed (valid symbols) with none
        lines = props.get("Atomic_properties", {}).get("Xray_lines") or {}
        general = props.get("General_properties", {})
        table[symbol] = {
            "Z": int(general["Z"]),
            "atomic_weight": float(general["atomic_weight"]),
            "name": str(general["name"]),
            "density": props.get("Physical_properties", {}).get("density (g/cm^3)"),
            "lines": {
                line: {"energy_keV": float(v["energy (keV)"]), "weight": float(v["weight"])}
                for line, v in lines.items()
            },
        }
    out = pathlib.Path(__file__).resolve().parents[1] / "src/swiftfit/eds/xray_lines.json"
    out.write_text(json.dumps({"source": SOURCE, "units": {"energy_keV": "keV", "density": "g/cm^3"},
                               "elements": table}, indent=1) + "\n")
    print(f"wrote {out} ({len(table)} elements)")


if __name__ == "__main__":
    main()
