"""The kernel's block runner (engines/numba/blocks.py): every block once,
errors raised, and fits on threads identical to the one-thread fit."""

import threading

import numpy as np
import pytest

from swiftfit.engines.numba.blocks import run_blocks

pytest.importorskip("numba")


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_every_block_exactly_once(threads):
    edges = [0, 1, 4, 4, 9, 20, 21]  # an empty block too
    seen = []
    lock = threading.Lock()

    def block(a, b):
        with lock:
            seen.append((a, b))

    run_blocks(block, edges, threads)
    assert sorted(seen) == list(zip(edges[:-1], edges[1:]))


def test_error_in_a_block_is_raised():
    def block(a, b):
        if a == 5:
            raise ValueError("block 5")

    with pytest.raises(ValueError, match="block 5"):
        run_blocks(block, [0, 5, 10, 15], 2)


def test_threads_give_the_one_thread_maps_bit_for_bit():
    # truth: each pixel is fitted on its own, so the number of threads (and the
    # order blocks are taken in) cannot change a bit of any map
    import numba

    import swiftfit as sf

    rng = np.random.default_rng(3)
    x = np.arange(200.0)
    c = 100 + rng.uniform(-3, 3, 70)
    data = rng.poisson(20 + 500 * np.exp(-0.5 * ((x - c[:, None]) / 6.0) ** 2)).astype(float)
    if numba.config.NUMBA_NUM_THREADS < 2:  # one thread against one thread could not fail
        pytest.skip("numba allows one thread here: nothing to compare the one-thread maps with")
    maps = []
    n0 = numba.get_num_threads()
    for threads in (1, 2):
        numba.set_num_threads(threads)
        try:
            m = sf.signals.Signal1D(data).create_model()
            g = sf.model.components1D.Gaussian()
            g.A.value, g.centre.value, g.sigma.value = 1000.0, 98.0, 5.0
            m.extend([g, sf.model.components1D.Offset()])
            m.multifit()
        finally:
            numba.set_num_threads(n0)
        maps.append(np.stack([p.map["values"] for comp in m for p in comp.parameters]))
        centres = g.centre.map["values"]
    np.testing.assert_array_equal(maps[0], maps[1])
    assert np.median(np.abs(centres - c)) < 0.2  # the fits are real (σ 6, ~3000 counts: ~0.1 ch)
