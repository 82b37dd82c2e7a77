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
    seen.sort()
    # consecutive blocks covering every row once, cut only where a given block ends
    assert seen[0][0] == 0 and seen[-1][1] == 21
    assert all(a[1] == b[0] for a, b in zip(seen, seen[1:]))
    assert {a for a, _ in seen} <= set(edges) and all(b in edges for _, b in seen)
    if threads * 4 >= 6:  # enough threads to keep every given block
        assert seen == list(zip(edges[:-1], edges[1:]))


@pytest.mark.parametrize("blocks, threads, dispatches", [
    (64, 2, 15),    # the battery's 128 pixels: 15 dispatches, not 64
    (64, 8, 44),
    (3, 2, 3),      # never split, never more than given
    (1, 2, 1),
])
def test_guided_grabs(blocks, threads, dispatches):
    from swiftfit.engines.numba.blocks import grab_sizes

    sizes = grab_sizes(blocks, threads)
    assert sum(sizes) == blocks and len(sizes) == dispatches
    assert all(a >= b for a, b in zip(sizes, sizes[1:]))  # large first
    # the last grabs are single blocks: the threads finish within one given block
    assert sizes[-min(threads, len(sizes)):] == [1] * min(threads, len(sizes))


def test_blocks_handed_out_as_guided_runs():
    edges = [2 * i for i in range(65)]  # 128 rows in 64 blocks
    seen = []
    lock = threading.Lock()

    def block(a, b):
        with lock:
            seen.append((a, b))

    run_blocks(block, edges, 2)
    from swiftfit.engines.numba.blocks import grab_sizes

    assert sorted(b - a for a, b in seen) == sorted(2 * n for n in grab_sizes(64, 2))
    seen.sort()
    assert seen[0][0] == 0 and seen[-1][1] == 128 and all(a[1] == b[0] for a, b in zip(seen, seen[1:]))


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
