"""The installed `idrs` command, run as a user would."""

import subprocess
import sys

import numpy as np
import pytest

from idrs.certify.radius import idrs_radius


def idrs(*args):
    return subprocess.run([sys.executable, "-m", "idrs.workflow.cli", *args], capture_output=True,
                          text=True)


def test_radius_command_prints_the_library_value():
    done = idrs("radius", "--p-a", "0.99", "--sigma", "0.25", "--rate", "0.01", "--dim", "3072")
    assert done.returncode == 0
    assert float(done.stdout) == pytest.approx(float(idrs_radius(0.99, 0.25, 0.01, 3072)),
                                               rel=1e-9)


def test_theory_command_writes_its_files(tmp_path):
    done = idrs("theory", "--outdir", str(tmp_path))
    assert done.returncode == 0
    assert {p.name for p in tmp_path.iterdir()} == {"table1.csv", "table1.md", "figure3.csv",
                                                    "figure3.png", "figure3.pdf"}


@pytest.mark.parametrize("args,message", [
    (["radius", "--p-a", "1.5", "--sigma", "0.25"], "p_a == 1.5, must be in [0, 1]"),
    (["radius", "--p-a", "0.9", "--sigma", "0.25", "--rate", "0.01", "--clamp", "imagenet"],
     "must be 'mnist', 'cifar10' or a number"),
    (["certify", "--dataset", "sectors", "--model", "m.pth", "--out", "o.parquet", "--sigma",
      "0.25", "--batch", "fast"], "batch == 'fast', must be an integer >= 1 or 'auto'")])
def test_bad_input_gives_one_clear_error(args, message):
    done = idrs(*args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr



def test_first_hour_mistakes_are_clear_errors(tmp_path):
    """Mistakes of a user's first hour: exit code and the message that names the fix."""
    base = ["certify", "--dataset", "digits", "--model", str(tmp_path / "none.pth"),
            "--out", str(tmp_path / "o.parquet"), "--sigma", "0.25"]
    done = idrs(*base, "--start", "10", "--stop", "5")
    assert done.returncode == 2 and "stop must exceed start" in done.stderr
    for value in ("-1", "0", "nan", "inf"):  # refused while parsing: no model is opened
        done = idrs(*base[:-1], value)
        assert done.returncode == 2 and f"sigma == '{value}', must be a finite number > 0" \
            in done.stderr and "none.pth" not in done.stderr
    for option, value in (("--n", "0"), ("--alpha", "1"), ("--batch", "-5"), ("--skip", "0")):
        done = idrs(*base, option, value)
        assert done.returncode == 2 and f"{option[2:]} == '{value}', must be" in done.stderr
    done = idrs(*base, "--n0", "1000", "--n", "100")
    assert done.returncode == 2 and "need 1 <= n0 <= n" in done.stderr
    assert not (tmp_path / "o.parquet").exists()
    # no abbreviations: --sigma is not --sigma-train, --epoch is not --epochs
    train = ["train", "--dataset", "digits", "--arch", "cnn", "--out", str(tmp_path / "m")]
    done = idrs(*train, "--sigma", "0.25")
    assert done.returncode == 2 and "required: --sigma-train" in done.stderr
    done = idrs(*train, "--sigma-train", "0.25", "--epoch", "1")
    assert done.returncode == 2
    assert "unrecognized arguments: --epoch (did you mean --epochs?)" in done.stderr
    assert "usage: idrs train" in done.stderr  # the command's usage, not the top level's
    done = idrs(*train, "--sigma-train", "0.25", "--train-rate", "0.01")
    assert done.returncode == 2 and "--train-rate > 0 needs --train-m" in done.stderr
    done = idrs("knn", "--dataset", "cone", "--split", "test", "--out", str(tmp_path / "k"))
    assert done.returncode == 2 and "--dim-data N" in done.stderr
    assert "--rate" not in idrs("predict", "--help").stdout


def test_verbose_goes_before_or_after_the_command(tmp_path):
    for args in (["-v", "theory"], ["theory", "-v"]):
        done = idrs(*args, "--outdir", str(tmp_path / "t"))
        assert done.returncode == 0, done.stderr


def test_a_sigma_far_beyond_the_data_scale_is_warned(caplog):
    import logging

    import torch

    from idrs.workflow.jobs import _warn_beyond_scale
    x = torch.rand(4, 1, 8, 8)
    with caplog.at_level(logging.WARNING, logger="idrs.workflow.jobs"):
        _warn_beyond_scale(np.full(4, 0.5), x)
        assert not caplog.records
        _warn_beyond_scale(np.full(4, 1e6), x)
    assert "the noise drowns the inputs" in caplog.text
