"""How `zssr batch` scales with dask workers, and what applying a saved model saves over training.

Makes N small simulated z-stacks (default 8 of 4x96x96 uint16, napari_zssr.testing.simulate), runs the
same batch with 1 worker and with 2 workers on the same total number of cores (threads per
worker = cores / workers), and prints wall times and their ratio. Then times, on one stack,
training (`zssr --save-model`) against applying the saved network (`zssr --model`).

    python benchmarks/batch_scaling.py                  # 8 stacks 4x96x96, 300 iterations
    python benchmarks/batch_scaling.py --quick          # seconds: 4 stacks 2x32x32, 5 iterations
    ZSSR_BENCH_QUICK=1 python benchmarks/batch_scaling.py

Wall times include starting each local cluster (worker processes import torch), which is why
small batches scale worse than large ones. --json PATH saves the numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_zssr.cli import main as zssr
from napari_zssr.io import write_image
from napari_zssr.testing.simulate import add_noise, simulate_volume


def make_stacks(folder: Path, n: int, shape) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        vol = add_noise(simulate_volume(tuple(shape), seed=i), photons=300.0, read_noise=2.0, seed=i)
        data = np.clip(vol * 4000 + 100, 0, 65535).astype(np.uint16)
        p = folder / f"stack{i:02d}.tif"
        write_image(p, data, "ZYX", {"z": 0.2, "y": 0.2, "x": 0.2})
        paths.append(p)
    return paths


def run_batch(src: Path, out: Path, workers: int, threads: int, common: list, in_process: bool) -> dict:
    if out.exists():
        shutil.rmtree(out)
    argv = ["batch", str(src), "-o", str(out), "--workers", str(workers), "--threads-per-worker", str(threads),
            "-q", *common] + (["--in-process"] if in_process else [])
    t0 = time.perf_counter()
    code = zssr(argv)
    wall = time.perf_counter() - t0
    summary = json.loads((out / "zssr-summary.json").read_text())
    if code != 0:
        raise SystemExit(f"batch with {workers} worker(s) failed (exit {code}): {summary['counts']}")
    task_s = sum(f["seconds"] or 0.0 for f in summary["files"])
    return {"workers": workers, "threads_per_worker": threads, "wall_s": wall, "task_s": task_s,
            "files": len(summary["files"])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", default=bool(os.environ.get("ZSSR_BENCH_QUICK")),
                    help="tiny setting that finishes in seconds (also ZSSR_BENCH_QUICK=1)")
    ap.add_argument("--files", type=int, default=None, help="number of stacks (default 8; quick 4)")
    ap.add_argument("--shape", default=None, help="Z,Y,X of each stack (default 4,96,96; quick 2,32,32)")
    ap.add_argument("--max-iters", type=int, default=None, help="training iterations (default 300; quick 5)")
    ap.add_argument("--cores", type=int, default=None, help="total cores for the cluster (default: all)")
    ap.add_argument("--in-process", action="store_true", help="workers as threads of this process")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files (default: a temp folder)")
    ap.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = ap.parse_args(argv)

    n = args.files or (4 if args.quick else 8)
    shape = [int(s) for s in (args.shape or ("2,32,32" if args.quick else "4,96,96")).split(",")]
    iters = args.max_iters or (5 if args.quick else 300)
    cores = args.cores or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    common = ["--max-iters", str(iters), "--no-ensemble", "--seed", "0"]

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="zssr-batch-bench-"))
    try:
        src = work / "stacks"
        t0 = time.perf_counter()
        paths = make_stacks(src, n, shape)
        print(f"{n} stacks {'x'.join(map(str, shape))} uint16 in {time.perf_counter() - t0:.1f} s; "
              f"{iters} iterations, no self-ensemble; {cores} core(s)", flush=True)

        runs = []
        for w in (1, 2):
            r = run_batch(src, work / f"out_{w}w", w, max(1, cores // w), common, args.in_process)
            runs.append(r)
            print(f"  {w} worker(s) x {r['threads_per_worker']} thread(s): wall {r['wall_s']:.1f} s "
                  f"(sum of task times {r['task_s']:.1f} s)", flush=True)
        ratio = runs[0]["wall_s"] / runs[1]["wall_s"]
        print(f"  speed-up 1 -> 2 workers: x{ratio:.2f}", flush=True)

        model = work / "stack00.zssr"
        one = ["-q", *common]
        t0 = time.perf_counter()
        assert zssr([str(paths[0]), "-o", str(work / "trained.tif"), "--save-model", str(model), "--overwrite",
                     *one]) == 0
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        assert zssr([str(paths[0]), "-o", str(work / "applied.tif"), "--model", str(model), "--overwrite",
                     *one]) == 0
        apply_s = time.perf_counter() - t0
        print(f"one stack: train + apply {train_s:.2f} s, apply a saved model {apply_s:.2f} s "
              f"(x{train_s / max(apply_s, 1e-9):.1f} faster)", flush=True)

        result = {"files": n, "shape": shape, "max_iters": iters, "cores": cores, "runs": runs,
                  "speedup_2_workers": ratio, "train_s": train_s, "apply_model_s": apply_s}
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
