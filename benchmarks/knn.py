"""The kNN mean distance of idrs.engine.knn against one BLAS GEMM of the same shape (the
floor of any exact L2 search), FAISS's float32 search alone (what idrs.engine.knn did before
it recomputed distances in float64), and torch.cdist + topk (the public IDRS code's
approach); then the accuracy of each against an exact float64 reference.

A CIFAR10-shaped random problem, scaled to fit the machine (queries x reference x
3072), or a real dataset's test queries against its training set (``--dataset``).

    python benchmarks/knn.py [--queries 2000] [--reference 10000] [--dim 3072] [--k 20]
    python benchmarks/knn.py --dataset mnist_subset
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch

from idrs.certify.rounding import distance_error_bound
from idrs.engine.knn import knn_mean_distance


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def exact(q, ref, k):
    """float64 differences, one query at a time."""
    ref = ref.astype(np.float64)
    return np.array([np.sort(np.sqrt(((ref - row) ** 2).sum(1)))[:k].mean()
                     for row in q.astype(np.float64)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--reference", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=3072)
    parser.add_argument("--dataset", help="an idrs dataset instead of random data")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check", type=int, default=200,
                        help="queries compared with the exact float64 reference")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="  %(name)s: %(message)s")
    if args.dataset:
        from idrs.engine.data import load_dataset
        ds = load_dataset(args.dataset)
        q, ref = (np.ascontiguousarray(a.reshape(len(a), -1)) for a in (ds.x_test, ds.x_train))
        q = q[:args.queries]
    else:
        rng = np.random.default_rng(0)
        q = rng.random((args.queries, args.dim), dtype=np.float32)
        ref = rng.random((args.reference, args.dim), dtype=np.float32)
    tq, tref = torch.from_numpy(q), torch.from_numpy(ref)
    import faiss
    index = faiss.IndexFlatL2(ref.shape[1])
    index.add(ref)

    def faiss_float32():
        d2, _ = index.search(q, args.k)
        return np.sqrt(np.maximum(d2.astype(np.float64), 0.0)).mean(axis=1)

    def cdist_topk():  # buozyte/biased-idrs knn.py: cdist over the whole set, then topk
        out = []
        for start in range(0, len(tq), 100):
            d = torch.cdist(tq[start:start + 100], tref, p=2)
            out.append(d.topk(args.k, largest=False).values.mean(1))
        return torch.cat(out).numpy()

    print(f"{len(q)} queries x {len(ref)} reference x {q.shape[1]} dims, k = {args.k}, "
          f"{args.dataset or 'uniform random'}, torch threads {torch.get_num_threads()}")
    ours = knn_mean_distance(q, ref, args.k, use_gpu=False)
    ours_t = best_of(lambda: knn_mean_distance(q, ref, args.k, use_gpu=False), args.repeats)
    gemm_t = best_of(lambda: tq @ tref.T, args.repeats)
    faiss_t = best_of(faiss_float32, args.repeats)
    cdist_t = best_of(cdist_topk, args.repeats)
    print(f"one GEMM (torch):        {gemm_t:7.3f} s")
    print(f"idrs.engine.knn (float64):      {ours_t:7.3f} s  = {ours_t / gemm_t:.2f}x the GEMM")
    print(f"FAISS float32 alone:     {faiss_t:7.3f} s  = {faiss_t / gemm_t:.2f}x the GEMM")
    print(f"cdist + topk:            {cdist_t:7.3f} s  = {cdist_t / gemm_t:.2f}x the GEMM")
    n = min(args.check, len(q))
    truth = exact(q[:n], ref, args.k)
    print(f"max error on {n} queries against float64 differences: FAISS float32 "
          f"{np.abs(faiss_float32()[:n] - truth).max():.2e}, cdist float32 "
          f"{np.abs(cdist_topk()[:n] - truth).max():.2e}, idrs.engine.knn "
          f"{np.abs(ours[:n] - truth).max():.2e} (its bound epsilon: max "
          f"{distance_error_bound(ours, q.shape[1], args.k).max():.2e})")


if __name__ == "__main__":
    main()
