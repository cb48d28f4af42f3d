"""Gaussian-augmentation training (Cohen et al.; input-dependent per Appendix E.4).

Every training input gets noise :math:`\\mathcal N(0, \\sigma_i^2 I)` added in pixel
units before the model's normalisation layer, with :math:`\\sigma_i = \\sigma_{tr}`
(constant) or :math:`\\sigma_i = \\sigma_{tr} \\exp(trr\\,(\\bar d_k(x_i) - m))` from the
sample's stored kNN distance (self excluded). Defaults are Cohen et al.'s CIFAR recipe.

A seed fixes everything random: initialisation, data order, augmentation, noise and
dropout (separate generators whose states are checkpointed), so two CPU runs with the
same seed give identical weights, and a run killed and resumed from its checkpoint gives
the same weights as an uninterrupted one.

``precision="bf16"`` trains under bfloat16 autocast with channels_last tensors on CUDA
(the noise and the augmentation stay float32); the default is float32, which was faster
for ResNet-110 at batch 400 on an H200 (5.1 against 5.6 s per epoch,
benchmarks/results/gpu_check_h200_2026-11-28_train.md). The model file records the
precision that trained it (``train_precision``).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .models import bf16_autocast, build_model
from .progress import Progress
from .train_config import TrainConfig, compile_mode

log = logging.getLogger(__name__)

__all__ = ["TrainConfig", "train", "train_one_epoch", "evaluate", "load_model", "CheckpointError"]


class CheckpointError(RuntimeError):
    """A checkpoint or model file is unreadable or belongs to another run."""


def _atomic_save(obj, path: Path):
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _load(path: Path, what: str, fix: str):
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise CheckpointError(f"{what} {path} is unreadable ({type(err).__name__}: {err}); "
                              f"{fix}") from None


def crop_flip(x, generator, padding=4):
    """Random crop with zero padding and random horizontal flip (CIFAR10), per sample."""
    b, _, h, w = x.shape
    padded = nn.functional.pad(x, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=x.device)
    flip = torch.rand(b, generator=generator, device=x.device) < 0.5
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = dx[:, None] + torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, None, :]
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def training_precision(precision, device) -> str:
    """``"bf16"`` or ``"fp32"``: what ``precision`` means on ``device``. bfloat16 autocast
    trains on CUDA only (on a CPU it is slower than float32)."""
    if precision == "bf16":
        return "bf16" if bf16_autocast(True, device, "precision bf16") else "fp32"
    return precision


def _metrics_append(path: Path, row: dict):
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def train(dataset, outdir, config: TrainConfig, *, train_distances=None, device="cpu",
          progress=None, deterministic=False):
    """Train a base classifier with Gaussian augmentation; return the final model's path.

    Writes to ``outdir``: ``checkpoint.pth`` every epoch (atomically: model, optimiser,
    scheduler, every RNG state, epoch, config), ``metrics.csv`` (one row per epoch) and,
    at the end, ``model.pth``. An existing checkpoint of the same configuration is
    resumed; one of another configuration is an error. ``progress=False`` is silent;
    otherwise batches are reported with rate and ETA (:class:`idrs.engine.progress.Progress`)
    and every epoch ends with one line of loss and accuracies. ``deterministic``: only
    deterministic kernels (``torch.use_deterministic_algorithms``), so that two runs on
    one CUDA device give bitwise the same weights (CPU runs always do).
    """
    with _deterministic_kernels(deterministic):
        return _train(dataset, Path(outdir), config, train_distances, torch.device(device),
                      progress)


@contextlib.contextmanager
def _deterministic_kernels(enabled):
    """Deterministic kernels inside the block only (the flags are process-wide, so they
    are restored afterwards). cuBLAS reads ``CUBLAS_WORKSPACE_CONFIG`` when it starts:
    a process that ran CUDA matrix products before needs it set from the outset.
    A compiled step also needs Inductor's deterministic mode: its lowering avoids atomic
    adds under ``use_deterministic_algorithms``, but without the mode it still picks
    kernel configurations by timing them, and two reductions that sum in other orders
    round differently."""
    if not enabled:
        yield
        return
    from torch._inductor import config as inductor
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
              os.environ.get("CUBLAS_WORKSPACE_CONFIG"), inductor.deterministic)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's requirement
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    inductor.deterministic = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.benchmark = before[1]
        if before[2] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        inductor.deterministic = before[3]


def _noise_levels(config, n, train_distances):
    """sigma of each training point: constant, or Equation 1 at the training rate."""
    if config.train_rate <= 0:
        return np.full(n, config.sigma_train)
    if train_distances is None or len(train_distances) != n:
        raise ValueError("train_rate > 0 needs the kNN distances of every training point "
                         "(idrs knn --split train).")
    return config.sigma_train * np.exp(config.train_rate * (np.asarray(train_distances)
                                                             - config.train_m))


@dataclasses.dataclass
class _State:
    """What a checkpoint restores: weights, optimiser, schedule and every RNG."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    order_gen: torch.Generator
    noise_gen: torch.Generator

    def save(self, path, epoch, config_dict, dataset_name):
        rng = {"order": self.order_gen.get_state(), "noise": self.noise_gen.get_state(),
               "torch": torch.get_rng_state()}
        _atomic_save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                      "scheduler": self.scheduler.state_dict(), "rng": rng, "epoch": epoch,
                      "config": config_dict, "dataset": dataset_name}, path)

    def resume(self, path, config_dict, dataset_name) -> int:
        """Restore the checkpoint at ``path`` of the same configuration; the next epoch."""
        state = _load(path, "checkpoint", f"delete it to train {path.parent} from scratch.")
        defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
        # a checkpoint written before a field existed was trained with its default
        old = {**defaults, **(state.get("config") or {}), "dataset": state.get("dataset")}
        new = {**config_dict, "dataset": dataset_name}
        differ = [f"{key}: {old.get(key)!r} there, {new.get(key)!r} here"
                  for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
        if differ:
            raise CheckpointError(
                f"checkpoint {path} belongs to another run ({'; '.join(differ)}); "
                "delete it or choose another output folder.")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.order_gen.set_state(state["rng"]["order"])
        self.noise_gen.set_state(state["rng"]["noise"])
        torch.set_rng_state(state["rng"]["torch"])
        return state["epoch"] + 1


def train_one_epoch(step_model, state, x_train, y_train, sigma_t, config, *, augmentation,
                    layout, autocast, shown, epoch):
    """One pass over the training set in the order of ``state.order_gen``, each batch
    with Gaussian noise of its points' sigma (after crop/flip where ``augmentation``);
    returns (mean loss, accuracy) on the noisy batches."""
    n, device = len(x_train), x_train.device
    shape = (-1,) + (1,) * (x_train.dim() - 1)
    state.model.train()
    perm = torch.randperm(n, generator=state.order_gen).to(device)
    # accumulated on the device: no host round trip per batch
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    loss_fn = nn.CrossEntropyLoss()
    # replayed CUDA graphs may overwrite a step's outputs: each step is marked as new
    graphs = step_model is not state.model and config.compile == "cudagraphs"
    for start in range(0, n, config.batch_size):
        if graphs:
            torch.compiler.cudagraph_mark_step_begin()
        idx = perm[start:start + config.batch_size]
        x = x_train[idx]
        if augmentation == "crop_flip":
            x = crop_flip(x, state.noise_gen)
        noise = torch.randn(x.shape, generator=state.noise_gen, device=device)
        x = (x + noise * sigma_t[idx].reshape(shape)).contiguous(memory_format=layout)
        with autocast():
            logits = step_model(x)
            loss = loss_fn(logits, y_train[idx])
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        total_loss += loss.detach() * len(idx)
        correct += (logits.argmax(1) == y_train[idx]).sum()
        shown.update(1, epoch=epoch + 1)
    return float(total_loss) / n, int(correct) / n


def _train(dataset, outdir, config, train_distances, device, progress):
    outdir.mkdir(parents=True, exist_ok=True)
    final, ckpt_path = outdir / "model.pth", outdir / "checkpoint.pth"
    metrics = outdir / "metrics.csv"
    n = len(dataset.x_train)
    sigmas = _noise_levels(config, n, train_distances)
    x_train = torch.as_tensor(dataset.x_train, device=device)
    y_train = torch.as_tensor(dataset.y_train, device=device)
    sigma_t = torch.as_tensor(sigmas, dtype=torch.float32, device=device)

    torch.manual_seed(config.seed)
    model = build_model(config.arch, dataset.shape, dataset.num_classes, dataset.mean,
                        dataset.std).to(device)
    precision = training_precision(config.precision, device)
    # channels_last is what bf16 convolutions want on CUDA
    layout = (torch.channels_last if precision == "bf16" and x_train.dim() == 4
              else torch.contiguous_format)
    model = model.to(memory_format=layout)
    mode = compile_mode(config.compile, device.type)
    step_model = model if mode is None else torch.compile(model, mode=mode)
    autocast = lambda: torch.autocast(device.type, torch.bfloat16,  # noqa: E731
                                      enabled=precision == "bf16")
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    state = _State(model, optimizer,
                   torch.optim.lr_scheduler.StepLR(optimizer, config.lr_step, config.gamma),
                   torch.Generator().manual_seed(config.seed),
                   torch.Generator(device=device).manual_seed(config.seed + 1))
    start_epoch = 0
    config_dict = dataclasses.asdict(config)
    if ckpt_path.exists():
        start_epoch = state.resume(ckpt_path, config_dict, dataset.name)
        log.info("resuming %s at epoch %d", outdir, start_epoch)
    elif metrics.exists():
        metrics.unlink()  # rows of a run whose checkpoint is gone would be stale
    steps = -(-n // config.batch_size)
    shown = Progress((config.epochs - start_epoch) * steps, "train", "batches",
                     enabled=progress is not False)
    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        loss, acc = train_one_epoch(step_model, state, x_train, y_train, sigma_t, config,
                                    augmentation=dataset.augmentation, layout=layout,
                                    autocast=autocast, shown=shown, epoch=epoch)
        lr = optimizer.param_groups[0]["lr"]
        state.scheduler.step()
        with autocast():
            test_acc, noisy_acc = evaluate(model, dataset, config.sigma_train, device,
                                           seed=config.seed + 1000 + epoch)
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": loss, "train_acc": acc,
               "test_acc": test_acc, "test_acc_noisy": noisy_acc,
               "seconds": round(time.perf_counter() - started, 3), "precision": precision}
        shown.note(f"epoch {epoch + 1}/{config.epochs} loss {loss:.4f} "
                   f"test {test_acc:.4f} noisy {noisy_acc:.4f} ({row['seconds']:.0f} s)")
        state.save(ckpt_path, epoch, config_dict, dataset.name)
        _metrics_append(metrics, row)
    shown.close()
    _atomic_save({"arch": config.arch, "in_shape": dataset.shape,
                  "num_classes": dataset.num_classes, "mean": dataset.mean, "std": dataset.std,
                  "state_dict": model.state_dict(), "config": config_dict,
                  "dataset": dataset.name, "train_precision": precision}, final)
    return final


@torch.inference_mode()
def evaluate(model, dataset, sigma, device, seed, batch_size=1000):
    """Clean and noisy (constant ``sigma``) test accuracy of the base classifier."""
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    x_test = torch.as_tensor(dataset.x_test, device=device)
    y_test = torch.as_tensor(dataset.y_test, device=device)
    clean = noisy = 0
    for start in range(0, len(x_test), batch_size):
        x, y = x_test[start:start + batch_size], y_test[start:start + batch_size]
        clean += int((model(x).argmax(1) == y).sum())
        noise = torch.randn(x.shape, generator=gen, device=device) * sigma
        noisy += int((model(x + noise).argmax(1) == y).sum())
    return clean / len(x_test), noisy / len(x_test)


def load_model(path, device="cpu", dataset=None):
    """The model saved by :func:`train`, or a checkpoint of Cohen et al.
    (:func:`idrs.engine.pretrained.load_cohen_checkpoint`; ``dataset`` is checked against its
    architecture), and its metadata dict, in eval mode."""
    from .pretrained import is_cohen_checkpoint, load_cohen_checkpoint
    state = _load(Path(path), "model file", "rerun `idrs train` to regenerate it, or check "
                  "the file of a pretrained model.")
    if is_cohen_checkpoint(state):
        model, meta = load_cohen_checkpoint(path, dataset, state=state)
        return model.to(device), meta
    try:
        model = build_model(state["arch"], state["in_shape"], state["num_classes"],
                            state["mean"], state["std"])
        model.load_state_dict(state["state_dict"])
    except Exception as err:
        raise CheckpointError(f"model file {path} does not hold a model of idrs.engine.train "
                              f"({err}); rerun `idrs train` to regenerate it.") from None
    meta = {k: v for k, v in state.items() if k != "state_dict"}
    return model.to(device).eval(), meta
