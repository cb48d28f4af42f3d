"""Memory and time of sigma(x)'s kNN choices at ImageNet scale, measured on a scaled-down
run and extrapolated (idrs.engine.features).

Each choice is timed on ``--reference`` x ``--queries`` ImageNet-shaped images
(3 x 224 x 224, uniform random: cost does not depend on the pixels); the kNN cost is
then scaled linearly in reference size x queries (a GEMM's), the map's cost in images,
to ImageNet's 1,281,167 training images and its 50,000 validation queries.

    python benchmarks/knn_features.py [--reference 2000] [--queries 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from idrs.engine.features import FeatureMap
from idrs.engine.knn import knn_mean_distance

SHAPE = (3, 224, 224)
TRAIN, VAL = 1_281_167, 50_000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    ref_x = rng.random((args.reference, *SHAPE), dtype=np.float32)
    q_x = rng.random((args.queries, *SHAPE), dtype=np.float32)
    choices = [("exact, all training points", FeatureMap("none"), TRAIN),
               ("subset of 100,000 training points", FeatureMap("none"), 100_000),
               ("8x8 pooling (2,352 dims), all points", FeatureMap("pool", factor=8), TRAIN),
               ("8x8 pooling, subset of 100,000", FeatureMap("pool", factor=8), 100_000),
               ("PCA to 256 dims, all points", FeatureMap("pca", dim=256,
                                                          pca_sample=args.reference), TRAIN)]
    print(f"measured on {args.reference} reference x {args.queries} query images of "
          f"{SHAPE}, k = {args.k}; extrapolated to {VAL:,} queries against the reference "
          "size shown\n")
    print("| choice | dims | reference memory (float32) | fit | map time | kNN time | "
          "extrapolated: memory | map | kNN |\n|---|---|---|---|---|---|---|---|---|")
    for name, fmap, ref_size in choices:
        start = time.perf_counter()
        fmap.fit(ref_x)  # PCA: an SVD of the sample (not extrapolated: a one-off)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        ref, q = fmap.transform(ref_x), fmap.transform(q_x)
        map_s = time.perf_counter() - start
        start = time.perf_counter()
        knn_mean_distance(q, ref, args.k, use_gpu=False)
        knn_s = time.perf_counter() - start
        dims = ref.shape[1]
        per_image_map = map_s / (len(ref_x) + len(q_x))
        scale = (ref_size * VAL) / (len(ref) * len(q))
        print(f"| {name} | {dims:,} | {ref.nbytes / 2**20:.0f} MB | {fit_s:.1f} s | "
              f"{map_s:.2f} s | "
              f"{knn_s:.2f} s | {ref_size * dims * 4 / 2**30:,.1f} GB | "
              f"{per_image_map * (ref_size + VAL) / 3600:,.2f} h | "
              f"{knn_s * scale / 3600:,.1f} h |")


if __name__ == "__main__":
    main()
