"""What a dask worker runs for a batch. Orchestration only: the work is `file` / `nd`.

Per input file three kinds of task:

    inspect(spec) -> Inspected       read + validate (cheap, fails fast on a bad file), count the parts
    run_part(spec, c) -> PartResult  super_resolve_nd on one channel (or the whole file when channels
                                     are joint, RGB or absent): the NDResult and the input's metadata
    write_output(spec, *parts) -> FileResult  merge the parts (nd), write like the input (io), sha256

Every result is a typed record with a status ("ok"/"done", "failed", "cancelled") and a one-line
message; the tasks never raise for a bad file, so one bad file fails only its own task.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..io import ImageMeta
from ..nd import NDResult

# cancel flags of the batches running in this process (workers in the client's process, i.e.
# LocalCluster(processes=False), see the client's flag at once; others poll a distributed.Event)
_LOCAL_CANCEL: dict = {}
# torch seeds the network's initial weights from its process-global RNG (engine.zssr.train:
# manual_seed, then new_net): tasks sharing a process start one at a time, until their first
# progress event (training under way), so the same seed gives the same result in any schedule
_START_LOCK = threading.Lock()
PROGRESS_EVERY_S = 1.0
CANCEL_POLL_S = 0.5


@dataclass
class TaskSpec:
    """Everything a worker needs for one input file; plain and picklable."""
    index: int                       # position of the file in the batch
    input: str
    output: str
    config: object                   # ZSSRConfig
    run: object                      # nd RunSpec
    axes: Optional[str] = None       # --axes override
    overwrite: bool = False
    argv: list = field(default_factory=list)
    batch_id: str = ""               # names the cancel Event and the progress topic
    task_threads: Optional[int] = None   # torch threads per task; None: the worker's thread count
    model_sha256: Optional[str] = None   # of --model, recorded in the output's params


@dataclass
class Inspected:
    status: str                      # "ok" or "failed"
    message: str = ""
    n_parts: int = 1
    shape: tuple = ()
    axes: str = ""
    dtype: str = ""


@dataclass
class PartResult:
    status: str                      # "ok", "failed" or "cancelled"
    message: str = ""
    seconds: float = 0.0
    part: Optional[int] = None       # channel index, None for the whole file
    result: Optional[NDResult] = None    # without its networks (they stay on the worker)
    like: Optional[ImageMeta] = None     # the input's metadata, for writing the output like it


@dataclass
class FileResult:
    status: str                      # "done", "failed" or "cancelled"
    message: str = ""
    seconds: Optional[float] = None
    output: Optional[str] = None
    output_sha256: Optional[str] = None
    rec_error: Optional[float] = None
    cubic_rec_error: Optional[float] = None
    gain_db: Optional[float] = None
    expected_gain_db: Optional[float] = None      # on held-out parts of the image (the honest figure)
    rec_errors: list = field(default_factory=list)
    cubic_rec_errors: list = field(default_factory=list)
    notices: list = field(default_factory=list)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _message(spec: TaskSpec, message: str) -> str:
    return message if message.startswith(str(spec.input)) else f"{spec.input}: {message}"


# --- worker context: threads, device, cancel, progress ------------------------------------------

def _worker():
    try:
        from distributed import get_worker
        return get_worker()
    except (ImportError, ValueError):
        return None


def _threads(spec: TaskSpec) -> int:
    if spec.task_threads:
        return int(spec.task_threads)
    w = _worker()
    n = getattr(getattr(w, "state", None), "nthreads", None) or getattr(w, "nthreads", None)
    return int(n or os.cpu_count() or 1)


def _device(device: str) -> str:
    """'auto' on a worker with several GPUs: spread the workers over them by worker name."""
    if device not in (None, "", "auto"):
        return device
    import torch
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n <= 1:
        return "auto"
    w = _worker()
    name = str(getattr(w, "name", "0"))
    idx = int(name) if name.isdigit() else sum(map(ord, name))
    return f"cuda:{idx % n}"


class _CancelFlag:
    """Callable cancel flag: the local threading.Event, or the batch's distributed.Event (polled)."""

    def __init__(self, batch_id: str):
        self.batch_id = batch_id
        self.local = _LOCAL_CANCEL.get(batch_id)
        self._event = None
        self._last = 0.0
        self._set = False

    def __call__(self) -> bool:
        if self._set or (self.local is not None and self.local.is_set()):
            return True
        now = time.monotonic()
        if now - self._last < CANCEL_POLL_S or _worker() is None:
            return False
        self._last = now
        try:
            if self._event is None:
                from distributed import Event
                self._event = Event(f"zssr-cancel-{self.batch_id}")
            self._set = bool(self._event.is_set())
        except Exception:  # noqa: BLE001 -- scheduler gone or busy: keep working, check again later
            return False
        return self._set


