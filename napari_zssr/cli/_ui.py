"""Terminal side of the CLI: one-line errors, the tqdm progress bar, Ctrl-C as a cancel flag."""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager

from tqdm import tqdm

PROG = "zssr"


def error(message: str, prog: str = PROG) -> None:
    """`zssr: error: ...` on one line of stderr."""
    line = " ".join(str(message).split())  # never more than one line
    print(f"{prog}: error: {line}", file=sys.stderr, flush=True)


def info(message: str, prog: str = PROG) -> None:
    print(f"{prog}: {message}", file=sys.stderr, flush=True)


class ProgressBar:
    """A ProgressEvent callback drawing iterations of the current job on stderr.

    Postfix: stage, loss, lr, rec_error and job k/n. `desc` prefixes the bar (batch: the file).
    """

    def __init__(self, disable: bool = False, desc: str = "", file=None):
        self.disable, self.desc, self.file = disable, desc, file or sys.stderr
        self.bar = None
        self.key = None

    def __call__(self, ev) -> None:
        if self.disable:
            return
        if self.bar is None:
            self.bar = tqdm(total=ev.total or 0, desc=self.desc or None, file=self.file, leave=False,
                            unit="it", dynamic_ncols=True, mininterval=0.2)
        if ev.stage.startswith("train"):
            key = (ev.job, ev.stage)
            if key != self.key:
                self.key = key
                self.bar.reset(total=ev.total or 0)
            self.bar.n = min(ev.iteration + 1, ev.total or ev.iteration + 1)
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
        self.bar.set_postfix_str(", ".join(parts), refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.key = None


@contextmanager
def sigint_cancels(event: threading.Event):
    """Ctrl-C sets `event` (the engine stops at its next check); a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield event
        return

    def handler(signum, frame):
        if event.is_set():
            raise KeyboardInterrupt
        event.set()

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, old)
