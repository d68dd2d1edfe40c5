"""What a dask worker runs for `zssr batch`. Orchestration only: the work is `_run` / `nd`.

Per input file three kinds of task:

    inspect(spec)            read + validate (cheap, fails fast on a bad file), count the parts
    run_part(spec, c)        super_resolve_nd on one channel (or the whole file when channels are
                             joint, RGB or absent); returns the array and the run's params
    write_output(spec, *parts)  assemble the parts, write atomically, sha256 of the file written

Every function returns a plain dict with "status" ("ok"/"done", "failed", "cancelled") and a
one-line "message"; they never raise for a bad file, so one bad file fails only its own task.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

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
    nd_kwargs: dict
    axes: Optional[str] = None       # --axes override
    overwrite: bool = False
    argv: list = field(default_factory=list)
    batch_id: str = ""               # names the cancel Event and the progress topic
    task_threads: Optional[int] = None   # torch threads per task; None: the worker's thread count
    model_sha256: Optional[str] = None   # of --model, recorded in the output's params


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _failed(spec: TaskSpec, message: str, **extra) -> dict:
    msg = message if message.startswith(str(spec.input)) else f"{spec.input}: {message}"
    return dict(status="failed", message=msg, **extra)


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
    from . import _run
    # a corrupt file is reported once, as this task's one-line failure, not by tifffile's logger too
    logging.getLogger("tifffile").setLevel(logging.ERROR)
    return _run.prepare(spec.input, spec.output, spec.config, spec.nd_kwargs, axes=spec.axes,
                        overwrite=True, output_checked=True)


def parts_of(prep) -> int:
    """How many independent tasks a file splits into: one per channel when channels are independent."""
    if "C" in prep.axes and prep.nd_kwargs.get("channels", "independent") == "independent":
        return int(prep.image.data.shape[prep.axes.index("C")])
    return 1


def inspect(spec: TaskSpec) -> dict:
    """Read and validate the file; a bad file fails here, before any training."""
    from ._run import InputError
    try:
        prep = _prepare(spec)
        n = parts_of(prep)
        if spec.nd_kwargs.get("model"):
            _check_model_count(spec.nd_kwargs["model"], prep, n)
        return dict(status="ok", n_parts=n, shape=list(prep.image.data.shape), axes=prep.axes,
                    dtype=str(prep.image.data.dtype))
    except (InputError, ValueError) as exc:
        return _failed(spec, one_line(exc))
    except Exception as exc:  # noqa: BLE001
        return _failed(spec, f"{type(exc).__name__}: {one_line(exc)}")


def _check_model_count(model_path, prep, n_parts: int) -> None:
    from ..engine.model_io import read_model_meta
    meta = read_model_meta(model_path)
    n_nets = len(meta.get("models", []))
    mode = (meta.get("extra") or {}).get("mode")
    want = prep.nd_kwargs.get("mode", "lateral")
    if mode and mode != want:
        raise ValueError(f"{model_path}: the model was trained for {mode} mode, not {want}")
    if n_nets not in (1, n_parts):
        raise ValueError(f"{model_path}: the model holds {n_nets} network(s) (one per channel); "
                         f"this image has {n_parts} channel(s)")


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


def run_part(spec: TaskSpec, part: Optional[int], n_parts: int) -> dict:
    """One channel (part) of a file, or the whole file (part None)."""
    from ..engine.device import set_threads
    from ..engine.progress import Cancelled
    from ..nd import super_resolve_nd
    t0 = time.perf_counter()
    cancel = _CancelFlag(spec.batch_id)
    try:
        if cancel():
            return dict(status="cancelled", message="cancelled", seconds=0.0)
        prep = _prepare(spec)
        n = _threads(spec)
        set_threads(n)
        cfg = spec.config.replace(num_threads=n, device=_device(spec.config.device))
        data, axes = prep.image.data, prep.axes
        if part is not None and n_parts > 1:
            data = np.take(data, [part], axis=axes.index("C"))     # keep C (length 1)
        kw = dict(prep.nd_kwargs)
        kw["model"] = _model_for_part(kw.get("model"), part, n_parts, cfg.device)
        started = _Started()
        prog = _Progress(spec, part or 0, n_parts, on_first=started.release)
        try:
            res = super_resolve_nd(data, axes, pixel_sizes=prep.pixel_sizes, config=cfg,
                                   out_dtype=prep.out_dtype, progress=prog, cancel=cancel, **kw)
        finally:
            started.release()
        return dict(status="ok", part=part, data=res.data, axes=res.axes, pixel_sizes=res.pixel_sizes,
                    factors=res.factors, params=res.params, clipped=res.clipped,
                    unit=prep.image.unit, flavour=prep.image.flavour, in_dtype=str(prep.image.data.dtype),
                    description_params=prep.image.description_params, out_dtype=prep.out_dtype,
                    seconds=time.perf_counter() - t0)
    except Cancelled:
        return dict(status="cancelled", message="cancelled", seconds=time.perf_counter() - t0)
    except ValueError as exc:                  # InputError, nd / io refusals: one line
        return _failed(spec, one_line(exc), seconds=time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 -- e.g. out of memory: fail this file only
        return _failed(spec, f"{type(exc).__name__}: {one_line(exc)}", seconds=time.perf_counter() - t0)


_MERGED = ("normalisation", "iterations", "rec_error", "cubic_rec_error")


def merge_params(parts: list, axes: str) -> dict:
    """Params of per-channel runs as one run's params (lists per network in channel order)."""
    params = dict(parts[0]["params"])
    if len(parts) > 1:
        for k in _MERGED:
            params[k] = [v for p in parts for v in (p["params"].get(k) or [])]
        params["clipped_values"] = int(sum(p["clipped"] for p in parts))
        params["axes"] = axes
    return params


