"""Base models from files: Cohen et al.'s released checkpoints, and the provenance (path,
SHA-256) of any model file.

Cohen et al.'s ``train.py`` saves ``{"epoch", "arch", "state_dict", "optimizer"}``, the
state dict of ``Sequential(NormalizeLayer, net)``. Their NormalizeLayer keeps its
constants as plain tensors, not buffers, so the file holds none of them: every key is
the network's, prefixed ``1.`` (CIFAR10 ResNet-110/20, bearpaw's layout, which is the
layout of :class:`idrs.engine.models.CifarResNet`) or ``1.module.`` (ImageNet ResNet-50,
wrapped in ``DataParallel``; torchvision's layout). The constants are those of their
``datasets.py``, applied here by the model's own first layer, so the forward pass is
theirs: pixels in [0, 1], noise added before normalisation.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .models import build_model

__all__ = ["COHEN_ARCHITECTURES", "COHEN_NORMALIZATION", "load_cohen_checkpoint",
           "is_cohen_checkpoint", "CheckpointMismatchError"]

#: Channel means and standard deviations of Cohen et al.'s ``datasets.py``.
COHEN_NORMALIZATION = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
#: Cohen et al.'s architectures: (dataset, input shape, classes, key prefix in the file).
COHEN_ARCHITECTURES = {
    "cifar_resnet110": ("cifar10", (3, 32, 32), 10, "1."),
    "cifar_resnet20": ("cifar10", (3, 32, 32), 10, "1."),
    "resnet50": ("imagenet", (3, 224, 224), 1000, "1.module."),
}


class CheckpointMismatchError(ValueError):
    """A checkpoint whose keys or shapes are not those of its architecture."""


def is_cohen_checkpoint(state) -> bool:
    """A dict in the layout of Cohen et al.'s ``train.py`` (not one of ``idrs train``)."""
    return isinstance(state, dict) and "state_dict" in state and "arch" in state \
        and "in_shape" not in state


def load_cohen_checkpoint(path, dataset=None, *, state=None):
    """``(model, meta)`` from a checkpoint of Cohen et al.: the project's model with the
    file's weights and Cohen's normalisation, in eval mode on the CPU.

    ``dataset`` (optional) must be the architecture's (``cifar10`` or ``imagenet``; a
    derived name such as ``cifar10`` with options is compared by its loader). A file
    whose keys or shapes differ from the architecture's is refused, naming the first
    key that differs.
    """
    path = Path(path)
    if state is None:
        state = torch.load(path, map_location="cpu", weights_only=True)
    if not is_cohen_checkpoint(state):
        raise CheckpointMismatchError(f"{path} is not a checkpoint of Cohen et al.'s train.py "
                                      "(a dict with 'arch' and 'state_dict').")
    arch = state["arch"]
    if arch not in COHEN_ARCHITECTURES:
        raise CheckpointMismatchError(f"{path}: arch {arch!r} is not one of Cohen et al.'s "
                                      f"{sorted(COHEN_ARCHITECTURES)}.")
    family, shape, classes, prefix = COHEN_ARCHITECTURES[arch]
    if dataset is not None and dataset != family:
        raise CheckpointMismatchError(f"{path}: a {arch} of Cohen et al. certifies {family}, "
                                      f"not {dataset}.")
    mean, std = COHEN_NORMALIZATION[family]
    model = build_model(arch, shape, classes, mean, std)
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith("0.")}
    given = {}
    for key, value in state["state_dict"].items():
        if not key.startswith(prefix):
            raise CheckpointMismatchError(f"{path}: key {key!r} lacks the prefix {prefix!r} of "
                                          f"Cohen et al.'s {arch} files.")
        given["1." + key[len(prefix):]] = value
    for key in list(given) + [k for k in expected if k not in given]:
        if key not in expected:
            raise CheckpointMismatchError(f"{path}: unexpected key "
                                          f"{prefix + key[2:]!r} for {arch}.")
        if key not in given:
            raise CheckpointMismatchError(f"{path}: missing key {prefix + key[2:]!r} of "
                                          f"{arch}.")
        if tuple(given[key].shape) != tuple(expected[key].shape):
            raise CheckpointMismatchError(
                f"{path}: key {prefix + key[2:]!r} has shape {tuple(given[key].shape)}, "
                f"{arch} needs {tuple(expected[key].shape)}.")
    model.load_state_dict(given, strict=False)  # the normalisation buffers are ours
    meta = {"arch": arch, "dataset": family, "in_shape": shape, "num_classes": classes,
            "mean": mean, "std": std, "source": "cohen",
            "config": {"seed": 0, "sigma_train": float("nan"), "train_rate": 0.0}}
    return model.eval(), meta
