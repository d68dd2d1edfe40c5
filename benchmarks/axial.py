"""Axial (z) super-resolution benchmark on a simulated near-isotropic volume.

    python benchmarks/axial.py                      # 64x256x256 ground truth, z-factor 4, all variants
    python benchmarks/axial.py --shape 32,128,128   # quicker
    python benchmarks/axial.py --timing-only        # the 64x256x256 *input* volume -> 256 planes, time + memory

The ground truth is simulated fluorescence (nuclei + filaments, isotropic PSF). It is blurred along
z with a Gaussian slice profile (FWHM = one z step) and every 4th plane is kept; the restored volume
is compared with the ground truth (PSNR over the ground truth's range, SSIM), next to linear and
cubic interpolation along z. Each variant runs in its own process so that peak memory is its own.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from report import preset_config, use_prior_dir, write_report

VARIANTS = ["isotropic:geometric+arithmetic", "zssr:geometric+arithmetic"]


def make_data(shape, step, seed):
    from napari_zssr.testing.simulate import degrade, simulate_volume
    gt = simulate_volume(shape, seed=seed)
    lr = degrade(gt, z_step=step, xy_sigma=0.0, photons=None, read_noise=0.0, seed=seed)
    return gt, lr


def metrics(gt: np.ndarray, out: np.ndarray):
    from skimage.metrics import structural_similarity
    n = min(gt.shape[0], out.shape[0])
    gt, out = gt[:n], out[:n]
    rng = float(gt.max() - gt.min())
    mse = float(np.mean((gt - out) ** 2))
    psnr = 10 * np.log10(rng ** 2 / mse)
    ssim = structural_similarity(gt, out, data_range=rng)
    return psnr, ssim


def interp_z(lr: np.ndarray, step: int, kind: str) -> np.ndarray:
    import torch
    from napari_zssr.engine.resize import imresize
    x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(lr, 0, -1)))      # (Y, X, Z): resize the z axis
    out = imresize(x, (1.0, float(step)), kernel="cubic" if kind == "cubic" else "linear")
    return np.moveaxis(out.numpy(), -1, 0)


def child(args) -> None:
    """Run one method (both fusions from one training) and print JSON lines (own process: own peak memory)."""
    from napari_zssr.nd import super_resolve_nd
    shape = tuple(int(s) for s in args.shape.split(","))
    gt, lr = make_data(shape, args.step, args.seed)
    if args.timing_only:
        lr = gt                                      # the input volume itself is 64x256x256
    use_prior_dir(args.prior_dir)
    method, fusions = args.variant.split(":")
    cfg = preset_config(args.preset, seed=args.seed)
    models = None
    for fusion in fusions.split("+"):
        t0, c0 = time.perf_counter(), time.process_time()
        res = super_resolve_nd(lr, "ZYX", mode="axial", scale=float(args.step), config=cfg, axial_method=method,
                               fusion=fusion, model=models)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        models = models or res.models               # the second fusion reuses the trained network
        out = {"variant": f"{method}:{fusion}", "wall_s": wall, "cpu_s": cpu,
               "started_from": res.params.get("started_from"), "peak_gib": resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, "shape_in": list(lr.shape),
            "shape_out": list(res.data.shape), "iterations": res.params["iterations"]}
        if not args.timing_only:
            out["psnr"], out["ssim"] = metrics(gt, res.data)
        print("RESULT " + json.dumps(out), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="64,256,256")
    ap.add_argument("--step", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--timing-only", action="store_true")
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--prior-dir", default=None, help="priors from this folder instead of the shipped ones")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "axial.md"))
    args = ap.parse_args(argv)
    if args.variant:
        return child(args)
    shape = tuple(int(s) for s in args.shape.split(","))
    variants = args.variants.split(",") if not args.timing_only else ["isotropic:geometric"]
    lines = [f"# Axial benchmark: ground truth {shape}, every {args.step}th plane after a Gaussian slice profile "
             f"(FWHM = 1 step), preset `{args.preset}`", ""]
    if not args.timing_only:
        gt, lr = make_data(shape, args.step, args.seed)
        from report import describe_device
        lines += [describe_device(), "", "| method | PSNR dB | SSIM | wall s | CPU s | start | peak GiB |",
                  "|---|---|---|---|---|---|---|"]
        for kind in ("linear", "cubic"):
            p, s = metrics(gt, interp_z(lr, args.step, kind))
            lines.append(f"| {kind} interpolation along z | {p:.2f} | {s:.4f} | - | - | - | - |")
            print(lines[-1], flush=True)
    else:
        lines += ["| method | input | output | wall s | peak GiB |", "|---|---|---|---|---|"]
    for v in variants:
        cmd = [sys.executable, __file__, "--variant", v, "--shape", args.shape, "--step", str(args.step),
               "--seed", str(args.seed), "--preset", args.preset] + (["--timing-only"] if args.timing_only else []) \
            + (["--prior-dir", args.prior_dir] if args.prior_dir else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        res = [json.loads(ln[7:]) for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if not res:
            print(proc.stderr[-2000:])
            lines.append(f"| ZSSR axial {v} | failed | | | | | |")
            continue
        for i, r in enumerate(res):
            # the wall time of a later fusion is inference only (it reuses the trained network)
            note = "" if i == 0 else " (inference only)"
            if args.timing_only:
                lines.append(f"| ZSSR axial {r['variant']} | {r['shape_in']} | {r['shape_out']} | "
                             f"{r['wall_s']:.0f}{note} | {r['peak_gib']:.2f} |")
            else:
                start = "+".join(sorted(set(r.get("started_from") or ["?"])))
                lines.append(f"| ZSSR axial {r['variant']} | {r['psnr']:.2f} | {r['ssim']:.4f} | "
                             f"{r['wall_s']:.0f}{note} | {r['cpu_s']:.0f} | {start} | {r['peak_gib']:.2f} |")
            print(lines[-1], f"iterations {r['iterations']}", flush=True)
    text = "\n".join(lines) + "\n"
    write_report(text, Path(args.out).with_name("axial_timing.md") if args.timing_only else args.out)


if __name__ == "__main__":
    sys.exit(main())
