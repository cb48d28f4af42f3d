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
                "| profile cnn, default path (fp32, compile none, batch 1000): CPU self time by kind",
                "## pytest -m gpu"):
        assert row in out, row
    assert "s/image" in out and "failed" not in out


def test_kernel_kinds_of_the_h200_profile(benchmark_script):
    """The H200 profile of ResNet-110 (benchmarks/results/gpu_check_h200_2026-11-28_profile.md,
    each kernel once, device ms): convolutions 67%, the pointwise passes between them 28%,
    although every pointwise kernel's name holds "convolution" (the op it came after)."""
    from types import SimpleNamespace
    gpu_check = benchmark_script("gpu_check")
    kernels = {"triton_tem_fused__to_copy_convolution_5": 163.165,
               "sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc": 88.849,
               "triton_tem_fused__to_copy_convolution_relu_18": 44.141,
               "triton_poi_fused__to_copy_add_convolution_relu_6": 42.091,
               "triton_poi_fused__to_copy_convolution_div_relu_sub_3": 35.326,
               "Command Buffer Full": 21.780,
               "triton_poi_fused__to_copy_add_convolution_relu_14": 19.580,
               "triton_poi_fused__to_copy_convolution_relu_9": 12.573,
               "triton_poi_fused__to_copy_convolution_relu_16": 9.811,
               "triton_poi_fused__to_copy_add_convolution_relu_22": 8.496,
               "triton_tem_fused__to_copy_convolution_div_sub_2": 4.561}
    events = [SimpleNamespace(key=name, t=ms * 1e3) for name, ms in kernels.items()]
    kinds = gpu_check.time_by_kind(events, "t")
    total = sum(kinds.values())
    assert abs(total - 0.450309) < 1e-4  # the raw "Self CUDA time total", to its rounding
    assert list(kinds) == ["convolution", "pointwise", "other"]
    assert round(kinds["convolution"] / total, 2) == 0.67
    assert round(kinds["pointwise"] / total, 2) == 0.28
    assert [gpu_check.kernel_kind(n) for n in (
        # the MNIST CNN's classifier, from the same file: a matmul whose name holds
        # "convolution" (the op its input came from)
        "triton_tem_fused__to_copy__unsafe_view_addmm_clone_convolution_div_max_pool2d_4",
        "triton_red_fused_argmax_1", "cpp_fused_convolution_relu_0", "aten::_convert_indices",
        "aten::mkldnn_convolution", "aten::addmm", "void at::native::normal_kernel<float>")] \
        == ["matmul", "reduction", "pointwise", "other", "convolution", "matmul", "noise"]
