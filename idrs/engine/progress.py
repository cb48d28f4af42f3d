"""Progress of long steps (training, kNN search, certification) with rate and ETA: a
tqdm bar on a terminal, elsewhere (SLURM logs) one line every ``IDRS_PROGRESS_SECONDS``
seconds (default 60) and one when done."""

from __future__ import annotations

import os
import sys
import time

__all__ = ["Progress"]


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """``with Progress(total, "certify", "samples") as p: ... p.update(k)``.

    ``enabled=False`` shows nothing; ``interval`` overrides the seconds between lines.
    Updates cost a clock read and an addition: they never touch the device.
    """

    def __init__(self, total, what, unit, *, enabled=True, interval=None, stream=None):
        self.total, self.what, self.unit = total, what, unit
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done, self.bar = 0, None
        self.started = self.last = time.perf_counter()
        self.interval = (float(os.environ.get("IDRS_PROGRESS_SECONDS", 60)) if interval is None
                         else interval)
        if enabled and self.stream.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=what, unit=unit, unit_scale=total >= 10_000,
                            file=self.stream, dynamic_ncols=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close(failed=exc[0] is not None)

    def line(self, final=False) -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = self.done / elapsed
        head = f"{time.strftime('%H:%M:%S')} {self.what}: {self.done:,}/{self.total:,} {self.unit}"
        if final:
            return f"{head} done in {_duration(elapsed)} ({rate:,.4g} {self.unit}/s)"
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        return (f"{head} ({100 * self.done / max(self.total, 1):.1f}%), {rate:,.4g} "
                f"{self.unit}/s, ETA {_duration(eta) if eta != float('inf') else '?'}")

    def update(self, k=1, **postfix):
        self.done += k
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(k)
            if postfix:
                self.bar.set_postfix(postfix, refresh=False)
            return
        now = time.perf_counter()
        if now - self.last >= self.interval:
            self.last = now
            print(self.line(), file=self.stream, flush=True)

    def note(self, text):
        """A line of its own (an epoch's summary), which a bar does not overwrite."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(f"{time.strftime('%H:%M:%S')} {text}", file=self.stream, flush=True)

    def close(self, failed=False):
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and not failed:
            print(self.line(final=True), file=self.stream, flush=True)
        self.enabled = False
