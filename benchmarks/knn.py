"""FAISS kNN mean distance against torch.cdist + topk (the public IDRS code's approach)
and against one BLAS GEMM of the same shape (the floor of any exact L2 search).

A CIFAR10-shaped random problem, scaled to fit the machine: queries x reference x 3072.

    python benchmarks/knn.py [--queries 2000] [--reference 10000] [--dim 3072] [--k 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from idrs.knn import knn_mean_distance


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--reference", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=3072)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    q = rng.random((args.queries, args.dim), dtype=np.float32)
    ref = rng.random((args.reference, args.dim), dtype=np.float32)
    tq, tref = torch.from_numpy(q), torch.from_numpy(ref)

    def cdist_topk():  # buozyte/biased-idrs knn.py: cdist over the whole set, then topk
        out = []
        for start in range(0, len(tq), 100):
            d = torch.cdist(tq[start:start + 100], tref, p=2)
            out.append(d.topk(args.k, largest=False).values.mean(1))
        return torch.cat(out)

    faiss_t = best_of(lambda: knn_mean_distance(q, ref, args.k, use_gpu=False), args.repeats)
    cdist_t = best_of(cdist_topk, args.repeats)
    gemm_t = best_of(lambda: tq @ tref.T, args.repeats)
    agree = np.abs(knn_mean_distance(q, ref, args.k) - cdist_topk().numpy()).max()
    print(f"{args.queries} queries x {args.reference} reference x {args.dim} dims, k = {args.k}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"one GEMM (torch):  {gemm_t:7.3f} s")
    print(f"FAISS (idrs.knn):  {faiss_t:7.3f} s  = {faiss_t / gemm_t:.2f}x the GEMM")
    print(f"cdist + topk:      {cdist_t:7.3f} s  = {cdist_t / gemm_t:.2f}x the GEMM, "
          f"{cdist_t / faiss_t:.2f}x FAISS")
    print(f"max |FAISS - cdist| mean distance: {agree:.2e}")


if __name__ == "__main__":
    main()
