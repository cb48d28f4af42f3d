"""The installed `idrs` command, run as a user would."""

import subprocess
import sys

import pytest

from idrs.radius import idrs_radius


def idrs(*args):
    return subprocess.run([sys.executable, "-m", "idrs.cli", *args], capture_output=True,
                          text=True)


def test_radius_command_prints_the_library_value():
    done = idrs("radius", "--p-a", "0.99", "--sigma", "0.25", "--rate", "0.01", "--dim", "3072")
    assert done.returncode == 0
    assert float(done.stdout) == pytest.approx(float(idrs_radius(0.99, 0.25, 0.01, 3072)),
                                               rel=1e-9)


def test_theory_command_writes_its_files(tmp_path):
    done = idrs("theory", "--outdir", str(tmp_path))
    assert done.returncode == 0
    assert {p.name for p in tmp_path.iterdir()} == {"table1.csv", "table1.md",
                                                    "figure3.png", "figure3.pdf"}


@pytest.mark.parametrize("args,message", [
    (["radius", "--p-a", "1.5", "--sigma", "0.25"], "p_a == 1.5, must be in [0, 1]"),
    (["radius", "--p-a", "0.9", "--sigma", "0.25", "--rate", "0.01", "--clamp", "imagenet"],
     "must be 'mnist', 'cifar10' or a number")])
def test_bad_input_gives_one_clear_error(args, message):
    done = idrs(*args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
