"""Terminal side of the CLI: one-line errors, the tqdm progress bar, Ctrl-C as a cancel flag."""
from __future__ import annotations

import logging
import signal
import sys
import threading
from contextlib import contextmanager

from tqdm import tqdm

PROG = "zssr"

# tifffile logs what it finds odd in a file (e.g. "invalid offset to first page") as WARNINGs and
# ERRORs, which Python prints on stderr when nothing is configured: lines before our one-line error.
# The reason a file cannot be read is in that line (io's ImageReadError); the command prints nothing
# else. (A handler on the tifffile logger itself, as io's, still gets the records.)
logging.getLogger("tifffile").addHandler(logging.NullHandler())     # io reads its ERRORs (a damaged
logging.getLogger("tifffile").propagate = False                     # file): refused in one line


def error(message: str, prog: str = PROG) -> None:
    """`zssr: error: ...` on one line of stderr."""
    line = " ".join(str(message).split())  # never more than one line
    print(f"{prog}: error: {line}", file=sys.stderr, flush=True)


def info(message: str, prog: str = PROG) -> None:
    print(f"{prog}: {message}", file=sys.stderr, flush=True)


def warning(message: str, prog: str = PROG) -> None:
    print(f"{prog}: warning: {message}", file=sys.stderr, flush=True)


class RunCounter:
    """Engine ProgressEvents of one run -> one monotone (count, total) in training iterations.

    Gradual stages already count on over the whole job (the engine's events carry the job's
    iteration and total); jobs (planes, channels, time points) follow one another: the count
    adds up the jobs done (a job whose training ended counts whole, as the engine reports every
    few iterations and may stop early), and the total is those plus the current job's total for
    every job still to come. The count never goes back; the total never drops below it.
    """

    def __init__(self):
        self.done = 0            # iterations of the finished jobs
        self.job = None          # the job whose events come in now
        self.job_iter = 0        # iterations of the current job
        self.job_total = 0       # its total
        self.jobs_seen = 0
        self.n_jobs = 1
        self.count = 0
        self.total = 0

    def update(self, ev) -> tuple:
        if ev.stage.startswith("train") and ev.total:
            if ev.job != self.job:
                # the engine reports every few iterations: a job whose training ended counts whole
                self.done += self.job_total
                self.job, self.jobs_seen, self.job_iter = ev.job, self.jobs_seen + 1, 0
            self.job_total = int(ev.total)
            self.job_iter = max(self.job_iter, min(int(ev.iteration) + 1, self.job_total))
            self.n_jobs = max(int(ev.n_jobs or 1), self.jobs_seen)
        elif self.job is not None:           # inference (or done) follows the job's training
            self.job_iter = self.job_total
        left = max(self.n_jobs - self.jobs_seen, 0)
        total = self.done + self.job_total * (1 + left)
        count = self.done + self.job_iter
        if ev.stage == "done":
            total = count = max(count, self.count)
        self.count = max(self.count, count)
        self.total = max(total, self.count)
        return self.count, self.total


class ProgressBar:
    """A ProgressEvent callback drawing one bar for the whole run on stderr.

    The count is training iterations over every gradual stage and job (RunCounter), fed to
    tqdm as increments, so its rate (it/s) and ETA hold across stages. Postfix: stage, loss,
    lr, rec_error and job k/n. `desc` prefixes the bar (batch: the file).
    """

    def __init__(self, disable: bool = False, desc: str = "", file=None):
        self.disable, self.desc, self.file = disable, desc, file or sys.stderr
        self.bar = None
        self.counter = RunCounter()

    def __call__(self, ev) -> None:
        if self.disable:
            return
        n, total = self.counter.update(ev)
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.desc or None, file=self.file, leave=False,
                            unit="it", dynamic_ncols=True, mininterval=0.2)
        if total != self.bar.total:
            self.bar.total = total
        if n > self.bar.n:
            self.bar.update(n - self.bar.n)
        parts = [ev.stage]
        if ev.loss is not None:
            parts.append(f"loss={ev.loss:.4f}")
        if ev.lr is not None:
            parts.append(f"lr={ev.lr:.0e}")
        if ev.rec_error is not None:
            parts.append(f"rec_error={ev.rec_error:.2e}")
        if ev.n_jobs > 1 or ev.job > 0:
            k = min(ev.job + 1, ev.n_jobs) if ev.stage == "done" else ev.job + 1
            parts.append(f"job {k}/{ev.n_jobs}" if k <= ev.n_jobs else f"job {k}")
        if ev.message and not ev.stage.startswith("train"):     # what a stage without iterations does
            parts.append(ev.message)
        self.bar.set_postfix_str(", ".join(parts), refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.counter = RunCounter()


@contextmanager
def slow_stage(bar, stage: str, message: str = "", after_s: float = 1.0):
    """Show `stage` on the bar if the block takes longer than `after_s` (a quick one prints nothing:
    a bad input's error stays the only line), e.g. reading a big file before any other progress."""
    from ..engine.progress import ProgressEvent

    timer = threading.Timer(after_s, lambda: bar(ProgressEvent(stage=stage, message=message)))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@contextmanager
def sigint_cancels(event: threading.Event, signals=(signal.SIGINT,)):
    """Ctrl-C (or another of `signals`, e.g. a batch's SIGTERM) sets `event` (the work stops at its
    next check); a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield event
        return

    def handler(signum, frame):
        if event.is_set():
            raise KeyboardInterrupt
        event.set()

    old = {s: signal.signal(s, handler) for s in signals}
    try:
        yield event
    finally:
        for s, h in old.items():
            signal.signal(s, h)
