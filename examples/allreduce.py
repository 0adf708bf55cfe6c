#!/usr/bin/env python3
"""mpi4py allreduce across every rank: each rank prints its rank, host and the sum it got.

The line format is stable (tests parse it):
    allreduce rank=R size=N host=H sum=S expected=E ok=True
"""
import socket
import sys

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
host = socket.gethostname()

# scalar: 1 + 2 + ... + size; vector: element-wise sum of [rank, rank, rank]
total = comm.allreduce(rank + 1, op=MPI.SUM)
vec = np.full(3, rank, dtype=np.int64)
vec_sum = np.empty_like(vec)
comm.Allreduce(vec, vec_sum, op=MPI.SUM)

expected = size * (size + 1) // 2
ok = total == expected and bool((vec_sum == size * (size - 1) // 2).all())
print(f"allreduce rank={rank} size={size} host={host} sum={total} expected={expected} ok={ok}", flush=True)
sys.exit(0 if ok else 1)
