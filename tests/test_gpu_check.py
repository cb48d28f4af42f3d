"""benchmarks/gpu_check.sh runs where the GPU check will: its CPU path at tiny sizes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_script_runs_and_prints_its_table(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, CUDA_VISIBLE_DEVICES="")
    script, digits = ROOT / "benchmarks" / "gpu_check.sh", str(tmp_path / "mnist.npz")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"),
                    "--write-mnist-npz", "--mnist-npz", digits], check=True, env=env)
    done = subprocess.run([str(script), "--smoke", "--mnist-npz", digits], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for row in ("| Cohen et al.'s certify loop", "| idrs fp32 channels_last",
                "| idrs bf16 channels_last, BN folded", "| one float32 GEMM",
                "| idrs.engine.knn (torch candidates, float64 proof) on the CPU",
                "| training epoch, cnn, batch 400, fp32", "| idrs MNIST CNN, default path",
                "| MNIST CNN test accuracy, fp32 training", "| profile cnn, default path",
                "| candidate, cifar_resnet20: the default path",
                "## pytest -m gpu"):
        assert row in out, row
    assert "s/image" in out and "failed" not in out
