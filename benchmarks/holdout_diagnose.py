"""Where the held-out quality estimate of an axial run goes wrong (issue 16): for each realistic
row, the true gain over cubic of each direction (xz, yz) and of their fusion, beside the held-out
estimate of one direction and the fused one. Optionally saves each row's network and held-out
planes (--save), so that estimator changes can be tried offline without training again.

    python benchmarks/holdout_diagnose.py --rows x4 --out benchmarks/results/holdout_diagnose.md
    python benchmarks/holdout_diagnose.py --rows x4-high --size 64 --depth 32 --iters 30   # smoke

"true one direction" is the gain of the mean of the two directions' errors (what the held-out planes
measure, before the fusion correction): 10 log10(mse_cubic / ((mse_xz + mse_yz) / 2)).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
from axial import interp_z
from realistic_rows import make_row, metrics, select
from report import describe_device, write_report
from run_spy import in_run_units, spy_axial_runs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="all")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--depth", type=int, default=96)
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", default=None, help="a .pt file for each row's network and held-out planes")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "holdout_diagnose.md"))
    args = ap.parse_args(argv)
    from napari_zssr.engine import ZSSRConfig
    from napari_zssr.testing.estimates import axial_with_estimate

    cfg = ZSSRConfig.from_preset("default", seed=args.seed, max_iters=args.iters)
    seen = spy_axial_runs()
    lines = [f"# Held-out estimate against the truth, per direction: ({args.depth}, {args.size}, {args.size}), "
             f"{cfg.max_iters} iterations, seed {args.seed}", "", f"Device: {describe_device(cfg.device)}.", "",
             "| row | true fused | est. fused | true one direction | est. one direction | cubic's share (old) "
             "| true xz | true yz | BP | noise var | shares model / cubic | cubic PSNR / SSIM | ZSSR PSNR / SSIM | s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    saved = []
    for row in select(args.rows):
        seen.clear()
        raw, ref = make_row(row, args.size, args.depth, args.seed)
        t0 = time.perf_counter()
        run = axial_with_estimate(raw, scale=row.factor, config=cfg)
        sec = time.perf_counter() - t0
        n, r, cub, fused = in_run_units(run, seen, raw, ref, row.factor)
        xz, yz = seen["xz"][0, :n].astype(np.float64), seen["yz"][0, :n].astype(np.float64)
        mse = {k: float(np.mean((v - r) ** 2)) for k, v in (("xz", xz), ("yz", yz), ("fused", fused), ("cubic", cub))}

        def gain(m, cubic=mse["cubic"]):
            return 10 * np.log10(cubic / m)

        q = (run.result.params.get("quality") or [None])[0] or {}
        bp = q.get("back_projection", {}).get("used")
        nv, dm, dc = q.get("noise_var") or 0.0, q.get("noise_share_model") or 0.0, q.get("noise_share_cubic") or 0.0
        one = q.get("single_direction_gain_db", q.get("expected_gain_db", float("nan")))
        # the old correction took cubic's share for the network too: its error read 2 nv (dc - dm) higher
        fz = q.get("fusion") or {}
        m1 = ((q["mse_model"] + fz.get("disagreement_mse", 0.0) / 4 - fz.get("excess_mse", 0.0))
              if q.get("mse_model") else None)
        old = one - 10 * np.log10(1 + 2 * nv * (dc - dm) / m1) if m1 else float("nan")
        pc, sc = metrics(ref, interp_z(raw.astype(np.float32), row.factor, "cubic"))
        pz, sz = metrics(ref, run.result.data)
        line = (f"| {row.name} | {gain(mse['fused']):+.2f} | {q.get('expected_gain_db', float('nan')):+.2f} | "
                f"{gain((mse['xz'] + mse['yz']) / 2):+.2f} | {one:+.2f} | {old:+.2f} | "
                f"{gain(mse['xz']):+.2f} | {gain(mse['yz']):+.2f} | {bp} | {nv:.3g} | {dm:.3f} / {dc:.3f} | "
                f"{pc:.2f} / {sc:.4f} | {pz:.2f} / {sz:.4f} | {sec:.0f} |")
        lines.append(line)
        print(line, flush=True)
        if args.save:
            m = seen["model"]
            saved.append({"row": row.name, "state": {k: v.detach().cpu().half() for k, v in m.net.state_dict().items()},
                          "sf": m.sf, "channels": m.channels, "kernel": m.kernel,
                          "config": dataclasses.asdict(m.config), "icfg": dataclasses.asdict(seen["icfg"]),
                          "held": [np.asarray(h, np.float16) for h in seen["hold"].held],
                          "both_axes": seen["hold"].both_axes, "record": q, "mse_true": mse})
            torch.save(saved, args.save)
    write_report("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
