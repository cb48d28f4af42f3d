"""ImageNet read from the standard on-disk layout (never downloaded), with Cohen et
al.'s preprocessing: resize to 256, centre crop 224, pixels in [0, 1] (normalisation is
the model's first layer).

The layout is torchvision's ``ImageFolder``: ``<root>/imagenet/val/<wnid>/<image>`` with
one folder per class (Cohen et al.'s ``valprep.sh`` makes it from the validation
archive), and ``<root>/imagenet/train/<wnid>/...`` for the training set. Class indices
follow the sorted folder names, as in Cohen et al.'s code. Images are decoded on demand:
:class:`ImageFolderArray` behaves like a read-only float32 array whose rows load when
indexed, so a certify job reads only its shard's images and a kNN job streams.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .dataset import ArrayDataset, DatasetUnavailableError

__all__ = ["ImageFolderArray", "imagenet", "IMAGENET_SHAPE"]

IMAGENET_SHAPE = (3, 224, 224)
#: ImageNet-1k: validation images (the test split here) and classes.
VAL_IMAGES, CLASSES = 50_000, 1000


class ImageFolderArray:
    """``len``, ``shape``, ``dtype`` and ``x[i]``, ``x[indices]``, ``x[a:b]`` of an image
    folder, decoded and preprocessed on access. Indexing with a slice or an index array
    returns a lazy view; ``np.asarray`` of a view decodes its images."""

    dtype = np.dtype(np.float32)

    def __init__(self, samples, rows=None):
        self.samples = samples            # [(path, class index)], in ImageFolder order
        self.rows = np.arange(len(samples)) if rows is None else np.asarray(rows)

    def __len__(self):
        return len(self.rows)

    @property
    def shape(self):
        return (len(self), *IMAGENET_SHAPE)

    @property
    def ndim(self):
        return 4

    #: Decoded on access: never load the whole folder into memory at once.
    lazy = True

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return _load(self.samples[self.rows[key]][0])
        return ImageFolderArray(self.samples, self.rows[key])

    def __array__(self, dtype=None, copy=None):
        out = np.empty(self.shape, dtype=np.float32)
        for i, row in enumerate(self.rows):
            out[i] = _load(self.samples[row][0])
        return out if dtype is None else out.astype(dtype)

    def labels(self):
        return np.asarray([self.samples[r][1] for r in self.rows], dtype=np.int64)

    def fingerprint(self) -> str:
        """Of the files (relative path and size), not the pixels: hashing 1.28M images in
        every job would cost more than the jobs."""
        h = hashlib.sha256()
        for row in self.rows:
            path = Path(self.samples[row][0])
            h.update(f"{path.parent.name}/{path.name}:{path.stat().st_size}\n".encode())
        return h.hexdigest()[:16]


def _load(path):
    from PIL import Image
    from torchvision import transforms
    with Image.open(path) as image:
        tensor = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224),
                                     transforms.ToTensor()])(image.convert("RGB"))
    return tensor.numpy()


def _folder(root, split):
    from torchvision.datasets import ImageFolder
    folder = Path(root) / "imagenet" / split
    try:
        return ImageFolder(str(folder)).samples
    except (FileNotFoundError, OSError) as err:
        raise DatasetUnavailableError(
            f"ImageNet's {split} set is not in {folder} ({err}). idrs never downloads "
            f"ImageNet: place it there in torchvision's ImageFolder layout, "
            f"{folder}/<wnid>/<image>.JPEG, one folder per class (for the validation set, "
            "Cohen et al.'s valprep.sh sorts the images into class folders).") from None


def imagenet(root):
    """ImageNet with lazily decoded images (see the module docstring). Without a
    ``train`` folder the training set is empty: certifying needs only ``val`` (with
    constant sigma), and a kNN job then names the missing folder."""
    test = ImageFolderArray(_folder(root, "val"))
    try:
        train = ImageFolderArray(_folder(root, "train"))
    except DatasetUnavailableError:
        train = ImageFolderArray([])
    return ArrayDataset("imagenet", train, train.labels(), test, test.labels(),
                        num_classes=CLASSES)