class _Progress:
    """ProgressEvent callback sending a throttled summary to the client (worker.log_event)."""

    def __init__(self, spec: TaskSpec, part: int, n_parts: int, on_first=None):
        self.topic = f"zssr-progress-{spec.batch_id}"
        self.base = dict(index=spec.index, part=part, n_parts=n_parts)
        self.last = 0.0
        self.on_first = on_first
        self.send(dict(stage="start", fraction=0.0))

    def send(self, msg: dict) -> None:
        w = _worker()
        if w is None:
            return
        try:
            w.log_event(self.topic, dict(self.base, **msg))
        except Exception:  # noqa: BLE001 -- progress is best effort
            pass

    def __call__(self, ev) -> None:
        if self.on_first is not None:
            self.on_first()
            self.on_first = None
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S and ev.stage != "done":
            return
        self.last = now
        self.send(dict(stage=ev.stage, fraction=float(ev.fraction or 0.0), iteration=ev.iteration,
                       total=ev.total, eta_s=ev.eta_s))


# --- the tasks -------------------------------------------------------------------------------

def _prepare(spec: TaskSpec):
    from . import file as _run
    # a corrupt file is reported once, as this task's one-line failure, not by tifffile's logger too
    logging.getLogger("tifffile").setLevel(logging.ERROR)
    return _run.prepare(spec.input, spec.output, spec.run, axes=spec.axes, overwrite=True, output_checked=True)


def parts_of(prep) -> int:
    """How many independent tasks a file splits into: one per channel when channels are independent."""
    if "C" in prep.axes and prep.spec.channels == "independent":
        return int(prep.image.data.shape[prep.axes.index("C")])
    return 1


def inspect(spec: TaskSpec) -> Inspected:
    """Read and validate the file; a bad file fails here, before any training."""
    from ..nd.models import check_model_file
    try:
        prep = _prepare(spec)
        n = parts_of(prep)
        if spec.run.model:
            check_model_file(spec.run.model, spec.run.mode, n)
        return Inspected("ok", n_parts=n, shape=tuple(prep.image.data.shape), axes=prep.axes,
                         dtype=str(prep.image.data.dtype))
    except ValueError as exc:                  # InputError, nd / io refusals: one line
        return Inspected("failed", _message(spec, one_line(exc)))
    except Exception as exc:  # noqa: BLE001
        return Inspected("failed", _message(spec, f"{type(exc).__name__}: {one_line(exc)}"))


def _model_for_part(model_path, part: Optional[int], n_parts: int, device: str):
    """A saved model for one channel task: the file itself, or its network for this channel."""
    if model_path is None or part is None or n_parts == 1:
        return model_path
    from ..engine.model_io import load_models, read_model_meta
    if len(read_model_meta(model_path).get("models", [])) == 1:
        return model_path                      # one network for every channel: nd checks it
    models, _ = load_models(model_path, device=device)
    return [models[part]]                      # nd checks its factors and channel count


class _Started:
    """Holds _START_LOCK from creation until release() (called once, from the same thread)."""

    def __init__(self):
        _START_LOCK.acquire()
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            _START_LOCK.release()


