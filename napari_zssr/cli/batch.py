"""`zssr batch INPUTS... -o OUT_DIR [options]`: many images on a dask.distributed cluster.

Argument parsing and printing around `napari_zssr.runs.batch_runner` (plan, cluster, tasks, manifest):
one task per file x channel, preceded by a cheap inspection task per file (a bad file fails
there, alone) and followed by a write task (atomic: temp file + rename). A local cluster sized to
the machine by default, or any running cluster with --scheduler ADDRESS. `zssr-manifest.json`
in OUT_DIR makes reruns resume: an input whose output is recorded as done with matching input,
parameter and output checksums is skipped; failed, cancelled, missing or changed ones are redone.
`zssr-summary.json` and a printed table list every input with its status, time, reconstruction
error and gain over cubic interpolation.

Exit status: 0 all done or skipped; 1 some failed; 2 bad command line (nothing run);
130 interrupted with Ctrl-C (running tasks cancelled; finished outputs kept and recorded).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from ..runs.batch_runner import BatchOptions, make_plan, run_batch
from ..runs.errors import UsageError
from ..runs.manifest import now_iso
from ..runs.summary import STATUSES, summary_rows, write_summary
from . import _ui
from .options import (OptionError, ZSSRArgumentParser, add_common_options, add_model_options, config_from_args,
                      normalise_argv, positive_int)

PROG = "zssr batch"

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


# --- printing ------------------------------------------------------------------------------------

class _Printer:
    """The batch's Reporter on the terminal: one bar over the files, a line per file."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None

    def started(self, n_run: int, n_skipped: int, n_total: int, cluster: str) -> None:
        if self.quiet:
            return
        _ui.info(f"{n_run} to run, {n_skipped} skipped; {cluster}", prog=PROG)
        from tqdm import tqdm
        self.bar = tqdm(total=n_total, initial=n_total - n_run, unit="file", desc=PROG, file=sys.stderr,
                        dynamic_ncols=True, mininterval=0.5,
                        bar_format="{l_bar}{bar}| {n:.1f}/{total_fmt} [{elapsed}<{remaining}{postfix}]")

    def progress(self, done: float, running: Dict[str, float], failed: int) -> None:
        if self.bar is None:
            return
        self.bar.n = min(done, self.bar.total)
        names = [f"{name} {100 * fr:.0f}%" for name, fr in list(running.items())[:3]]
        post = ", ".join(names) + (f" +{len(running) - len(names)}" if len(running) > len(names) else "")
        self.bar.set_postfix_str((f"{failed} failed; " if failed else "") + post, refresh=False)
        self.bar.refresh()

    def file_done(self, rec: dict, notices: List[str]) -> None:
        lines = [f"{PROG}: {Path(rec['input']).name}: {n}" for n in notices]
        if rec["status"] == "failed" or not self.quiet:
            lines.append(_status_line(rec))
        for line in lines:
            self.note(line, prefixed=True)

    def note(self, message: str, prefixed: bool = False) -> None:
        line = message if prefixed else f"{PROG}: {message}"
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _status_line(rec: dict) -> str:
    name = Path(rec["input"]).name
    if rec["status"] == "done":
        t = f"{rec['seconds']:.1f} s" if rec.get("seconds") is not None else ""
        q = f", rec error {rec['rec_error']:.2e}" if rec.get("rec_error") is not None else ""
        g = (f", expected {rec['expected_gain_db']:+.1f} dB over cubic (held-out)"
             if rec.get("expected_gain_db") is not None else "")
        return f"{PROG}: done {name} -> {Path(rec['output']).name} ({t}{q}{g})"
    msg = rec.get("message") or ""
    return f"{PROG}: {rec['status']}: {msg if msg and msg != rec['status'] else name}"


def _fmt_time(s: Optional[float]) -> str:
    if s is None:
        return "-"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def _short(path: str) -> str:
    """A path relative to the working directory when it lies below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def format_table(rows: List[dict]) -> str:
    """status | time | rec error | expected gain over cubic (held-out) | input (message)."""
    lines = [f"{'status':<10}{'time':>10}{'rec error':>12}{'gain dB':>9}  input"]
    for r in rows:
        rec = f"{r['rec_error']:.3e}" if r.get("rec_error") is not None else "-"
        gain = f"{r['expected_gain_db']:+.2f}" if r.get("expected_gain_db") is not None else "-"
        name = _short(str(r.get("input")))
        msg = r.get("message") or ""
        if r.get("status") in ("failed", "cancelled") and msg and msg != r.get("status"):
            name = f"{name}: {msg[len(str(r.get('input'))) + 2:]}" if msg.startswith(f"{r.get('input')}: ") \
                else f"{name}: {msg}"
        lines.append(f"{r.get('status', '?'):<10}{_fmt_time(r.get('seconds')):>10}{rec:>12}{gain:>9}  {name}")
    counts = {s: sum(r.get("status") == s for r in rows) for s in STATUSES}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n) + f" of {len(rows)} input(s)"
                 + "; gain dB: expected gain over cubic, measured on held-out parts of each image")
    return "\n".join(lines)


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
        opts = BatchOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(BatchOptions)})
        plan = make_plan(opts, config, spec)
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
            if not args.quiet:              # the workers take seconds to start: a line from the first ones
                where = f"connecting to {args.scheduler}" if args.scheduler else "starting a local cluster"
                _ui.info(f"{where} for {len(plan.jobs)} file(s)", prog=PROG)
            with _ui.sigint_cancels(interrupted, signals=(signal.SIGINT, signal.SIGTERM)):
                outcome = run_batch(plan, opts, config, ["batch"] + argv, interrupted, _Printer(args.quiet))
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
