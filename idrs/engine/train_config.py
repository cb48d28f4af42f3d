"""Training hyper-parameters (no torch import: the CLI builds its options from them)."""

from __future__ import annotations

import dataclasses

from .._validation import check_option


def _option(default, help_text):
    return dataclasses.field(default=default, metadata={"help": help_text})


#: Options whose library default would surprise on the command line: no augmentation,
#: or an m of 0 for the input-dependent training sigma. They must be given.
REQUIRED_ON_THE_COMMAND_LINE = {
    "sigma_train": "required: 0 trains without noise",
    "train_m": "required with --train-rate > 0; no default",
}


PRECISIONS = ("fp32", "bf16")
#: ``torch.compile`` modes by name, for certification and training alike. max-autotune
#: runs without CUDA graphs: they slowed certification (benchmarks/gpu_check.sh);
#: "cudagraphs" (reduce-overhead) is for launch-bound steps such as ResNet-110 training.
COMPILE_MODES = {"none": None, "default": "default",
                 "max-autotune": "max-autotune-no-cudagraphs", "cudagraphs": "reduce-overhead"}


def compile_mode(name, device_type):
    """``torch.compile``'s mode for the mode named ``name`` on a ``device_type`` device;
    None: no compilation ("cudagraphs" off CUDA: there are no graphs to replay)."""
    check_option(name, "compile", tuple(COMPILE_MODES))
    return None if name == "cudagraphs" and device_type != "cuda" else COMPILE_MODES[name]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Defaults are Cohen et al.'s CIFAR recipe."""

    arch: str
    epochs: int = _option(90, "epochs")
    batch_size: int = _option(400, "batch size")
    lr: float = _option(0.1, "initial learning rate")
    momentum: float = _option(0.9, "SGD momentum")
    weight_decay: float = _option(1e-4, "weight decay")
    lr_step: int = _option(30, "epochs between learning-rate decays")
    gamma: float = _option(0.1, "learning-rate decay factor")
    sigma_train: float = _option(0.0, "training noise sigma_tr (sigma_b with --train-rate)")
    train_rate: float = _option(0.0, "input-dependent training rate trr (Appendix E.4)")
    train_m: float = _option(0.0, "m of Equation 1 at training time")
    seed: int = _option(0, "seed of everything random")
    precision: str = _option("fp32", "fp32, or bf16 (autocast and channels_last on CUDA; "
                             "fp32 elsewhere)")
    compile: str = _option("none", "torch.compile mode of the training step: none, default "
                           "or max-autotune")

    def __post_init__(self):
        check_option(self.precision, "precision", PRECISIONS)
        check_option(self.compile, "compile", tuple(COMPILE_MODES))
        for name in ("epochs", "batch_size", "lr_step"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} == {getattr(self, name)}, must be >= 1.")
        for name in ("lr", "sigma_train", "train_rate", "weight_decay", "momentum"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} == {getattr(self, name)}, must be >= 0.")

    @classmethod
    def add_arguments(cls, parser):
        """One command-line option per field, with its default in the help."""
        for field in dataclasses.fields(cls):
            if field.name == "arch":
                parser.add_argument("--arch", required=True,
                                    help="cifar_resnet110, cifar_resnet20, cnn or mlp")
                continue
            kind = type(field.default)
            flag = f"--{field.name.replace('_', '-')}"
            if field.name in REQUIRED_ON_THE_COMMAND_LINE:
                parser.add_argument(flag, dest=field.name, type=kind, default=None,
                                    required=field.name == "sigma_train",
                                    help=f"{field.metadata['help']} "
                                         f"({REQUIRED_ON_THE_COMMAND_LINE[field.name]})")
                continue
            parser.add_argument(flag, dest=field.name, type=kind, default=field.default,
                                help=f"{field.metadata['help']} (default: {field.default})")
