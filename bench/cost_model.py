#!/usr/bin/env python3
r"""Cost model of one row-partitioned RHS evaluation on GPU nodes (prints a Markdown table).

Per evaluation (an RK4 step makes 4) on ``P`` GPUs, ``B`` trials, ``s`` bytes per weight:

.. math::
    t = \underbrace{\max\!\Big(\frac{2 N^2 B}{P F}, \frac{s N^2}{P\,BW_\mathrm{mem}}\Big)}_{\text{local GEMM}}
      + \underbrace{(P - 1)\,\alpha}_{\text{latency}(P)}
      + \underbrace{\frac{P-1}{P}\,\frac{N B s}{BW_\mathrm{net}}}_{\text{Allgatherv}}

where:

* ``F``: the GPU's FP32 rate (dense, no tensor cores), ``BW_mem`` its HBM bandwidth: the GEMM term
  is the roofline of the local ``(B, N) x (N, N/P)`` product (memory-bound for small ``B``);
* ``alpha``: per-message latency of a ring ``Allgatherv`` (``P - 1`` rounds);
* ``BW_net``: the slowest link a ring crosses: InfiniBand NDR200 (25 GB/s per GPU) once ``P`` spans nodes,
  NVLink within one node;
* ``P`` is at least the number of GPUs whose memory holds ``J`` (``s N^2 / (0.9 M_gpu)``).

The inputs are parameters (``--F`` etc.); defaults are vendor figures (see bench/README.md), not measurements.
"""
from __future__ import annotations

import argparse
import math


def model(N, B, P, *, s, F, bw_mem, alpha, bw_net):
    gemm = max(2.0 * N * N * B / (P * F), s * N * N / (P * bw_mem))
    lat = (P - 1) * alpha
    comm = (P - 1) / P * N * B * s / bw_net
    return gemm, lat, comm


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--N", type=float, nargs="+", default=[1e5, 2e5, 5e5, 1e6])
    ap.add_argument("--B", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--s", type=int, default=4, help="bytes per weight (4: float32)")
    ap.add_argument("--F", type=float, default=67e12, help="FP32 FLOP/s per GPU (H100 SXM5 vendor peak)")
    ap.add_argument("--bw-mem", type=float, default=2.4e12, help="HBM bytes/s per GPU (H100 SXM5 94 GB HBM2e, assumed)")
    ap.add_argument("--mem", type=float, default=94e9, help="GPU memory bytes")
    ap.add_argument("--gpus-per-node", type=int, default=4)
    ap.add_argument("--alpha", type=float, default=5e-6, help="seconds per ring round (MPI + IB latency, assumed)")
    ap.add_argument("--bw-ib", type=float, default=25e9, help="bytes/s per GPU between nodes (NDR200 = 200 Gb/s)")
    ap.add_argument("--bw-nvlink", type=float, default=150e9, help="bytes/s per direction between GPUs of a node (assumed)")
    ap.add_argument("--scale", type=int, nargs="+", default=[1, 2, 4], help="multiples of the minimum GPU count")
    a = ap.parse_args(argv)
    print("| N | B | P GPUs | nodes | J per GPU GB | GEMM ms | latency ms | Allgatherv ms | total ms | comm share | eval/s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for N in a.N:
        p_min = max(1, math.ceil(a.s * N * N / (0.9 * a.mem)))
        for B in a.B:
            for k in a.scale:
                P = p_min * k
                nodes = math.ceil(P / a.gpus_per_node)
                bw_net = a.bw_nvlink if nodes == 1 else a.bw_ib
                g, lat, c = model(N, B, P, s=a.s, F=a.F, bw_mem=a.bw_mem, alpha=a.alpha, bw_net=bw_net)
                tot = g + lat + c
                print(f"| {N:.0e} | {B} | {P} | {nodes} | {a.s * N * N / P / 1e9:.0f} | {g * 1e3:.3f} | {lat * 1e3:.3f} | "
                      f"{c * 1e3:.3f} | {tot * 1e3:.3f} | {(lat + c) / tot:.2f} | {1 / tot:.0f} |")


if __name__ == "__main__":
    main()
