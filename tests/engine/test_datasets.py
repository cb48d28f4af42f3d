"""Datasets: torchvision's on-disk formats written here and loaded through the real code,
the offline sets, and the errors a user sees when files are missing or corrupt."""

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from idrs.engine.data import (
    DatasetUnavailableError,
    cifar10,
    cone,
    digits,
    fingerprint,
    load_dataset,
    mnist,
    mnist_subset,
    sectors,
)


def write_idx(path, array):
    # the IDX format of MNIST: magic (0x0803 images / 0x0801 labels), sizes, uint8 data
    magic = 0x0803 if array.ndim == 3 else 0x0801
    with open(path, "wb") as fh:
        fh.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in array.shape))
        fh.write(array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_mnist(tmp_path, rng):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = {"train": rng.integers(0, 256, (20, 28, 28)), "t10k": rng.integers(0, 256, (8, 28, 28))}
    labels = {"train": np.arange(20) % 10, "t10k": np.arange(8) % 10}
    for split in ("train", "t10k"):
        write_idx(raw / f"{split}-images-idx3-ubyte", images[split])
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels[split])
    return tmp_path, images, labels


def test_mnist_loads_torchvision_files(tiny_mnist):
    root, images, labels = tiny_mnist
    ds = mnist(root, download=False)
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_test.shape == (8, 1, 28, 28)
    np.testing.assert_allclose(ds.x_train[:, 0] * 255, images["train"], atol=1e-4)
    np.testing.assert_array_equal(ds.y_test, labels["t10k"])
    assert ds.augmentation is None  # a flipped digit is another digit


def _write_cifar(folder, rng, n_per_batch=4):
    folder.mkdir(parents=True)
    data = {}
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                 "test_batch"]:
        x = rng.integers(0, 256, (n_per_batch, 3072)).astype(np.uint8)
        y = list(rng.integers(0, 10, n_per_batch))
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": x, b"labels": y}, fh)
        data[name] = (x, y)
    return data


def test_cifar10_loads_torchvision_python_batches(tmp_path, rng):
    data = _write_cifar(tmp_path / "cifar-10-batches-py", rng)
    ds = cifar10(tmp_path, download=False)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)
    np.testing.assert_allclose(ds.x_test.reshape(4, -1) * 255, data["test_batch"][0], atol=1e-4)
    assert ds.y_train.tolist()[:4] == data["data_batch_1"][1]
    assert ds.augmentation == "crop_flip" and 0 <= ds.x_train.min() and ds.x_train.max() <= 1


def test_corrupt_cifar_batch_names_the_file_and_the_fix(tmp_path, rng):
    _write_cifar(tmp_path / "cifar-10-batches-py", rng)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"truncated")
    with pytest.raises(DatasetUnavailableError, match="data_batch_3 is not a readable CIFAR10 "
                                                      "batch.*idrs data --dataset cifar10"):
        cifar10(tmp_path, download=False)


@pytest.mark.parametrize("name,files", [("mnist", "train-images-idx3-ubyte"),
                                        ("cifar10", "data_batch_1")])
def test_missing_dataset_names_folder_and_files(tmp_path, name, files):
    with pytest.raises(DatasetUnavailableError) as info:
        load_dataset(name, root=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path) in message and files in message and "\n" not in message


def test_a_failed_download_leaves_no_empty_folder_and_names_the_offline_subset(
        tmp_path, monkeypatch):
    import torchvision.datasets

    class Offline:  # torchvision creates its folders, then the download fails
        def __init__(self, root, train=True, download=False):
            (Path(root) / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)
            raise OSError("no network")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    (tmp_path / "kept").mkdir()
    with pytest.raises(DatasetUnavailableError, match="mnist_subset holds 5,000 real MNIST"):
        load_dataset("mnist", root=tmp_path / "data", download=True)
    assert not (tmp_path / "data").exists() and (tmp_path / "kept").is_dir()


def test_toy_sets_are_seeded_and_shaped_as_the_paper_says():
    a, b, c = sectors(seed=1), sectors(seed=1), sectors(seed=2)
    assert a.x_train.shape == (1000, 2) and a.x_test.shape == (200, 2)
    assert np.bincount(a.y_train).tolist() == [500, 500]
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    angle = np.mod(np.arctan2(a.x_train[:, 1], a.x_train[:, 0]), 2 * np.pi)
    assert angle[a.y_train == 0].max() < 0.35 <= angle[a.y_train == 1].min()  # sharp sector
    high = cone(60, seed=0)
    axis_angle = np.arccos(high.x_train[:, 0] / np.linalg.norm(high.x_train, axis=1))
    assert high.x_train.shape == (1000, 60)
    assert (axis_angle[high.y_train == 0] <= 0.3 + 1e-6).all()
    assert (axis_angle[high.y_train == 1] > 0.3).all()
    with pytest.raises(ValueError, match="dim"):
        load_dataset("cone")


def _within(sample, mean, sd, k=4.0):
    """The sample mean lies within k standard errors of ``mean``."""
    return abs(sample.mean() - mean) <= k * sd / np.sqrt(len(sample))


