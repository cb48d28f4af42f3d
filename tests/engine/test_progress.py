"""Progress with rate and ETA: periodic lines where stderr is a file (SLURM logs), a
tqdm bar on a terminal."""

import io
import re

import numpy as np
import torch

from idrs.engine.models import build_model
from idrs.engine.progress import Progress
from idrs.engine.smoothing import certify


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_log_lines_carry_rate_and_eta():
    out = io.StringIO()
    with Progress(10, "certify", "samples", interval=0.0, stream=out) as p:
        for _ in range(4):
            p.update(2)
    lines = out.getvalue().splitlines()
    assert len(lines) == 5
    assert re.search(r"certify: 2/10 samples \(20\.0%\), [\d.,e+]+ samples/s, ETA \d+:\d\d",
                     lines[0])
    assert re.search(r"certify: 8/10 samples done in \d+:\d\d \(", lines[-1])


def test_lines_are_spaced_by_the_interval():
    out = io.StringIO()
    with Progress(1000, "knn", "queries", interval=3600, stream=out) as p:
        for _ in range(1000):
            p.update()
    assert out.getvalue().count("\n") == 1 and "done in" in out.getvalue()


def test_a_terminal_gets_a_bar_and_disabled_progress_prints_nothing():
    term = Terminal()
    with Progress(5, "train", "batches", stream=term) as p:
        p.update(5, epoch=1)
        p.note("epoch 1/1 loss 0.1")
    assert "train" in term.getvalue() and "5/5" in term.getvalue()
    assert "epoch 1/1 loss 0.1" in term.getvalue()
    quiet = io.StringIO()
    with Progress(5, "x", "y", enabled=False, interval=0.0, stream=quiet) as p:
        p.update(5)
    assert quiet.getvalue() == ""


def test_certify_reports_every_sample(capsys):
    model = build_model("mlp", (2,), 2).eval()
    certify(model, torch.zeros((3, 2)), np.zeros(3), np.arange(3), 0.5, n0=10, n=90,
            alpha=0.01, num_classes=2, progress=True)
    assert "certify: 300/300 samples done in" in capsys.readouterr().err
