"""Many images on a dask.distributed cluster: plan (what to run, what to skip), cluster, run.

One task per file x channel (one per file when channels are joint, RGB or absent), preceded by
a cheap inspection task per file (a bad file fails there, alone) and followed by a write task
(atomic: temp file + rename). A local cluster sized to the machine by default, or any running
cluster. The manifest in the output folder makes reruns resume (see manifest.py).

No argparse and no terminal output: `napari_zssr.cli.batch` builds the options and prints what a
`Reporter` is told.
"""
from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Protocol

from ..io import check_not_input
from ..nd.cluster import ClusterOptions, connect, one_line
from . import tasks as T
from .checksums import file_facts, params_sha256, run_params, sha256_file
from .errors import UsageError
from .inputs import expand_inputs, output_names
from .lock import BatchLock
from .manifest import Manifest, now_iso

CANCEL_GRACE_S = 30.0


@dataclass
class BatchOptions:
    """What the batch runs on and how (the command line's choices, as plain data)."""
    inputs: List[str]
    output_dir: str
    suffix: str = "_zssr"
    force: bool = False
    overwrite: bool = False
    axes: Optional[str] = None
    scheduler: Optional[str] = None
    workers: Optional[int] = None
    threads_per_worker: Optional[int] = None
    in_process: bool = False
    task_threads: Optional[int] = None
    dashboard: Optional[str] = None


class Reporter(Protocol):
    """What the batch tells its front end (the CLI prints it)."""
    def started(self, n_run: int, n_skipped: int, n_total: int, cluster: str) -> None: ...
    def progress(self, done: float, running: Dict[str, float], failed: int) -> None: ...
    def file_done(self, record: dict, notices: List[str]) -> None: ...
    def note(self, message: str) -> None: ...
    def close(self) -> None: ...


# --- planning: what to run, what to skip --------------------------------------------------------

@dataclass
class Job:
    index: int
    input: Path
    output: Path
    facts: dict
    overwrite: bool


@dataclass
class Plan:
    out_dir: Path
    records: List[dict]                         # one per input, in input order
    jobs: List[Job]
    manifest: Manifest
    lock: BatchLock
    params: dict
    params_sha256: str
    spec: object = None                         # the nd RunSpec every task runs (model path resolved)
    model_sha256: Optional[str] = None


def _record(path: Path, output: Optional[Path], status: str, message: str = "", **extra) -> dict:
    rec = dict(input=str(path), output=str(output) if output else None, status=status, seconds=None,
               expected_gain_db=None, rec_error=None, cubic_rec_error=None, gain_db=None, message=message)
    rec.update(extra)
    return rec


def make_plan(opts: BatchOptions, config, spec) -> Plan:
    """Check the batch as a whole (UsageError -> exit 2) and decide per input: run or skip."""
    out_dir = Path(opts.output_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder")
    expand_inputs(opts.inputs, out_dir, opts.suffix)          # bad inputs: exit 2 before creating anything
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out_dir}: cannot create the folder ({exc.strerror})") from None
    out_dir = out_dir.resolve()
    if not os.access(out_dir, os.W_OK):
        raise UsageError(f"{out_dir}: folder is not writable")
    model_sha = None
    if spec.model:
        from ..nd.models import check_model_file
        try:
            check_model_file(spec.model, spec.mode)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        spec = spec.replace(model=str(Path(spec.model).expanduser().resolve()))
        model_sha = sha256_file(spec.model)
    if "/" in opts.suffix or os.sep in opts.suffix:
        raise UsageError(f"--suffix {opts.suffix!r}: must not contain a path separator")

    lock = BatchLock(out_dir).acquire()
    try:
        manifest = Manifest.load(out_dir)
        inputs = expand_inputs(opts.inputs, out_dir, opts.suffix)
        names = output_names(inputs, out_dir, opts.suffix, manifest.entries)
        for path in inputs:                                   # never onto an input, even with --overwrite
            try:
                check_not_input(names[str(path)], inputs)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        params = run_params(config, spec, axes=opts.axes, model_sha256=model_sha, suffix=opts.suffix)
        psha = params_sha256(params)
        records, jobs = [], []
        for path in inputs:
            key, out = str(path), names[str(path)]
            try:
                facts = file_facts(path)
            except OSError as exc:
                records.append(_record(path, out, "failed", f"{path}: cannot read ({exc.strerror})"))
                continue
            if not opts.force and manifest.is_current(key, facts, psha, out):
                old = manifest.entries[key]
                records.append(_record(path, out, "skipped", "unchanged since " + str(old.get("finished")),
                                       seconds=old.get("seconds"), expected_gain_db=old.get("expected_gain_db"),
                                       rec_error=old.get("rec_error"),
                                       cubic_rec_error=old.get("cubic_rec_error"), gain_db=old.get("gain_db")))
                continue
            ours = manifest.owns(key, out)
            if out.exists() and not (ours or opts.overwrite):
                records.append(_record(path, out, "failed",
                                       f"{out}: file exists and is not from this batch (pass --overwrite)"))
                continue
            records.append(_record(path, out, "pending"))
            jobs.append(Job(len(records) - 1, path, out, facts, overwrite=out.exists()))
    except BaseException:
        lock.release()
        raise
    return Plan(out_dir, records, jobs, manifest, lock, params, psha, spec, model_sha)


