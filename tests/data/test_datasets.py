"""Datasets: torchvision's on-disk formats written here and loaded through the real code,
the offline sets, and the errors a user sees when files are missing or corrupt."""

import pickle
import struct

import numpy as np
import pytest

from idrs.data import (DatasetUnavailableError, cifar10, cone, digits, fingerprint,
                       load_dataset, mnist, mnist_subset, sectors)


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
                                                      "batch.*idrs data cifar10"):
        cifar10(tmp_path, download=False)


@pytest.mark.parametrize("name,files", [("mnist", "train-images-idx3-ubyte"),
                                        ("cifar10", "data_batch_1")])
def test_missing_dataset_names_folder_and_files(tmp_path, name, files):
    with pytest.raises(DatasetUnavailableError) as info:
        load_dataset(name, root=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path) in message and files in message and "\n" not in message


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


def test_offline_image_sets_are_fixed_stratified_splits():
    for ds, shape, n_test in ((digits(), (1, 8, 8), 450), (mnist_subset(), (1, 28, 28), 1000)):
        assert ds.shape == shape and len(ds.x_test) == n_test
        assert 0 <= ds.x_train.min() and ds.x_train.max() <= 1
        y_all = np.concatenate([ds.y_train, ds.y_test])
        expected = np.bincount(y_all) * n_test / len(y_all)
        assert np.abs(np.bincount(ds.y_test) - expected).max() <= 1  # stratified
    assert fingerprint(digits().x_train) == fingerprint(digits().x_train)
    assert mnist_subset().dim == 784
