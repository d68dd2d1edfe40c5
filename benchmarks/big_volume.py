"""Peak memory and wall time of chunked runs on synthetic OME-Zarr volumes (issue 15's benchmark).

For each volume size (Y = X = --size, --planes z planes, uint16) and each mode (lateral x2,
axial x4) and worker count, one child process runs nd.chunked.run_chunked on a LocalCluster of
process workers; this driver samples the RSS of the child and all its descendants (psutil, every
0.1 s) and reports the peak of the largest single process and of the whole tree. The claim to
check: peak RSS per process stays flat (within +-15 %) as the volume grows.

    python benchmarks/big_volume.py --planes 16 64 128 --workers 1 2 --out benchmarks/results/big_volume.md
    python benchmarks/big_volume.py --size 256 --planes 8 16 --modes lateral --workers 1 --iters 50 \\
        --out benchmarks/results/big_volume_cpu_small.md          # a quick CPU check

Inputs are generated plane by plane into --workdir (kept for reuse); each output is deleted after
its run. On a CPU a 2048x2048 plane costs minutes of inference; run the big sizes on a GPU machine
or in the background.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def make_input(path: Path, planes: int, size: int) -> Path:
    """A uint16 volume of blurred blobs and noise, written plane by plane (never whole in memory)."""
    from napari_zssr.io.ome_zarr import OmeMetadata, create_ome_zarr, write_pyramid

    if (path / "zarr.json").is_file():
        return path
    group = create_ome_zarr(path, (planes, size, size), np.uint16, "ZYX",
                            OmeMetadata(pixel_sizes={"z": 2.0, "y": 0.5, "x": 0.5}), chunks=(1, 512, 512))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for z in range(planes):
        rng = np.random.default_rng(z)
        plane = np.zeros((size, size), np.float32)
        for _ in range(40):                                       # blobs of several sizes
            cy, cx, r = rng.random(), rng.random(), 0.005 + 0.05 * rng.random()
            plane += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        plane = 200 + 3000 * plane / max(plane.max(), 1e-6) + rng.normal(0, 30, plane.shape)
        group["0"][z] = np.clip(plane, 0, 65535).astype(np.uint16)
    write_pyramid(group, "ZYX")
    return path


def child(args) -> None:
    """One run; prints a JSON line with the run's timings."""
    import resource

    from napari_zssr.engine.config import ZSSRConfig
    from napari_zssr.nd import RunSpec
    from napari_zssr.nd.chunked import ClusterOptions, TrainingSample, run_chunked

    overrides = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    cfg = ZSSRConfig(max_iters=args.iters, num_threads=1).replace(**overrides)
    t0 = time.perf_counter()
    spec = RunSpec(mode=args.modes[0], factors=2 if args.modes[0] == "lateral" else None)
    res = run_chunked(args.child[0], args.child[1], spec, cfg,
                      cluster=ClusterOptions(n_workers=args.workers[0], processes=True),
                      sample=TrainingSample(args.train_planes))
    print(json.dumps({"wall_s": time.perf_counter() - t0, "seconds": res.seconds, "blocks": res.blocks,
                      "client_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(inp: Path, out: Path, mode: str, workers: int, args) -> dict:
    import psutil

    cmd = [sys.executable, __file__, "--child", str(inp), str(out), "--modes", mode, "--workers", str(workers),
           "--iters", str(args.iters), "--train-planes", str(args.train_planes), "--set", *args.set]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    root = psutil.Process(proc.pid)
    peak_proc, peak_tree = 0, 0
    while proc.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
            rss = []
            for p in procs:
                try:
                    rss.append(p.memory_info().rss)
                except psutil.Error:
                    pass
            peak_proc, peak_tree = max(peak_proc, max(rss, default=0)), max(peak_tree, sum(rss))
        except psutil.Error:
            pass
        time.sleep(0.1)
    stdout = proc.stdout.read()
    if proc.returncode:
        raise SystemExit(f"run failed ({mode}, {workers} workers): rc {proc.returncode}")
    info = json.loads(stdout.strip().splitlines()[-1])
    shutil.rmtree(out, ignore_errors=True)
    return {**info, "peak_proc_mib": peak_proc / 2**20, "peak_tree_mib": peak_tree / 2**20}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--planes", type=int, nargs="+", default=[16, 64, 128])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--modes", nargs="+", default=["lateral", "axial"], choices=["lateral", "axial"])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--iters", type=int, default=200, help="training iterations (memory does not depend on them)")
    ap.add_argument("--train-planes", type=int, default=16)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON",
                    help="config overrides, e.g. depth=2 width=8: a cheaper network for a CPU check of "
                         "the block pipeline's memory (say so next to the numbers)")
    ap.add_argument("--workdir", default="/tmp/zssr-big-volume")
    ap.add_argument("--out", default=None, help="markdown table to write")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)
    from report import write_report

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for planes in args.planes:
        inp = make_input(work / f"in_{args.size}_{planes}.zarr", planes, args.size)
        for mode in args.modes:
            for w in args.workers:
                r = measure(inp, work / f"out_{mode}_{planes}_{w}.zarr", mode, w, args)
                rows.append((planes, mode, w, r))
                print(f"{planes} planes {mode} {w} worker(s): {r['wall_s']:.0f} s, peak process "
                      f"{r['peak_proc_mib']:.0f} MiB, tree {r['peak_tree_mib']:.0f} MiB", flush=True)
                if args.out:                    # after every row: a run stopped later keeps what finished
                    write_report(_table(rows, args), args.out)
    if not args.out:
        print(_table(rows, args))


def _table(rows, args) -> str:
    lines = [f"# Chunked runs: {args.size}x{args.size} uint16, OME-Zarr in and out",
             "", f"Command: `python benchmarks/big_volume.py {' '.join(sys.argv[1:])}`",
             (f"Training: {args.iters} iterations on {args.train_planes} planes; config overrides: "
              f"{' '.join(args.set) or 'none'}; workers are processes, "
              "1 thread each; RSS sampled every 0.1 s over the run's whole process tree."), "",
             ("| planes | mode | workers | wall (s) | train (s) | blocks (s) | blocks | peak RSS, largest process (MiB)"
              " | peak RSS, all processes (MiB) |"), "|---|---|---|---|---|---|---|---|---|"]
    for planes, mode, w, r in rows:
        s = r["seconds"]
        lines.append(f"| {planes} | {mode} | {w} | {r['wall_s']:.1f} | {s.get('train', 0):.1f} | "
                     f"{s.get('blocks', 0):.1f} | {r['blocks']} | {r['peak_proc_mib']:.0f} | "
                     f"{r['peak_tree_mib']:.0f} |")
    return "\n".join(lines) + "\n"

if __name__ == "__main__":
    main()