# --- the cluster --------------------------------------------------------------------------------
def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def local_size(workers: Optional[int], threads: Optional[int], n_tasks: int) -> tuple:
    """(workers, threads per worker) for a LocalCluster on this machine."""
    cores = _cores()
    if workers is None:
        try:
            import torch
            gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        except Exception:  # noqa: BLE001
            gpus = 0
        workers = gpus if gpus else max(1, cores // 4)
        workers = max(1, min(workers, n_tasks))
    threads = threads or max(1, cores // workers)
    return workers, threads


@dataclass
class BatchCluster:
    """The connected cluster (nd.cluster) and how the batch uses it: one task per worker through
    the "zssr" resource where the workers offer it, and the torch threads of each task."""
    cluster: object
    use_resources: bool = True
    task_threads: Optional[int] = None
    description: str = ""

    @property
    def client(self):
        return self.cluster.client

    def close(self) -> None:
        self.cluster.close()


def start_cluster(args, n_tasks: int) -> BatchCluster:
    if args.scheduler:
        try:
            cl = connect(ClusterOptions(scheduler=args.scheduler))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        workers = cl.client.scheduler_info().get("workers", {})
        use_res = any("zssr" in (w.get("resources") or {}) for w in workers.values())
        threads = args.task_threads or (None if use_res else 1)
        desc = f"scheduler {args.scheduler}: {len(workers)} worker(s) now" + \
               (", one zssr task per worker" if use_res else f", {threads} torch thread(s) per task")
        return BatchCluster(cl, use_res, threads, desc)
    n_w, n_t = local_size(args.workers, args.threads_per_worker, n_tasks)
    cl = connect(ClusterOptions(n_workers=n_w, threads_per_worker=n_t, processes=not args.in_process,
                                resources={"zssr": 1}, dashboard=args.dashboard))
    kind = "threads" if args.in_process else "processes"
    desc = f"local cluster: {n_w} worker {kind} x {n_t} thread(s)"
    if args.dashboard:
        desc += f", dashboard {cl.client.dashboard_link}"
    return BatchCluster(cl, True, args.task_threads or n_t, desc)


# --- running --------------------------------------------------------------------------------------

@dataclass
class _State:
    """Client-side bookkeeping of the running files."""
    plan: Plan
    report: Reporter
    specs: Dict[int, object] = field(default_factory=dict)
    kind: Dict[str, tuple] = field(default_factory=dict)        # future key -> ("inspect"|"write", index)
    parts: Dict[int, list] = field(default_factory=dict)        # index -> part futures
    n_parts: Dict[int, int] = field(default_factory=dict)
    fractions: Dict[int, Dict[int, float]] = field(default_factory=dict)
    finished: int = 0


def _entry(plan: Plan, job: Job, status: str, **extra) -> dict:
    e = dict(input=str(job.input), **job.facts, params=plan.params, params_sha256=plan.params_sha256,
             output=str(job.output), output_sha256=None, status=status)
    e.update(extra)
    return e


def _finish(state: _State, job: Job, res: T.FileResult, announce: bool = True) -> None:
    """Record one file's outcome in the record list and the manifest; report it."""
    plan = state.plan
    rec = plan.records[job.index]
    status = {"done": "done", "cancelled": "cancelled"}.get(res.status, "failed")
    rec.update(status=status, seconds=res.seconds, message=res.message, expected_gain_db=res.expected_gain_db,
               rec_error=res.rec_error, cubic_rec_error=res.cubic_rec_error, gain_db=res.gain_db)
    old = plan.manifest.entries.get(str(job.input), {})
    extra = dict(started=old.get("started"), finished=now_iso(), seconds=res.seconds, message=res.message)
    if status == "done":
        extra.update(output_sha256=res.output_sha256, expected_gain_db=res.expected_gain_db, rec_error=res.rec_error,
                     cubic_rec_error=res.cubic_rec_error, gain_db=res.gain_db,
                     rec_errors=res.rec_errors, cubic_rec_errors=res.cubic_rec_errors)
        if res.notices:
            extra["notices"] = res.notices
    plan.manifest.entries[str(job.input)] = _entry(plan, job, status, **extra)
    plan.manifest.save(force=False)
    state.finished += 1
    state.fractions.pop(job.index, None)
    if announce:
        state.report.file_done(rec, res.notices if status == "done" else [])


def _progress(state: _State) -> None:
    running = {i: sum(f.values()) / max(state.n_parts.get(i, 1), 1) for i, f in state.fractions.items()}
    done = len(state.plan.records) - len(state.plan.jobs) + state.finished + sum(running.values())
    names = {Path(state.plan.records[i]["input"]).name: fr for i, fr in sorted(running.items())}
    state.report.progress(done, names, sum(r["status"] == "failed" for r in state.plan.records))


def run_batch(plan: Plan, opts: BatchOptions, config, argv, interrupted: threading.Event,
              report: Reporter) -> str:
    """Run the plan's jobs; returns "ok", "interrupted" or "error" (records and manifest updated)."""
    from distributed import Event, as_completed

    jobs = {j.index: j for j in plan.jobs}
    batch_id = uuid.uuid4().hex[:12]
    local_cancel = T.register_local_cancel(batch_id)
    cl = start_cluster(opts, len(jobs))
    state = _State(plan, report)
    report.started(len(jobs), sum(r["status"] == "skipped" for r in plan.records), len(plan.records),
                   cl.description)
    client = cl.client
    dist_cancel = Event(f"zssr-cancel-{batch_id}", client=client)
    topic = f"zssr-progress-{batch_id}"

    def on_progress(event):
        msg = event[1] if isinstance(event, tuple) and len(event) == 2 else event
        if isinstance(msg, dict) and "index" in msg:
            state.fractions.setdefault(msg["index"], {})[msg.get("part", 0)] = float(msg.get("fraction") or 0)

    client.subscribe_topic(topic, on_progress)
    now = now_iso()
    for job in jobs.values():
        plan.manifest.entries[str(job.input)] = _entry(plan, job, "pending", started=now)
    plan.manifest.save()

    res_spec = {"zssr": 1} if cl.use_resources else None
    n_jobs = len(jobs)
    ac = as_completed()
    for job in jobs.values():
        spec = T.TaskSpec(index=job.index, input=str(job.input), output=str(job.output), config=config,
                          run=plan.spec, axes=opts.axes, overwrite=job.overwrite, argv=list(argv),
                          batch_id=batch_id, task_threads=cl.task_threads, model_sha256=plan.model_sha256)
        state.specs[job.index] = spec
        fut = client.submit(T.inspect, spec, key=f"zssr-inspect-{job.index}-{batch_id}", pure=False,
                            priority=2 * n_jobs - job.index)
        state.kind[fut.key] = ("inspect", job.index)
        ac.add(fut)

    outcome = "ok"
    try:
        while not ac.is_empty():
            if interrupted.is_set():
                outcome = "interrupted"
                break
            batch = ac.next_batch(block=False)
            if not batch:
                _progress(state)
                time.sleep(0.2)
                continue
            for fut in batch:
                _handle(fut, state, jobs, client, ac, res_spec, n_jobs, batch_id)
        if outcome == "interrupted":
            report.note("interrupted; cancelling the running tasks (Ctrl-C again to stop at once)")
            local_cancel.set()
            try:
                dist_cancel.set()
            except Exception:  # noqa: BLE001
                pass
            _drain(ac, state, jobs)
    except KeyboardInterrupt:
        outcome = "interrupted"
    except Exception as exc:  # noqa: BLE001 -- e.g. lost the scheduler: fail what is left, keep the rest
        outcome = "error"
        msg = f"batch stopped: {type(exc).__name__}: {one_line(exc)}"
        for idx, job in jobs.items():
            if plan.records[idx]["status"] == "pending":
                _finish(state, job, T.FileResult("failed", msg))
    finally:
        local_cancel.set()
        for idx, job in jobs.items():
            if plan.records[idx]["status"] == "pending":
                _finish(state, job, T.FileResult("cancelled", "cancelled"), announce=False)
        plan.manifest.save()
        _progress(state)
        report.close()
        try:
            client.unsubscribe_topic(topic)
            live = list(ac.futures) + [f for fs in state.parts.values() for f in fs]
            client.cancel(live, force=True)
        except Exception:  # noqa: BLE001
            pass
        cl.close()
        T.unregister_local_cancel(batch_id)
    return outcome


def _drain(ac, state: _State, jobs) -> None:
    """After a cancel: collect what finishes within the grace period (outputs written are kept)."""
    deadline = time.monotonic() + CANCEL_GRACE_S
    while not ac.is_empty() and time.monotonic() < deadline:
        batch = ac.next_batch(block=False)
        if not batch:
            time.sleep(0.1)
            continue
        for fut in batch:
            kind, idx = state.kind.get(fut.key, (None, None))
            if kind == "write":
                _collect_write(fut, state, jobs[idx])


def _collect_write(fut, state, job) -> None:
    if fut.status == "finished":
        res = fut.result()
    elif fut.status == "cancelled":
        res = T.FileResult("cancelled", "cancelled")
    else:
        res = T.FileResult("failed", f"{job.input}: worker failed: {one_line(fut.exception())}")
    state.parts.pop(job.index, None)
    _finish(state, job, res)
    fut.release()


def _handle(fut, state: _State, jobs, client, ac, res_spec, n_jobs, batch_id) -> None:
    kind, idx = state.kind.pop(fut.key)
    job = jobs[idx]
    if kind == "write":
        _collect_write(fut, state, job)
        return
    # inspect finished: submit the parts and the write, or record the failure
    if fut.status != "finished":
        res = T.Inspected("failed", f"{job.input}: worker failed: {one_line(fut.exception())}")
    else:
        res = fut.result()
    fut.release()
    if res.status != "ok":
        _finish(state, job, T.FileResult("failed", res.message))
        return
    spec = state.specs[idx]
    n = int(res.n_parts)
    state.n_parts[idx] = n
    parts = []
    for c in range(n):
        part = c if n > 1 else None
        parts.append(client.submit(T.run_part, spec, part, n, key=f"zssr-part-{idx}-{c}-{batch_id}", pure=False,
                                   resources=res_spec, priority=n_jobs - idx))
    wfut = client.submit(T.write_output, spec, *parts, key=f"zssr-write-{idx}-{batch_id}", pure=False,
                         priority=2 * n_jobs)
    state.parts[idx] = parts
    state.kind[wfut.key] = ("write", idx)
    ac.add(wfut)
