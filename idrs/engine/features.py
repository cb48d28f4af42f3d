r"""sigma(x) at high dimension: kNN distances to a subset of the training set and/or in
the image of a map with operator norm <= 1.

Exact kNN over ImageNet (1.28M x 150,528 float32, about 770 GB) is out of reach, but
Theorem 4.1 only needs :math:`d(x)` to be 1-Lipschitz, and

* the mean distance to the k nearest points of *any fixed* set is 1-Lipschitz, so a
  fixed random subset of the training set (seeded, chosen before certifying) keeps it;
* so is :math:`d(\phi(x))` for any :math:`\phi` with
  :math:`\lVert\phi(x)-\phi(y)\rVert \le \lVert x-y\rVert`: here orthogonal projections
  written in an orthonormal basis, :math:`\phi(x) = Wx` with orthonormal rows, which
  have operator norm exactly 1:

  * ``pool``: f x f sum pooling divided by f (the coefficients of the projection onto
    block-constant images in the orthonormal basis ``1_block / f``);
  * ``pca``: the top principal directions of a sample of training points (rows made
    orthonormal, then divided by their largest singular value times ``1 + 1e-10``, so
    the norm stays below 1 whatever the SVD's rounding).

Rounding: :math:`\phi` is computed in float64, then stored in float32 (the kNN's
input type). Each coordinate of :math:`Wx` in float64 is within :math:`\gamma_N\lVert
x\rVert` of exact (a dot product with a unit row), and the float32 rounding adds
:math:`u_{32}\lVert\phi(x)\rVert`, so :math:`\lVert\tilde\phi(x)-\phi(x)\rVert \le
c\lVert x\rVert` with :math:`c = \gamma_N\sqrt{p}\,(1+u_{32}) + u_{32}`. A distance
between computed features is then within :math:`c(\lVert x\rVert + \lVert y\rVert)`
of the exact one, and the mean of the k smallest within :math:`c(\lVert x\rVert +
\max_y\lVert y\rVert)`: :func:`feature_error` returns that, and :mod:`idrs.certify.sigma`
adds it to the certificate's slack like the kNN's own rounding.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_option
from ..certify.rounding import U32, U64, gamma

__all__ = ["FeatureMap", "feature_error", "MAPS"]

MAPS = ("none", "pool", "pca")
#: Rows of a block when features are computed (bounds the float64 temporaries).
_ROWS = 256


class FeatureMap:
    """A fixed reference subset and map; ``fit`` on training data, then ``transform``.

    Parameters
    ----------
    kind : {"none", "pool", "pca"}
    dim : int
        ``pca``: number of principal directions.
    factor : int
        ``pool``: side of the pooling blocks (image height and width divisible by it).
    reference : int or None
        Training points kept as the kNN reference set (None: all).
    seed : int
        Seed of the reference subset and of PCA's sample.
    pca_sample : int
        Training points PCA is fitted on.
    """

    def __init__(self, kind="none", *, dim=256, factor=4, reference=None, seed=0,
                 pca_sample=10_000):
        check_option(kind, "feature map", MAPS)
        self.kind, self.dim, self.factor = kind, int(dim), int(factor)
        self.reference, self.seed, self.pca_sample = reference, int(seed), int(pca_sample)
        self.weights = None

    def reference_indices(self, n_train):
        """The fixed subset of training indices (sorted), or ``slice(None)`` for all of
        them (a view of the training set, not a copy)."""
        if self.reference is None or self.reference >= n_train:
            return slice(None)
        rng = np.random.default_rng([self.seed, 1])
        return np.sort(rng.choice(n_train, size=int(self.reference), replace=False))

    def fit(self, x_train):
        if self.kind == "pca":
            rng = np.random.default_rng([self.seed, 2])
            rows = rng.choice(len(x_train), size=min(self.pca_sample, len(x_train)),
                              replace=False)
            sample = np.asarray(x_train[np.sort(rows)], dtype=np.float64)
            sample = sample.reshape(len(sample), -1)
            sample -= sample.mean(axis=0)
            _, _, vt = np.linalg.svd(sample, full_matrices=False)
            w, _ = np.linalg.qr(vt[:self.dim].T)  # orthonormal columns, in float64
            w = w.T
            w /= np.linalg.svd(w, compute_uv=False)[0] * (1 + 1e-10)
            self.weights = w
        elif self.kind == "pool" and x_train.ndim != 4:
            raise ValueError(f"pool needs image data (n, c, h, w), got {x_train.shape}.")
        return self

    @property
    def coefficient(self) -> float:
        """c of :func:`feature_error`: the computed features' error per unit of input norm."""
        if self.kind == "none":
            return 0.0
        # pool: each output is a sum of f^2 terms and a division, and the blocks are
        # disjoint, so the errors add up to gamma_(f^2+1) |x| in norm; PCA: each of the p
        # outputs is a dot product of a unit row with x, within gamma_N |x|
        n = self.factor ** 2 + 1 if self.kind == "pool" else self.weights.shape[1]
        p = 1 if self.kind == "pool" else self.weights.shape[0]
        return gamma(n, U64) * np.sqrt(p) * (1 + U32) + U32

    def transform(self, x):
        """float32 features of ``x`` (n, ...)."""
        if self.kind == "none":
            return np.ascontiguousarray(np.asarray(x).reshape(len(x), -1), dtype=np.float32)
        out = []
        for s in range(0, len(x), _ROWS):
            block = np.asarray(x[s:s + _ROWS], dtype=np.float64)
            if self.kind == "pool":
                n, c, h, w = block.shape
                f = self.factor
                if h % f or w % f:
                    raise ValueError(f"pool factor {f} does not divide the image size {h}x{w}.")
                pooled = block.reshape(n, c, h // f, f, w // f, f).sum(axis=(3, 5)) / f
                out.append(pooled.reshape(n, -1).astype(np.float32))
            else:
                out.append((block.reshape(len(block), -1) @ self.weights.T).astype(np.float32))
        return np.concatenate(out)

    def describe(self) -> str:
        sub = "all training points" if self.reference is None else f"{self.reference} points"
        what = {"none": "the input space", "pool": f"{self.factor}x{self.factor} sum pooling / "
                f"{self.factor}", "pca": f"PCA to {self.dim} dimensions"}[self.kind]
        return f"{what}, reference {sub} (seed {self.seed})"


def row_norms(x) -> np.ndarray:
    """L2 norm of each row of ``x`` (an array, or a lazily read image folder), in float64,
    in blocks."""
    out = []
    for s in range(0, len(x), _ROWS):
        block = np.asarray(x[s:s + _ROWS], dtype=np.float64).reshape(-1, int(np.prod(x.shape[1:])))
        out.append(np.sqrt(np.einsum("ij,ij->i", block, block)))
    return np.concatenate(out) if out else np.zeros(0)


def feature_error(x, reference_norm, coefficient):
    """Bound on the deviation of the mean kNN distance between computed features from
    the exact :math:`d(\\phi(x))`: ``coefficient * (|x| + max |y|)`` per row of ``x``."""
    return coefficient * (row_norms(x) + reference_norm)