def write_output(spec: TaskSpec, *parts: dict) -> dict:
    """Assemble the channel parts and write the output atomically; sha256 of what was written."""
    from ..io import ImageData
    from ..nd import NDResult
    from . import _run
    from ._manifest import sha256_file, quality
    seconds = float(sum(p.get("seconds") or 0.0 for p in parts))
    for st in ("failed", "cancelled"):
        bad = [p for p in parts if p.get("status") == st]
        if bad:
            return dict(status=st, message=bad[0].get("message", st), seconds=seconds)
    t0 = time.perf_counter()
    try:
        parts = sorted(parts, key=lambda p: -1 if p.get("part") is None else p["part"])
        first = parts[0]
        axes = first["axes"]
        data = first["data"] if len(parts) == 1 else np.concatenate([p["data"] for p in parts],
                                                                       axis=axes.index("C"))
        params = merge_params(parts, axes)
        result = NDResult(data, axes, first["pixel_sizes"], first["factors"], params,
                          int(params.get("clipped_values") or 0))
        stub = ImageData(np.zeros((1,) * len(axes), dtype=first["in_dtype"]), axes, {}, first["unit"],
                         first["flavour"], first["description_params"])
        prep = _run.Prepared(Path(spec.input), Path(spec.output), stub, axes, {}, first["out_dtype"], {})
        params = _run.output_params(prep, result, spec.argv, command="zssr batch")
        if spec.nd_kwargs.get("model"):
            params["model"] = {"path": str(spec.nd_kwargs["model"]), "sha256": spec.model_sha256}
        out = _run.write(prep, result, params, overwrite=spec.overwrite)
        seconds += time.perf_counter() - t0
        q = quality(params)
        return dict(status="done", output=str(out), output_sha256=sha256_file(out), seconds=seconds,
                    message=_run.summary(prep, result), **q)
    except FileExistsError as exc:
        return _failed(spec, f"{one_line(exc)}", seconds=seconds)
    except ValueError as exc:
        return _failed(spec, one_line(exc), seconds=seconds)
    except Exception as exc:  # noqa: BLE001
        return _failed(spec, f"{type(exc).__name__}: {one_line(exc)}", seconds=seconds)


def register_local_cancel(batch_id: str) -> threading.Event:
    ev = threading.Event()
    _LOCAL_CANCEL[batch_id] = ev
    return ev


def unregister_local_cancel(batch_id: str) -> None:
    _LOCAL_CANCEL.pop(batch_id, None)
