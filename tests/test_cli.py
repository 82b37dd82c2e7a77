"""The swiftfit command runs the demo end to end on a small image."""

import numpy as np

from swiftfit.cli import main


def test_demo_command_writes_results(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--size", "4"]) == 0
    out = capsys.readouterr().out
    assert "multifit: 16 pixels" in out
    for name in ("fit.png", "maps.png", "results.csv", "results.h5"):
        assert (tmp_path / name).stat().st_size > 1000
    import h5py

    with h5py.File(tmp_path / "results.h5") as fh:
        centre = fh["Carbon.centre"][()]
    assert centre.shape == (4, 4) and np.all(np.abs(centre - 284) < 3)
