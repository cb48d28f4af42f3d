"""Cohen et al.'s released checkpoints as base models. The checkpoints here are built in
exactly their layout: their bearpaw CIFAR ResNet and torchvision's ResNet-50 in
DataParallel, behind a NormalizeLayer without buffers, re-created from their code's
structure (code/archs/cifar_resnet.py, code/architectures.py, code/datasets.py)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from idrs.engine.pretrained import (
    COHEN_NORMALIZATION,
    CheckpointMismatchError,
    load_cohen_checkpoint,
)
from idrs.engine.train import CheckpointError, load_model
from idrs.files import file_sha256
from idrs.workflow.registry import Evaluation


class CohenNormalize(nn.Module):  # datasets.NormalizeLayer: plain tensors, no buffers
    def __init__(self, means, sds):
        super().__init__()
        self.means, self.sds = torch.tensor(means), torch.tensor(sds)

    def forward(self, x):
        b, c, h, w = x.shape
        means = self.means.repeat((b, h, w, 1)).permute(0, 3, 1, 2)
        sds = self.sds.repeat((b, h, w, 1)).permute(0, 3, 1, 2)
        return (x - means) / sds


class Block(nn.Module):  # bearpaw BasicBlock
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class BearpawResNet(nn.Module):
    def __init__(self, depth, num_classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.inplanes = 16
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(16, n)
        self.layer2 = self._make_layer(32, n, 2)
        self.layer3 = self._make_layer(64, n, 2)
        self.avgpool = nn.AvgPool2d(8)
        self.fc = nn.Linear(64, num_classes)

    def _make_layer(self, planes, blocks, stride=1):
        down = None
        if stride != 1 or self.inplanes != planes:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                                 nn.BatchNorm2d(planes))
        layers = [Block(self.inplanes, planes, stride, down)]
        self.inplanes = planes
        return nn.Sequential(*layers, *[Block(planes, planes) for _ in range(1, blocks)])

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))
        return self.fc(self.avgpool(x).view(x.size(0), -1))


def randomised(model):
    """Weights and BatchNorm statistics that are not the initial ones."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) / math.sqrt(max(p[0].numel(), 1)))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def save_cohen(path, arch, net, dataset):
    seq = nn.Sequential(CohenNormalize(*COHEN_NORMALIZATION[dataset]), net)
    optimizer = torch.optim.SGD(seq.parameters(), lr=0.1, momentum=0.9)
    torch.save({"epoch": 90, "arch": arch, "state_dict": seq.state_dict(),
                "optimizer": optimizer.state_dict()}, path)
    return seq.eval()


def test_cifar_resnet_checkpoint_gives_their_logits(tmp_path):
    path = tmp_path / "checkpoint.pth.tar"
    theirs = save_cohen(path, "cifar_resnet20", randomised(BearpawResNet(20)), "cifar10")
    assert next(iter(torch.load(path)["state_dict"])).startswith("1.")
    ours, meta = load_model(path, dataset="cifar10")
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    assert meta["arch"] == "cifar_resnet20" and meta["dataset"] == "cifar10"
    assert len(file_sha256(path)) == 64


@pytest.mark.slow
def test_imagenet_resnet50_in_dataparallel_gives_their_logits(tmp_path):
    from torchvision.models import resnet50
    path = tmp_path / "checkpoint.pth.tar"
    theirs = save_cohen(path, "resnet50", nn.DataParallel(randomised(resnet50())), "imagenet")
    assert next(iter(torch.load(path)["state_dict"])).startswith("1.module.")
    ours, _ = load_model(path, dataset="imagenet")
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-4)


def test_mismatching_or_corrupt_files_are_refused_naming_the_key(tmp_path):
    path = tmp_path / "c.pth.tar"
    save_cohen(path, "cifar_resnet20", BearpawResNet(20), "cifar10")
    state = torch.load(path)
    good = dict(state["state_dict"])

    def refused(state_dict, message, arch="cifar_resnet20", dataset="cifar10"):
        torch.save({**state, "arch": arch, "state_dict": state_dict}, path)
        with pytest.raises(CheckpointMismatchError, match=message):
            load_cohen_checkpoint(path, dataset)

    shapes = {**good, "1.fc.weight": torch.zeros(7, 64)}
    refused(shapes, r"key '1.fc.weight' has shape \(7, 64\), cifar_resnet20 needs \(10, 64\)")
    missing = {k: v for k, v in good.items() if k != "1.layer2.0.downsample.0.weight"}
    refused(missing, "missing key '1.layer2.0.downsample.0.weight'")
    refused({**good, "1.extra.weight": torch.zeros(1)}, "unexpected key '1.extra.weight'")
    refused(good, "cifar_resnet110", arch="cifar_resnet110")  # a 20-layer file as ResNet-110
    refused(good, "certifies cifar10, not mnist", dataset="mnist")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="unreadable"):
        load_model(path)


def test_certify_records_carry_the_checkpoint_path_and_sha256(tmp_path):
    """A Cohen checkpoint certifies through certify_job like a trained model, on CIFAR10
    read from torchvision's on-disk files (tiny ones written here: no download)."""
    import pickle

    from idrs.engine.data import _CIFAR_FILES
    from idrs.workflow import jobs
    rng = np.random.default_rng(0)
    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in _CIFAR_FILES:
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": rng.integers(0, 256, (4, 3072)).astype(np.uint8),
                         b"labels": list(rng.integers(0, 10, 4))}, fh)
    path = tmp_path / "checkpoint.pth.tar"
    save_cohen(path, "cifar_resnet20", randomised(BearpawResNet(20)), "cifar10")
    spec = {"name": "cifar10", "root": str(tmp_path / "data"), "download": False}
    records = jobs.certify_job(path, spec, tmp_path / "r.parquet",
                               Evaluation(sigma=0.25, n0=10, n=50))
    assert set(records.model) == {str(path)} and set(records.model_sha256) == {file_sha256(path)}
    assert set(records.arch) == {"cifar_resnet20"} and len(records) == 4
