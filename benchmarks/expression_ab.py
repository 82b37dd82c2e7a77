"""One evaluation of the battery's multiexp Expression, before and after stop 25 (mexp2), in one process.

``base``: ``forms1d._expression`` as it was at 6851ffa (copied below: every output added into rows
zeroed first) running the unfused program; ``new``: ``forms1d._expression`` with the fused program
(ADD3/MUL3) and derivatives computed in their Jacobian rows. Both zero f and the 5 rows first (as
``evaluate`` does), alternate 15 times × 5,000 calls, CPU time; the outputs are checked bit-identical.

    PYTHONPATH=src python benchmarks/expression_ab.py
"""
import time

import numpy as np
import sympy
from numba import njit

from swiftfit.engines.numba import expression_vm as v
from swiftfit.engines.numba import forms1d as fm

x=v._X
A1,t1,A2,t2,c=sympy.symbols('A1 t1 A2 t2 c',real=True)
e=A1*sympy.exp(-x/t1)+A2*sympy.exp(-x/t2)+c
ps=[A1,t1,A2,t2,c]
grads=[sympy.diff(e,p) for p in ps]
ins,vec,consts,outs=v.lower(e,grads,ps)
fuse=v._fuse; v._fuse=lambda ins, vec, outputs: ins
ins0,vec0,consts0,outs0=v.lower(e,grads,ps); v._fuse=fuse
N=400
X=np.linspace(0,200,N); params=np.array([1500.,13.,700.,45.,10.])
def mk(ins,vec,consts,outs):
    creg=np.array([r for r,_ in consts]); cval=np.array([q for _,q in consts])
    meta=np.array([[0,ins.shape[0],0,vec.size,0,creg.size,0]])
    return (meta, ins, vec, creg, cval, np.array(outs), np.array([0]))
exn=mk(ins,vec,consts,outs); exo=mk(ins0,vec0,consts0,outs0)
@njit
def old_expression(ex, R, c, k0, m, q, col, x, y, bs, w, use_w, f, J, P):
    meta, ins, vec, creg, cval, out, cexpr = ex[0], ex[1], ex[2], ex[3], ex[4], ex[5], ex[6]
    e = cexpr[c]
    i0, ni, r0, nr, k0c, nk, o0 = meta[e, 0], meta[e, 1], meta[e, 2], meta[e, 3], meta[e, 4], meta[e, 5], meta[e, 6]
    N = x.size
    isvec = vec[r0:r0 + nr]
    v.run(ins[i0:i0 + ni], isvec, creg[k0c:k0c + nk], cval[k0c:k0c + nk], q[k0:k0 + m], x, y, 0, N, R)
    vv = out[o0]
    rv = R[vv]
    for n in range(N):
        f[n] += rv[n]
    sn = bs
    for i in range(m):
        j = col[k0 + i]
        if j < 0:
            continue
        Jj = J[j]
        gr = out[o0 + 1 + i]
        if isvec[gr]:
            rg = R[gr]
            for n in range(N):
                Jj[n] += rg[n] * sn[n]
        else:
            s = R[gr, 0]
            for n in range(N):
                Jj[n] += s * sn[n]
@njit
def run_old(reps, ex, R, q, col, X, bs, w, f, J):
    for _ in range(reps):
        for j in range(5):
            for n in range(X.size): J[j, n] = 0.0
        for n in range(X.size): f[n] = 0.0
        old_expression(ex, R, 0, 0, 5, q, col, X, np.empty(0), bs, w, False, f, J, 5)
@njit
def run_new(reps, ex, R, q, col, X, bs, w, f, J):
    for _ in range(reps):
        for j in range(5):
            for n in range(X.size): J[j, n] = 0.0
        for n in range(X.size): f[n] = 0.0
        fm._expression(ex, R, 0, 0, 5, q, col, X, np.empty(0), bs, w, False, f, J, 5)
col=np.arange(5); bs=np.ones(N); w=np.ones(N)
Ro=np.zeros((vec0.size+1,N)); Rn=np.zeros((vec.size+1,N))
fo=np.zeros(N); fn_=np.zeros(N); Jo=np.zeros((6,N)); Jn=np.zeros((6,N))
run_old(1, exo, Ro, params, col, X, bs, w, fo, Jo); run_new(1, exn, Rn, params, col, X, bs, w, fn_, Jn)
assert np.array_equal(fo, fn_) and np.array_equal(Jo, Jn), "not bit-identical"
to=[]; tn=[]
for _ in range(15):
    t0=time.process_time(); run_old(5000, exo, Ro, params, col, X, bs, w, fo, Jo); to.append((time.process_time()-t0)/5000*1e6)
    t0=time.process_time(); run_new(5000, exn, Rn, params, col, X, bs, w, fn_, Jn); tn.append((time.process_time()-t0)/5000*1e6)
print(f"zero J,f + Expression (400 ch, 5 params): base min {min(to):.3f} med {np.median(to):.3f} | new min {min(tn):.3f} med {np.median(tn):.3f} us | bit-identical")
