"""Compare a file's metadata as swiftfit and HyperSpy load it (shared by the
RosettaSciIO and DigitalMicrograph reader tests)."""

from __future__ import annotations

import numpy as np


def plain(tree) -> dict:
    """Metadata as a dict, without HyperSpy's own bookkeeping (load timestamps, folding state)."""
    d = dict(tree.as_dictionary())
    d.pop("_HyperSpy", None)
    general = dict(d.get("General", {}))
    general.pop("FileIO", None)
    d["General"] = general
    return d


def assert_same_tree(a, b, path: str = "metadata") -> None:
    """Equal keys at every level and equal leaves (arrays compared element-wise)."""
    if isinstance(a, dict) or isinstance(b, dict):
        assert isinstance(a, dict) and isinstance(b, dict), path
        assert sorted(a) == sorted(b), path
        for k in a:
            assert_same_tree(a[k], b[k], f"{path}.{k}")
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=path)
