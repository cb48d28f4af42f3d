"""ImageNet from the standard on-disk layout, with Cohen et al.'s preprocessing, read
from small JPEG files written here in that layout (ImageNet cannot be downloaded)."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from idrs.engine.data import DatasetUnavailableError, fingerprint, load_dataset


@pytest.fixture
def folder(tmp_path, rng):
    for split, per_class in (("train", 3), ("val", 2)):
        for wnid in ("n01440764", "n01443537", "n01484850"):
            d = tmp_path / "imagenet" / split / wnid
            d.mkdir(parents=True)
            for i in range(per_class):
                size = (int(rng.integers(240, 400)), int(rng.integers(240, 400)))
                pixels = rng.integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)
                Image.fromarray(pixels).save(d / f"{wnid}_{i}.JPEG")
    return tmp_path


def test_imagenet_reads_the_image_folder_with_cohens_preprocessing(folder):
    ds = load_dataset("imagenet", root=folder)
    assert ds.x_test.shape == (6, 3, 224, 224) and ds.x_train.shape == (9, 3, 224, 224)
    assert list(ds.y_test) == [0, 0, 1, 1, 2, 2] and ds.num_classes == 1000
    path = sorted((folder / "imagenet" / "val" / "n01443537").iterdir())[1]
    expected = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224),
                                   transforms.ToTensor()])(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(ds.x_test[3], expected.numpy())
    batch = np.asarray(ds.x_test[np.array([1, 3])])  # a shard: only these images load
    assert batch.dtype == np.float32 and 0 <= batch.min() and batch.max() <= 1
    np.testing.assert_array_equal(batch[1], expected.numpy())
    assert len(fingerprint(ds.x_train)) == 16
    assert torch.as_tensor(batch).shape == (2, 3, 224, 224)


def test_a_missing_imagenet_names_what_to_place_where(tmp_path):
    with pytest.raises(DatasetUnavailableError, match=r"imagenet/val.*never downloads "
                       r"ImageNet.*<wnid>/<image>\.JPEG"):
        load_dataset("imagenet", root=tmp_path)


def test_knn_features_stream_a_lazy_image_folder(folder, tmp_path):
    """sigma(x) of ImageNet-shaped inputs: pooled features of a lazily read folder."""
    from idrs.workflow import jobs
    spec = {"name": "imagenet", "root": str(folder)}
    out = tmp_path / "d.parquet"
    jobs.knn_job(spec, "test", 2, out, use_gpu=False,
                 features={"kind": "pool", "factor": 8, "reference": 5})
    ds = jobs._dataset(spec)
    d, info = jobs._distances(ds, out, "test", 2, with_info=True)
    assert len(d) == 6 and info["knn_dim"] == 3 * 28 * 28 and np.all(d > 0)


def test_without_a_train_folder_certify_data_loads_and_knn_and_training_say_why(folder):
    import shutil

    from idrs.engine.train_config import TrainConfig
    from idrs.workflow import jobs
    spec = {"name": "imagenet", "root": str(folder)}
    with pytest.raises(ValueError, match="not trained on here.*pretrained"):
        jobs.train_job(spec, TrainConfig(arch="resnet50", sigma_train=0.25), folder / "m")
    shutil.rmtree(folder / "imagenet" / "train")
    ds = load_dataset("imagenet", root=folder)
    assert len(ds.x_test) == 6 and len(ds.x_train) == 0
    with pytest.raises(ValueError, match="no training set here.*imagenet/train"):
        jobs.knn_job(spec, "test", 2, folder / "d.parquet", use_gpu=False)