@pytest.mark.parametrize("scale", [1.0, 5.0])
def test_sectors_radial_law_is_scaled_chi_2(scale):
    ds = sectors(seed=3, n_train=2000, scale=scale)
    r = np.linalg.norm(ds.x_train.astype(np.float64), axis=1)
    # scale * sqrt(chi2_2) is Rayleigh(scale): mean scale sqrt(pi/2), var scale^2 (4-pi)/2
    assert _within(r, scale * np.sqrt(np.pi / 2), scale * np.sqrt((4 - np.pi) / 2))


@pytest.mark.parametrize("dim", [2, 6, 60])
def test_cone_radial_laws_and_the_cone_share(dim):
    chi = load_dataset("cone", dim=dim, seed=4, n_train=2000, radial="chi", scale=3.25)
    r = np.linalg.norm(chi.x_train.astype(np.float64), axis=1)
    assert _within(r, 3.25 * np.sqrt(np.pi / 2), 3.25 * np.sqrt((4 - np.pi) / 2))
    old = load_dataset("cone", dim=dim, seed=4, n_train=2000)  # scale sqrt(N) Exp(1)
    r = np.linalg.norm(old.x_train.astype(np.float64), axis=1)
    assert _within(r, np.sqrt(dim), np.sqrt(dim))
    # half the points per class, the cone class inside the half-angle, the other outside
    angle = np.arccos(chi.x_train[:, 0] / np.linalg.norm(chi.x_train, axis=1))
    assert np.bincount(chi.y_train).tolist() == [2000, 2000]
    assert (angle[chi.y_train == 0] <= 0.3 + 1e-6).all() and (angle[chi.y_train == 1] > 0.3).all()
    # the cone class's angle from the axis follows half_angle * U^(1/(N-1)): mean
    # half_angle (N-1)/N, i.e. uniform directions within the cone's small cap
    cone_angle = angle[chi.y_train == 0]
    mean = 0.3 * (dim - 1) / dim
    sd = 0.3 * np.sqrt((dim - 1) / (dim + 1) - ((dim - 1) / dim) ** 2)
    assert _within(cone_angle, mean, sd)


@pytest.mark.parametrize("dim", [2, 60, 400])
def test_cone_outer_class_spreads_with_the_dimension(dim):
    """With outer_dof_fraction c the spherically symmetric class's radius is
    outer_scale sqrt(chi2(max(2, c N))) (mean and SD from the chi law), the cone class's
    stays Figure 1's law whatever N."""
    from scipy import stats
    ds = load_dataset("cone", dim=dim, seed=5, n_train=2000, radial="chi", scale=3.0,
                      outer_scale=2.0, outer_dof_fraction=0.25)
    r = np.linalg.norm(ds.x_train.astype(np.float64), axis=1)
    outer = stats.chi(max(2.0, 0.25 * dim), scale=2.0)
    assert _within(r[ds.y_train == 1], outer.mean(), outer.std())
    assert _within(r[ds.y_train == 0], 3.0 * np.sqrt(np.pi / 2), 3.0 * np.sqrt((4 - np.pi) / 2))
    with pytest.raises(ValueError, match="outer_dof_fraction.*radial: chi"):
        load_dataset("cone", dim=dim, outer_dof_fraction=0.5)  # the exp law
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        load_dataset("cone", dim=dim, radial="chi", outer_dof_fraction=1.5)


def test_generator_options_are_checked_and_sized():
    from idrs.engine.data import test_size
    assert test_size("cone", n_test=500) == 1000 and test_size("sectors") == 200
    assert test_size("mnist_subset") == 1000
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['scael'\].*allowed"):
        load_dataset("sectors", scael=3)
    with pytest.raises(ValueError, match="takes no options"):
        load_dataset("digits", scale=3)
    with pytest.raises(ValueError, match="radial"):
        load_dataset("cone", dim=2, radial="gauss")


def test_offline_image_sets_are_fixed_stratified_splits():
    for ds, shape, n_test in ((digits(), (1, 8, 8), 450), (mnist_subset(), (1, 28, 28), 1000)):
        assert ds.shape == shape and len(ds.x_test) == n_test
        assert 0 <= ds.x_train.min() and ds.x_train.max() <= 1
        y_all = np.concatenate([ds.y_train, ds.y_test])
        expected = np.bincount(y_all) * n_test / len(y_all)
        assert np.abs(np.bincount(ds.y_test) - expected).max() <= 1  # stratified
    assert fingerprint(digits().x_train) == fingerprint(digits().x_train)
    assert mnist_subset().dim == 784


@pytest.mark.parametrize("name", ["mnist_subset", "digits"])
def test_a_bundled_set_is_cached_in_the_data_root_exactly(tmp_path, name):
    from idrs.engine.dataset import fingerprint
    fresh = load_dataset(name, root=tmp_path)
    (cached_file,) = tmp_path.glob(f"{name}-*.npz")  # named by the shipping package's version
    cached = load_dataset(name, root=tmp_path)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        assert getattr(cached, key).dtype == getattr(fresh, key).dtype
        np.testing.assert_array_equal(getattr(cached, key), getattr(fresh, key))
    assert fingerprint(cached.x_train) == fingerprint(fresh.x_train)
    assert (cached.mean, cached.std, cached.num_classes) == (fresh.mean, fresh.std,
                                                            fresh.num_classes)
    assert cached_file.stat().st_size > 0