def run_part(spec: TaskSpec, part: Optional[int], n_parts: int) -> PartResult:
    """One channel (part) of a file, or the whole file (part None)."""
    from ..engine.device import set_threads
    from ..engine.progress import Cancelled
    from ..nd import super_resolve_nd
    t0 = time.perf_counter()
    cancel = _CancelFlag(spec.batch_id)
    try:
        if cancel():
            return PartResult("cancelled", "cancelled")
        prep = _prepare(spec)
        n = _threads(spec)
        set_threads(n)
        cfg = spec.config.replace(num_threads=n, device=_device(spec.config.device))
        data, axes = prep.image.data, prep.axes
        if part is not None and n_parts > 1:
            data = np.take(data, [part], axis=axes.index("C"))     # keep C (length 1)
        run = prep.spec.replace(model=_model_for_part(prep.spec.model, part, n_parts, cfg.device))
        started = _Started()
        prog = _Progress(spec, part or 0, n_parts, on_first=started.release)
        try:
            # one channel of several: a constant one is upscaled as it is, not a failure of the file
            res = super_resolve_nd(data, axes, run, pixel_sizes=prep.pixel_sizes, config=cfg, progress=prog,
                                   cancel=cancel, allow_constant=n_parts > 1)
        finally:
            started.release()
        res.models = []                        # networks stay here; the client needs the pixels
        if part is not None and res.notices:   # "the image is constant" of one channel: name it
            res.notices = [f"channel {part} is constant; upscaled as it is, no network trained"
                           if n.startswith("the image is constant") else n for n in res.notices]
            res.params["notices"] = res.notices
        return PartResult("ok", part=part, result=res, like=prep.image.meta, seconds=time.perf_counter() - t0)
    except Cancelled:
        return PartResult("cancelled", "cancelled", seconds=time.perf_counter() - t0)
    except ValueError as exc:                  # InputError, nd / io refusals: one line
        return PartResult("failed", _message(spec, one_line(exc)), seconds=time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 -- e.g. out of memory: fail this file only
        return PartResult("failed", _message(spec, f"{type(exc).__name__}: {one_line(exc)}"),
                          seconds=time.perf_counter() - t0)


def write_output(spec: TaskSpec, *parts: PartResult) -> FileResult:
    """Merge the channel parts and write the output like the input, atomically; sha256 of it."""
    from ..nd import merge_channel_results
    from ..quality.holdout import summary as holdout_summary
    from . import file as _run
    from .checksums import sha256_file
    from .quality_figures import quality
    seconds = float(sum(p.seconds or 0.0 for p in parts))
    for st in ("failed", "cancelled"):
        bad = [p for p in parts if p.status == st]
        if bad:
            return FileResult(st, bad[0].message or st, seconds=seconds)
    t0 = time.perf_counter()
    try:
        parts = sorted(parts, key=lambda p: -1 if p.part is None else p.part)
        if all(n.get("constant") for p in parts for n in p.result.params["normalisation"]):
            raise ValueError("the image is constant; there is nothing to super-resolve")
        result = merge_channel_results([p.result for p in parts])
        like = parts[0].like
        params = _run.output_params(result, like, spec.argv, input=spec.input, output=spec.output,
                                    command="zssr batch")
        if spec.run.model:
            params["model"] = {"path": str(spec.run.model), "sha256": spec.model_sha256}
        out = _run.write(spec.output, result, like, params, input=spec.input, overwrite=spec.overwrite)
        seconds += time.perf_counter() - t0
        _, warning = holdout_summary(result.params)
        notices = list(result.notices) + ([f"warning: {warning}"] if warning else [])
        return FileResult("done", _run.summary(out, result, like.unit), seconds=seconds, output=str(out),
                          output_sha256=sha256_file(out), notices=notices, **quality(params))
    except ValueError as exc:                  # FileExistsError is an OSError: below
        return FileResult("failed", _message(spec, one_line(exc)), seconds=seconds)
    except FileExistsError as exc:
        return FileResult("failed", _message(spec, one_line(exc)), seconds=seconds)
    except Exception as exc:  # noqa: BLE001
        return FileResult("failed", _message(spec, f"{type(exc).__name__}: {one_line(exc)}"), seconds=seconds)


def register_local_cancel(batch_id: str) -> threading.Event:
    ev = threading.Event()
    _LOCAL_CANCEL[batch_id] = ev
    return ev


def unregister_local_cancel(batch_id: str) -> None:
    _LOCAL_CANCEL.pop(batch_id, None)
