"""Lateral x2 on stacks with one shared network: wall time vs number of planes.

    python benchmarks/stack.py                    # 1, 10, 30, 60 planes of 256x256
    python benchmarks/stack.py --planes 1,30 --preset fast

One network is trained on examples pooled from all planes (same number of iterations as for a
single plane), then applied to every plane in batches, so time grows slowly with the plane count.
With --quality the planes are first downscaled x2 (MATLAB bicubic) and the result is compared
with the simulated planes (PSNR over the data range, next to cubic upscaling).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from napari_zssr.engine.resize import imresize
from napari_zssr.nd import super_resolve_nd
from napari_zssr.testing.simulate import simulate_volume
from report import describe_device, preset_config, use_prior_dir, write_report


def _psnr(a, ref) -> float:
    """PSNR over the simulated signal range (3000 counts), 2 pixels shaved."""
    return float(10 * np.log10(3000.0 ** 2 / np.mean((a[..., 2:-2, 2:-2] - ref[..., 2:-2, 2:-2]) ** 2)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--planes", default="1,10,30,60")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quality", action="store_true", help="x2-downscaled input, PSNR against the simulation")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "stack.md"))
    ap.add_argument("--prior-dir", default=None, help="priors from this folder instead of the shipped ones")
    args = ap.parse_args(argv)
    use_prior_dir(args.prior_dir)
    counts = [int(p) for p in args.planes.split(",")]
    vol = simulate_volume((max(counts), args.size, args.size), seed=args.seed)
    truth = vol * 3000 + 100
    if args.quality:
        import torch
        vol = imresize(torch.from_numpy(truth.astype(np.float32)), 0.5).numpy()
    vol = np.clip(np.round(vol), 0, 65535).astype(np.uint16)
    cfg = preset_config(args.preset, seed=args.seed)
    rows, base = [], None
    for n in counts:
        data, axes = (vol[0], "YX") if n == 1 else (vol[:n], "ZYX")
        t0, c0 = time.perf_counter(), time.process_time()
        res = super_resolve_nd(data, axes, scale=2, config=cfg)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        base = base or wall
        q = ""
        if args.quality:
            import torch
            ref = truth[0] if n == 1 else truth[:n]
            cub = imresize(torch.from_numpy(vol[0] if n == 1 else vol[:n]).float(), 2.0).numpy()
            q = f"{_psnr(res.data.astype(np.float64), ref):.2f} | {_psnr(cub, ref):.2f}"
        start = "+".join(sorted(set(res.params.get("started_from") or ["?"])))
        rows.append((n, wall, wall / base, cpu, start, q))
        print(f"{n:3d} planes: {wall:7.1f} s  {cpu:7.1f} cpu-s  ({wall / base:.2f}x one plane)  iterations "
              f"{res.params['iterations']}  start {start}  {q}", flush=True)
    lines = [f"# Lateral x2, shared network, {args.size}x{args.size} planes, preset `{args.preset}`"
             + (f", priors from {args.prior_dir}" if args.prior_dir else ""), "",
             describe_device(), "",
             "| planes | wall s | x one plane | CPU s | start |" + (" PSNR dB | cubic dB |" if args.quality else ""),
             "|---|---|---|---|---|" + ("---|---|" if args.quality else "")]
    lines += [f"| {n} | {w:.1f} | {r:.2f} | {c:.1f} | {i} |" + (f" {q} |" if q else "") for n, w, r, c, i, q in rows]
    text = "\n".join(lines) + "\n"
    write_report(text, args.out)


if __name__ == "__main__":
    sys.exit(main())
