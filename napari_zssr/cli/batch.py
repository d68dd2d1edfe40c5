"""`zssr batch INPUTS... -o OUT_DIR [options]`: many images on a dask.distributed cluster.

One task per file x channel (one per file when channels are joint, RGB or absent), preceded by
a cheap inspection task per file (a bad file fails there, alone) and followed by a write task
(atomic: temp file + rename). A local cluster sized to the machine by default, or any running
cluster with --scheduler ADDRESS. `zssr-manifest.json` in OUT_DIR makes reruns resume: an input
whose output is recorded as done with matching input, parameter and output checksums is skipped;
failed, cancelled, missing or changed ones are redone. `zssr-summary.json` and a printed table list
every input with its status, time, reconstruction error and gain over cubic interpolation.

Exit status: 0 all done or skipped; 1 some failed; 2 bad command line (nothing run);
130 interrupted with Ctrl-C (running tasks cancelled; finished outputs kept and recorded).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from ..io import check_not_input
from . import _ui
from ._manifest import (BatchLock, Manifest, UsageError, expand_inputs, file_facts, format_table, now_iso,
                        output_names, params_sha256, run_params, sha256_file, summary_rows, write_summary)
from .options import (OptionError, ZSSRArgumentParser, add_common_options, add_model_options, config_from_args,
                      normalise_argv, positive_int)

PROG = "zssr batch"
CANCEL_GRACE_S = 30.0

EPILOG = """\
examples:
  zssr batch data/*.tif -o results/ --scale 2
  zssr batch data/ -o results/ --axial --z-fwhm 1.5um --workers 4 --threads-per-worker 4
  zssr cells.tif -o cells_x2.tif --save-model cells.zssr && zssr batch data/ -o results/ --model cells.zssr
  zssr batch data/ -o results/ --scheduler tcp://10.0.0.5:8786      (an existing dask cluster)

Inputs are files, folders (their .tif/.tiff/.png files) or quoted glob patterns. Outputs are
OUT_DIR/<name>_zssr.tif. Rerunning the same command skips what is done and redoes the rest;
zssr-manifest.json and zssr-summary.json in OUT_DIR record what happened.
Exit status: 0 all done or skipped, 1 some failed, 2 bad command line, 130 interrupted (Ctrl-C).
"""


def build_parser() -> argparse.ArgumentParser:
    p = ZSSRArgumentParser(
        prog=PROG,
        description="Zero-Shot Super-Resolution of many TIFF/PNG images with dask.distributed:\n"
                    "one task per file and channel, resumable, one bad file fails only itself.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or quoted glob patterns")
    p.add_argument("-o", "--output-dir", required=True, metavar="OUT_DIR",
                   help="folder for the results, the manifest and the summary (created if missing)")
    add_common_options(p)
    add_model_options(p, save=False)
    b = p.add_argument_group("batch")
    b.add_argument("--suffix", default="_zssr", metavar="TEXT",
                   help="output name: <input name><TEXT>.tif (default _zssr)")
    b.add_argument("--force", action="store_true",
                   help="redo every input, even those the manifest records as done and unchanged")
    d = p.add_argument_group("dask")
    d.add_argument("--scheduler", metavar="ADDRESS",
                   help="use a running dask cluster (e.g. tcp://host:8786 or a scheduler file .json) "
                        "instead of starting a local one")
    d.add_argument("--workers", type=positive_int(1), metavar="N",
                   help="local cluster: worker processes (default: one per GPU, else cores / 4)")
    d.add_argument("--threads-per-worker", type=positive_int(1), metavar="N",
                   help="local cluster: threads per worker; each task uses them all for torch "
                        "(default: cores / workers)")
    d.add_argument("--in-process", action="store_true",
                   help="local cluster: workers as threads of this process (quick start; small batches)")
    d.add_argument("--task-threads", type=positive_int(1), metavar="N",
                   help="torch threads per task (default: the worker's threads when workers run one "
                        "zssr task at a time - local cluster, or workers started with --resources "
                        "zssr=1 -, else 1)")
    d.add_argument("--dashboard", nargs="?", const=":8787", default=None, metavar="ADDRESS",
                   help="local cluster: serve the dask dashboard (default address :8787)")
    return p


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
               rec_error=None, cubic_rec_error=None, gain_db=None, message=message)
    rec.update(extra)
    return rec


def make_plan(args, config, spec) -> Plan:
    """Check the batch as a whole (UsageError -> exit 2) and decide per input: run or skip."""
    out_dir = Path(args.output_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder")
    expand_inputs(args.inputs, out_dir, args.suffix)          # bad inputs: exit 2 before creating anything
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
    if "/" in args.suffix or os.sep in args.suffix:
        raise UsageError(f"--suffix {args.suffix!r}: must not contain a path separator")

    lock = BatchLock(out_dir).acquire()
    try:
        manifest = Manifest.load(out_dir)
        inputs = expand_inputs(args.inputs, out_dir, args.suffix)
        names = output_names(inputs, out_dir, args.suffix, manifest.entries)
        for path in inputs:                                   # never onto an input, even with --overwrite
            try:
                check_not_input(names[str(path)], inputs)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        params = run_params(config, spec, axes=args.axes, model_sha256=model_sha, suffix=args.suffix)
        psha = params_sha256(params)
        records, jobs = [], []
        for path in inputs:
            key, out = str(path), names[str(path)]
            try:
                facts = file_facts(path)
            except OSError as exc:
                records.append(_record(path, out, "failed", f"{path}: cannot read ({exc.strerror})"))
                continue
            if not args.force and manifest.is_current(key, facts, psha, out):
                old = manifest.entries[key]
                records.append(_record(path, out, "skipped", "unchanged since " + str(old.get("finished")),
                                       seconds=old.get("seconds"), rec_error=old.get("rec_error"),
                                       cubic_rec_error=old.get("cubic_rec_error"), gain_db=old.get("gain_db")))
                continue
            ours = manifest.owns(key, out)
            if out.exists() and not (ours or args.overwrite):
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
class Cluster:
    client: object
    cluster: object = None
    use_resources: bool = True
    task_threads: Optional[int] = None
    description: str = ""

    def close(self) -> None:
        for obj in (self.client, self.cluster):
            if obj is None:
                continue
            try:
                obj.close(timeout=10) if obj is self.client else obj.close()
            except Exception:  # noqa: BLE001 -- closing is best effort
                pass


def start_cluster(args, n_tasks: int) -> Cluster:
    from distributed import Client, LocalCluster
    if not os.environ.get("ZSSR_DEBUG"):
        for name in ("distributed", "distributed.worker", "distributed.scheduler", "distributed.nanny",
                     "distributed.core", "distributed.comm", "tornado"):
            logging.getLogger(name).setLevel(logging.ERROR)
    if args.scheduler:
        try:
            if args.scheduler.endswith(".json") and Path(args.scheduler).is_file():
                client = Client(scheduler_file=args.scheduler, timeout="20s")
            else:
                client = Client(args.scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(f"cannot connect to the dask scheduler {args.scheduler} "
                             f"({_one_line(exc)})") from None
        workers = client.scheduler_info().get("workers", {})
        use_res = any("zssr" in (w.get("resources") or {}) for w in workers.values())
        threads = args.task_threads or (None if use_res else 1)
        desc = f"scheduler {args.scheduler}: {len(workers)} worker(s) now" + \
               (", one zssr task per worker" if use_res else f", {threads} torch thread(s) per task")
        return Cluster(client, None, use_res, threads, desc)
    n_w, n_t = local_size(args.workers, args.threads_per_worker, n_tasks)
    cluster = LocalCluster(n_workers=n_w, threads_per_worker=n_t, processes=not args.in_process,
                           resources={"zssr": 1}, dashboard_address=args.dashboard,
                           silence_logs=logging.ERROR if not os.environ.get("ZSSR_DEBUG") else logging.WARNING)
    client = Client(cluster)
    kind = "threads" if args.in_process else "processes"
    desc = f"local cluster: {n_w} worker {kind} x {n_t} thread(s)"
    if args.dashboard:
        desc += f", dashboard {client.dashboard_link}"
    return Cluster(client, cluster, True, args.task_threads or n_t, desc)


def _one_line(exc) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# --- Ctrl-C ---------------------------------------------------------------------------------------

@contextmanager
def _interrupts(flag: threading.Event):
    """First Ctrl-C (or SIGTERM) sets `flag`; a second one raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag.is_set():
            raise KeyboardInterrupt
        flag.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# --- running --------------------------------------------------------------------------------------

@dataclass
class _State:
    """Client-side bookkeeping of the running files."""
    plan: Plan
    specs: Dict[int, object] = field(default_factory=dict)
    kind: Dict[str, tuple] = field(default_factory=dict)        # future key -> ("inspect"|"write", index)
    parts: Dict[int, list] = field(default_factory=dict)        # index -> part futures
    n_parts: Dict[int, int] = field(default_factory=dict)
    fractions: Dict[int, Dict[int, float]] = field(default_factory=dict)
    stages: Dict[int, str] = field(default_factory=dict)
    finished: int = 0


def _entry(plan: Plan, job: Job, status: str, **extra) -> dict:
    e = dict(input=str(job.input), **job.facts, params=plan.params, params_sha256=plan.params_sha256,
             output=str(job.output), output_sha256=None, status=status)
    e.update(extra)
    return e


def _finish(state: _State, job: Job, res: dict, bar, quiet: bool) -> None:
    """Record one file's outcome in the record list and the manifest; print its status line."""
    plan = state.plan
    rec = plan.records[job.index]
    status = {"done": "done", "cancelled": "cancelled"}.get(res.status, "failed")
    rec.update(status=status, seconds=res.seconds, message=res.message,
               rec_error=res.rec_error, cubic_rec_error=res.cubic_rec_error, gain_db=res.gain_db)
    old = plan.manifest.entries.get(str(job.input), {})
    extra = dict(started=old.get("started"), finished=now_iso(), seconds=res.seconds, message=res.message)
    if status == "done":
        extra.update(output_sha256=res.output_sha256, rec_error=res.rec_error,
                     cubic_rec_error=res.cubic_rec_error, gain_db=res.gain_db,
                     rec_errors=res.rec_errors, cubic_rec_errors=res.cubic_rec_errors)
        if res.notices:
            extra["notices"] = res.notices
    plan.manifest.entries[str(job.input)] = _entry(plan, job, status, **extra)
    plan.manifest.save(force=False)
    state.finished += 1
    state.fractions.pop(job.index, None)
    lines = [f"{PROG}: {Path(rec['input']).name}: {n}" for n in (res.notices if status == "done" else [])]
    if status == "failed" or not quiet:
        lines.append(_status_line(rec))
    for line in lines:
        if bar is not None:
            bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)


def _status_line(rec: dict) -> str:
    name = Path(rec["input"]).name
    if rec["status"] == "done":
        t = f"{rec['seconds']:.1f} s" if rec.get("seconds") is not None else ""
        q = f", rec error {rec['rec_error']:.2e}" if rec.get("rec_error") is not None else ""
        g = f", {rec['gain_db']:+.2f} dB over cubic" if rec.get("gain_db") is not None else ""
        return f"{PROG}: done {name} -> {Path(rec['output']).name} ({t}{q}{g})"
    msg = rec.get("message") or ""
    return f"{PROG}: {rec['status']}: {msg if msg and msg != rec['status'] else name}"


def run_batch(plan: Plan, args, config, argv, interrupted: threading.Event) -> str:
    """Run the plan's jobs; returns "ok" or "interrupted" (records and manifest updated in place)."""
    from distributed import Event, as_completed

    from . import _batch_tasks as T

    jobs = {j.index: j for j in plan.jobs}
    batch_id = uuid.uuid4().hex[:12]
    local_cancel = T.register_local_cancel(batch_id)
    cl = start_cluster(args, len(jobs))
    state = _State(plan)
    quiet = args.quiet
    if not quiet:
        _ui.info(f"{len(jobs)} to run, {sum(r['status'] == 'skipped' for r in plan.records)} skipped; "
                 f"{cl.description}", prog=PROG)
    client = cl.client
    dist_cancel = Event(f"zssr-cancel-{batch_id}", client=client)
    topic = f"zssr-progress-{batch_id}"

    def on_progress(event):
        msg = event[1] if isinstance(event, tuple) and len(event) == 2 else event
        if isinstance(msg, dict) and "index" in msg:
            state.fractions.setdefault(msg["index"], {})[msg.get("part", 0)] = float(msg.get("fraction") or 0)
            state.stages[msg["index"]] = str(msg.get("stage", ""))

    client.subscribe_topic(topic, on_progress)
    from tqdm import tqdm
    n_total = len(plan.records)
    done_before = n_total - len(jobs)
    bar = None if quiet else tqdm(total=n_total, initial=done_before, unit="file", desc=PROG, file=sys.stderr,
                                  dynamic_ncols=True, mininterval=0.5,
                                  bar_format="{l_bar}{bar}| {n:.1f}/{total_fmt} [{elapsed}<{remaining}{postfix}]")
    now = now_iso()
    for job in jobs.values():
        plan.manifest.entries[str(job.input)] = _entry(plan, job, "pending", started=now)
    plan.manifest.save()

    res_spec = {"zssr": 1} if cl.use_resources else None
    n_jobs = len(jobs)
    ac = as_completed()
    for job in jobs.values():
        spec = T.TaskSpec(index=job.index, input=str(job.input), output=str(job.output), config=config,
                          run=plan.spec, axes=args.axes, overwrite=job.overwrite, argv=list(argv),
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
                _refresh(bar, state)
                time.sleep(0.2)
                continue
            for fut in batch:
                _handle(fut, state, jobs, client, ac, res_spec, n_jobs, batch_id, bar, quiet)
        if outcome == "interrupted":
            if bar is not None:
                bar.write(f"{PROG}: interrupted; cancelling the running tasks (Ctrl-C again to stop at once)",
                          file=sys.stderr)
            local_cancel.set()
            try:
                dist_cancel.set()
            except Exception:  # noqa: BLE001
                pass
            _drain(ac, state, jobs, bar, quiet)
    except KeyboardInterrupt:
        outcome = "interrupted"
    except Exception as exc:  # noqa: BLE001 -- e.g. lost the scheduler: fail what is left, keep the rest
        outcome = "error"
        msg = f"batch stopped: {type(exc).__name__}: {_one_line(exc)}"
        for idx, job in jobs.items():
            if plan.records[idx]["status"] == "pending":
                _finish(state, job, T.FileResult("failed", msg), bar, quiet)
    finally:
        local_cancel.set()
        for idx, job in jobs.items():
            if plan.records[idx]["status"] == "pending":
                _finish(state, job, T.FileResult("cancelled", "cancelled"), bar, True)
        plan.manifest.save()
        if bar is not None:
            _refresh(bar, state)
            bar.close()
        try:
            client.unsubscribe_topic(topic)
            live = list(ac.futures) + [f for fs in state.parts.values() for f in fs]
            client.cancel(live, force=True)
        except Exception:  # noqa: BLE001
            pass
        cl.close()
        T.unregister_local_cancel(batch_id)
    return outcome


def _drain(ac, state: _State, jobs, bar, quiet) -> None:
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
                _collect_write(fut, state, jobs[idx], bar, quiet)


def _collect_write(fut, state, job, bar, quiet) -> None:
    from ._batch_tasks import FileResult
    if fut.status == "finished":
        res = fut.result()
    elif fut.status == "cancelled":
        res = FileResult("cancelled", "cancelled")
    else:
        res = FileResult("failed", f"{job.input}: worker failed: {_one_line(fut.exception())}")
    state.parts.pop(job.index, None)
    _finish(state, job, res, bar, quiet)
    fut.release()


def _handle(fut, state: _State, jobs, client, ac, res_spec, n_jobs, batch_id, bar, quiet) -> None:
    from . import _batch_tasks as T
    kind, idx = state.kind.pop(fut.key)
    job = jobs[idx]
    if kind == "write":
        _collect_write(fut, state, job, bar, quiet)
        return
    # inspect finished: submit the parts and the write, or record the failure
    if fut.status != "finished":
        res = T.Inspected("failed", f"{job.input}: worker failed: {_one_line(fut.exception())}")
    else:
        res = fut.result()
    fut.release()
    if res.status != "ok":
        _finish(state, job, T.FileResult("failed", res.message), bar, quiet)
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


def _refresh(bar, state: _State) -> None:
    if bar is None:
        return
    running = {i: sum(f.values()) / max(state.n_parts.get(i, 1), 1) for i, f in state.fractions.items()}
    base = len(state.plan.records) - len(state.plan.jobs) + state.finished
    bar.n = min(base + sum(running.values()), bar.total)
    names = [f"{Path(state.plan.records[i]['input']).name} {100 * fr:.0f}%"
             for i, fr in sorted(running.items())][:3]
    more = len(running) - len(names)
    post = ", ".join(names) + (f" +{more}" if more > 0 else "")
    failed = sum(r["status"] == "failed" for r in state.plan.records)
    if failed:
        post = f"{failed} failed; " + post
    bar.set_postfix_str(post, refresh=False)
    bar.refresh()


# --- the command ----------------------------------------------------------------------------------

def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    t0, started = time.perf_counter(), now_iso()
    try:
        args = build_parser().parse_args(normalise_argv(argv))
        config, spec = config_from_args(args)
        if args.scheduler:
            local = [f for f, v in (("--workers", args.workers), ("--threads-per-worker", args.threads_per_worker),
                                    ("--in-process", args.in_process), ("--dashboard", args.dashboard)) if v]
            if local:
                raise OptionError(f"{', '.join(local)} configure the local cluster; with --scheduler the "
                                  f"running cluster's workers are used")
        plan = make_plan(args, config, spec)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except (OptionError, UsageError) as exc:
        _ui.error(str(exc), prog=PROG)
        return 2
    except KeyboardInterrupt:
        _ui.error("interrupted; nothing run", prog=PROG)
        return 130

    interrupted = threading.Event()
    outcome = "ok"
    try:
        if plan.jobs:
            with _interrupts(interrupted):
                outcome = run_batch(plan, args, config, ["batch"] + argv, interrupted)
    except UsageError as exc:                       # e.g. cannot reach the scheduler
        _ui.error(str(exc), prog=PROG)
        for r in plan.records:
            if r["status"] == "pending":
                r.update(status="cancelled", message="not run")
        outcome = "usage"
    except KeyboardInterrupt:
        outcome = "interrupted"
    finally:
        plan.lock.release()

    rows = summary_rows(plan.records)
    if outcome == "usage":
        code = 2
    elif outcome == "interrupted":
        code = 130
    else:
        code = 1 if any(r["status"] in ("failed", "cancelled") for r in rows) else 0
    try:
        write_summary(plan.out_dir, rows, started=started, wall_s=time.perf_counter() - t0, exit_status=code,
                      argv=["batch"] + argv, extra={"params": plan.params, "params_sha256": plan.params_sha256})
    except OSError as exc:
        _ui.error(f"cannot write the summary ({exc})", prog=PROG)
    if not args.quiet:
        print(format_table(rows), flush=True)
    if code == 130:
        _ui.error("interrupted; finished outputs are kept (rerun the same command to resume)", prog=PROG)
    return code
