"""conftest for HyperSpy's test files run against swiftfit (tests_compat/run.py)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def pytest_collection_modifyitems(config, items):
    """Run only the tests HyperSpy passes itself (baseline_ids.txt, written by run.py)."""
    import pathlib

    listing = pathlib.Path(__file__).with_name("baseline_ids.txt")
    if not listing.exists():
        return
    wanted = set(listing.read_text().split("\n"))
    keep, drop = [], []
    for item in items:
        (keep if item.nodeid in wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
