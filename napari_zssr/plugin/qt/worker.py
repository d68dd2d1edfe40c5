"""Worker plumbing of the widget: one `Run` = a napari worker thread, its cancel flag, the inbox of
progress events and the napari progress bar.

The worker gets plain data (a ZSSRJob), never the widget. Progress events from the engine go
into a thread-safe inbox that the widget's timer drains in the main thread; cancelling sets a
``threading.Event`` the engine checks at every iteration.
"""
from __future__ import annotations

import math
import threading
import time
from functools import partial
from typing import Optional

from napari.qt.threading import FunctionWorker, create_worker
from napari.utils import progress as napari_progress

from napari_zssr.plugin import layer_job as lj
from napari_zssr.engine.progress import Cancelled

PROGRESS_TICKS = 1000


class ZSSRWorker(FunctionWorker):
    """A FunctionWorker whose ``quit()`` (called by napari when the viewer closes) cancels the run."""

    cancel_event: Optional[threading.Event] = None

    def quit(self) -> None:  # noqa: A003 - napari's name
        if self.cancel_event is not None:
            self.cancel_event.set()
        super().quit()


def _work(job, inbox, cancel):
    """Runs in the worker thread: plain data in, NDResult (or None when cancelled) out."""
    try:
        return lj.run_job(job, progress=inbox.put, cancel=cancel)
    except Cancelled:
        return None


def _close_progress(holder: dict, *_) -> None:
    """Close a run's napari progress bar once, from whichever slot gets there first."""
    pbar = holder.pop("pbar", None)
    if pbar is not None:
        pbar.close()


class Inbox:
    """Progress events from the worker thread, drained by the main thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._events = []

    def put(self, event) -> None:
        with self._lock:
            self._events.append(event)

    def drain(self) -> list:
        with self._lock:
            events, self._events = self._events, []
        return events


class Run:
    """One run: start it, feed its progress bar, cancel it, close it (main thread only)."""

    def __init__(self, job, *, returned, errored, warned, finished):
        self.job = job
        self.cancel_event = threading.Event()
        self.inbox = Inbox()
        self.t0 = time.monotonic()
        self.worker = create_worker(_work, job, self.inbox, self.cancel_event, _start_thread=False,
                                    _worker_class=ZSSRWorker, _ignore_errors=True)
        self.worker.cancel_event = self.cancel_event
        for signal, slot in ((self.worker.returned, returned), (self.worker.errored, errored),
                             (self.worker.warned, warned), (self.worker.finished, finished)):
            signal.connect(slot)
        # closed by the widget's finish, or by this if the widget is gone by then (whichever is first)
        self._pbar_holder = {"pbar": napari_progress(total=PROGRESS_TICKS, desc=f"ZSSR {job.source.name}")}
        self.worker.finished.connect(partial(_close_progress, self._pbar_holder))
        self._ticks = 0
        self._stage = ""

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def start(self) -> None:
        self.worker.start()

    def cancel(self) -> None:
        self.cancel_event.set()

    def advance(self, event) -> None:
        """Move the napari progress bar to the event's overall fraction (never backwards)."""
        # napari's progress widgets may process events while updating, so the run can finish (and
        # close the bar) in the middle of this: work on a local reference
        pbar = self._pbar_holder.get("pbar")
        if pbar is None:
            return
        stage = getattr(event, "stage", "")
        if stage and stage != self._stage:
            self._stage = stage
            pbar.set_description(f"ZSSR {stage}")
        frac = getattr(event, "fraction", None)
        if self._pbar_holder.get("pbar") is pbar and frac is not None and math.isfinite(frac):
            n = int(max(0.0, min(1.0, frac)) * PROGRESS_TICKS)
            if n > self._ticks:
                pbar.update(n - self._ticks)
                self._ticks = n

    def close(self) -> None:
        self.inbox.drain()
        _close_progress(self._pbar_holder)

    def seconds(self) -> float:
        return time.monotonic() - self.t0


def fmt_eta(seconds) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_event(ev) -> str:
    """One line for the status label: stage, iteration, loss, lr, job and ETA."""
    parts = [str(getattr(ev, "stage", "") or "")]
    if parts[0] == "blocks":                     # a chunked run: its message counts the blocks
        eta = getattr(ev, "eta_s", None)
        return " · ".join(p for p in (*parts, getattr(ev, "message", ""),
                                      f"ETA {fmt_eta(eta)}" if eta is not None else "") if p)
    it, total = getattr(ev, "iteration", None), getattr(ev, "total", None)
    if it:
        parts.append(f"it {it}/{total}" if total else f"it {it}")
    if getattr(ev, "loss", None) is not None:
        parts.append(f"loss {ev.loss:.4g}")
    if getattr(ev, "lr", None) is not None:
        parts.append(f"lr {ev.lr:.1e}")
    if getattr(ev, "n_jobs", 1) and ev.n_jobs > 1:
        parts.append(f"job {ev.job + 1}/{ev.n_jobs}")
    if getattr(ev, "eta_s", None) is not None:
        parts.append(f"ETA {fmt_eta(ev.eta_s)}")
    msg = getattr(ev, "message", "")
    if msg:
        parts.append(msg)
    return " · ".join(p for p in parts if p)
