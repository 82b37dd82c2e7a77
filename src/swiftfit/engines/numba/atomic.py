"""An atomic fetch-and-add on an ``int64`` array element, for compiled code
running on several threads without the GIL (issue #16: the fit's threads
claim pixels from one shared counter, :func:`.driver.fit_block`).

numba has no atomic operations of its own (``numba.cuda.atomic`` is for the
GPU only); this is LLVM's ``atomicrmw add`` on the element's address, with
sequentially consistent ordering, emitted by a :func:`numba.extending.intrinsic`
so that it compiles into the caller (and caches with it, ``cache=True``).
Why not a lock or a Python-side counter: claiming a pixel would then need the
GIL, which is what a thread running the fit gave up.
"""

from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def fetch_add(typingctx, arr, i, v):
    """``arr[i] += v`` as one atomic step; returns the value ``arr[i]`` had
    before it (``arr``: a contiguous 1-D ``int64`` array, ``i`` in range: no
    bounds check, no negative index).
    """
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype == types.int64
            and isinstance(i, types.Integer) and isinstance(v, types.Integer)):
        return None
    sig = types.int64(arr, i, v)

    def codegen(context, builder, signature, args):
        arr_t, i_t, v_t = signature.args
        ary = context.make_array(arr_t)(context, builder, args[0])
        idx = context.cast(builder, args[1], i_t, types.intp)
        val = context.cast(builder, args[2], v_t, types.int64)
        ptr = cgutils.get_item_pointer(context, builder, arr_t, ary, [idx], wraparound=False)
        return builder.atomic_rmw("add", ptr, val, "seq_cst")

    return sig, codegen
