"""The X-ray line table (data file) against exspy's, and the resolution law."""

import json
import math
from importlib import resources

import pytest

from swiftfit.eds import database as db


def test_table_is_shipped_data_with_its_source():
    text = resources.files("swiftfit.eds").joinpath("xray_lines.json").read_text()
    table = json.loads(text)
    assert "Chantler" in table["source"] and "EPQ" in table["source"]
    assert table["elements"]["Fe"]["lines"]["Ka"] == {"energy_keV": 6.4039, "weight": 1.0}
    assert len(table["elements"]) == 95


def test_table_equals_exspy():
    elements = pytest.importorskip("exspy._misc.elements").elements
    ours = db.elements()
    assert list(ours) == list(elements)  # same elements, same order
    n = 0
    for symbol, props in elements.items():
        theirs = props.get("Atomic_properties", {}).get("Xray_lines", {})
        mine = ours[symbol]["lines"]
        assert list(mine) == list(theirs), symbol  # order sets the component order of a family
        for line, v in theirs.items():
            assert abs(mine[line]["energy_keV"] - v["energy (keV)"]) <= 1e-12
            assert abs(mine[line]["weight"] - v["weight"]) <= 1e-12
            n += 1
        assert ours[symbol]["atomic_weight"] == pytest.approx(props["General_properties"]["atomic_weight"], abs=1e-12)
        assert ours[symbol]["Z"] == props["General_properties"]["Z"]
    assert n > 600


def test_fwhm_law_against_exspy_and_closed_form():
    # closed form: at Mn Ka the FWHM is the reference; 2.5 eV per eV above it in FWHM²
    assert db.fwhm_at_energy(130.0, db.line_energy("Mn_Ka")) == pytest.approx(0.130, abs=1e-15)
    e = db.line_energy("Mn_Ka") + 1.0
    assert db.fwhm_at_energy(130.0, e) == pytest.approx(math.sqrt(130.0**2 + 2500.0) / 1000, rel=1e-14)
    utils = pytest.importorskip("exspy._misc.eds.utils")
    for energy in (0.28, 1.49, 6.4039, 9.4421, 20.0):
        assert db.fwhm_at_energy(133.3, energy) == pytest.approx(utils.get_FWHM_at_Energy(133.3, energy), rel=1e-14)


def test_bad_lines_raise_clear_errors():
    with pytest.raises(ValueError, match="'Xx' is not a valid chemical element"):
        db.line_energy("Xx_Ka")
    with pytest.raises(ValueError, match="'Kz' is not a line of Fe"):
        db.line_energy("Fe_Kz")
    with pytest.raises(ValueError, match="expected 'Element_Line'"):
        db.line_energy("FeKa")
