"""Training: determinism by seed, resume after a kill, checkpoint errors, sigma(x) noise."""

import dataclasses

import numpy as np
import pytest
import torch

import idrs.engine.train
from idrs.engine.data import digits, sectors
from idrs.engine.models import build_model
from idrs.engine.train import CheckpointError, TrainConfig, crop_flip, load_model, train

CONFIG = TrainConfig(arch="mlp", epochs=4, batch_size=100, lr=0.05, lr_step=2,
                     sigma_train=0.25, seed=3)


def weights(path):
    return torch.load(path, weights_only=False)["state_dict"]


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    ds = sectors()
    a = weights(train(ds, tmp_path / "a", CONFIG, progress=False))
    b = weights(train(ds, tmp_path / "b", CONFIG, progress=False))
    c = weights(train(ds, tmp_path / "c", TrainConfig(**{**CONFIG.__dict__, "seed": 4}),
                      progress=False))
    assert same(a, b) and not same(a, c)
    rows = (tmp_path / "a" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,lr,train_loss") and len(rows) == 1 + CONFIG.epochs


def test_killed_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    ds = digits()
    config = TrainConfig(arch="cnn", epochs=3, batch_size=128, lr=0.05, lr_step=2,
                         sigma_train=0.25, seed=1)
    whole = weights(train(ds, tmp_path / "whole", config, progress=False))
    real_evaluate, calls = idrs.engine.train.evaluate, []

    def killed_in_epoch_three(*args, **kwargs):  # dies after epoch 3's training steps
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(idrs.engine.train, "evaluate", killed_in_epoch_three)
    with pytest.raises(KeyboardInterrupt):
        train(ds, tmp_path / "killed", config, progress=False)
    monkeypatch.setattr(idrs.engine.train, "evaluate", real_evaluate)
    assert not (tmp_path / "killed" / "model.pth").exists()
    assert torch.load(tmp_path / "killed" / "checkpoint.pth", weights_only=False)["epoch"] == 1
    resumed = weights(train(ds, tmp_path / "killed", config, progress=False))
    assert same(whole, resumed)
    assert len((tmp_path / "killed" / "metrics.csv").read_text().splitlines()) == 4


def test_checkpoint_of_another_run_or_corrupt_files_are_errors(tmp_path):
    ds = sectors()
    train(ds, tmp_path, CONFIG, progress=False)
    other = TrainConfig(**{**CONFIG.__dict__, "lr": 0.1})
    with pytest.raises(CheckpointError, match=r"another run \(lr: 0\.05 there, 0\.1 here\); "
                       "delete it") as err:
        train(ds, tmp_path, other, progress=False)
    assert "epochs" not in str(err.value)  # only the key that differs
    (tmp_path / "model.pth").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="model.pth is unreadable.*idrs train"):
        load_model(tmp_path / "model.pth")


def test_input_dependent_training_noise_needs_distances(tmp_path):
    ds = sectors()
    config = TrainConfig(**{**CONFIG.__dict__, "train_rate": 0.1, "train_m": 1.0, "epochs": 1})
    with pytest.raises(ValueError, match="kNN distances of every training point"):
        train(ds, tmp_path / "a", config, progress=False)
    distances = np.linspace(0, 3, len(ds.x_train))
    path = train(ds, tmp_path / "b", config, train_distances=distances, progress=False)
    model, meta = load_model(path)
    assert meta["config"]["train_rate"] == 0.1 and model(torch.zeros(1, 2)).shape == (1, 2)


def test_crop_flip_moves_pixels_within_the_padded_image():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
    out = crop_flip(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert set(out.unique().tolist()) <= set(x.unique().tolist()) | {0.0}


def test_architectures_by_name():
    assert build_model("cifar_resnet110", (3, 32, 32), 10)(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in build_model("mlp", (2,), 2).parameters()) == 2 * 20 + 20 + 20 * 20 + 20 + 20 * 2 + 2
    with pytest.raises(ValueError, match="arch == 'vgg'"):
        build_model("vgg", (3, 32, 32), 10)


def test_precision_is_recorded_and_checked(tmp_path, caplog):
    """bf16 asked for on a CPU trains in fp32 and says so (in the log, the metrics and
    the model file); a checkpoint written before the precision fields existed resumes as
    the fp32 run it was; an unknown precision or compile mode is refused."""
    ds = sectors()
    bf16 = TrainConfig(**{**CONFIG.__dict__, "precision": "bf16"})
    path = train(ds, tmp_path / "bf16", bf16, progress=False)
    assert "bf16 ignored" in caplog.text
    assert load_model(path)[1]["train_precision"] == "fp32"
    assert (tmp_path / "bf16" / "metrics.csv").read_text().splitlines()[-1].endswith(",fp32")
    assert same(weights(path), weights(train(ds, tmp_path / "fp32", CONFIG, progress=False)))
    ckpt = tmp_path / "fp32" / "checkpoint.pth"
    state = torch.load(ckpt, weights_only=False)
    for key in ("precision", "compile"):
        del state["config"][key]
    torch.save(state, ckpt)
    (tmp_path / "fp32" / "model.pth").unlink()
    longer = TrainConfig(**{**CONFIG.__dict__, "epochs": CONFIG.epochs + 1})
    with pytest.raises(CheckpointError, match=r"epochs: 4 there, 5 here\)"):
        train(ds, tmp_path / "fp32", longer, progress=False)  # only epochs differs
    for field, value in (("precision", "fp16"), ("compile", "fast")):
        with pytest.raises(ValueError, match=f"{field} == '{value}', must be one of"):
            TrainConfig(**{**CONFIG.__dict__, field: value})


def test_cudagraphs_compiles_only_on_cuda():
    """CUDA graphs need CUDA: elsewhere the mode compiles nothing, and unknown names fail."""
    from idrs.engine.train_config import compile_mode
    assert compile_mode("cudagraphs", "cuda") == "reduce-overhead"
    assert compile_mode("cudagraphs", "cpu") is None
    assert compile_mode("max-autotune", "cpu") == "max-autotune-no-cudagraphs"
    with pytest.raises(ValueError, match="compile"):
        compile_mode("graphs", "cuda")


def test_deterministic_training_sets_every_flag_and_restores_them():
    """Deterministic kernels, no cuDNN autotuning and Inductor's deterministic mode (a
    compiled step would otherwise pick kernel configurations by timing) hold inside the
    block only: the flags are process-wide."""
    from torch._inductor import config as inductor
    with idrs.engine.train._deterministic_kernels(True):
        assert torch.are_deterministic_algorithms_enabled()
        assert inductor.deterministic and not torch.backends.cudnn.benchmark
    assert not torch.are_deterministic_algorithms_enabled() and not inductor.deterministic


@pytest.mark.slow
def test_compiled_training_is_bitwise_reproducible_when_deterministic(tmp_path):
    """A compiled training step (Inductor's C++ kernels here; Triton on CUDA, where
    tests/engine/test_gpu.py checks the same) under ``deterministic`` gives the same
    weights twice, and the compiled model is still the eager one up to rounding."""
    config = dataclasses.replace(CONFIG, epochs=2, compile="default")
    runs = [weights(train(sectors(), tmp_path / name, config, progress=False,
                          deterministic=True)) for name in "ab"]
    assert same(*runs)
    eager = weights(train(sectors(), tmp_path / "eager",
                          dataclasses.replace(config, compile="none"), progress=False))
    assert all(torch.allclose(runs[0][k].float(), eager[k].float(), atol=1e-3)
               for k in eager)
