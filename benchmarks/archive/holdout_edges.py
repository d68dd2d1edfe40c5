"""Why the axial held-out estimate counts the z edge planes (issue 16): for realistic rows, the true
gain over cubic with and without the first and last ceil(f) output planes, beside the held-out
estimate with its edge rows shaved off (before) and weighted by the output's share of edge planes
(`quality.holdout.edge_share`, the default now).

    python benchmarks/holdout_edges.py --rows old-x4,x4-mid --out benchmarks/results/session10/holdout_edges.md
    python benchmarks/holdout_edges.py --rows x4-high --size 64 --depth 32 --iters 30     # smoke

One training per row (the default preset); both estimates measure that network on the run's own
held-out planes with the back-projection the run chose, and are corrected for the fusion of the xz
and yz results with the run's own fusion record.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from realistic_rows import make_row, select
from report import describe_device, write_report
from run_spy import in_run_units, spy_axial_runs


def _gain(cubic, result, truth, z):
    """Gain over cubic in dB on output planes z."""
    return 10 * np.log10(np.mean((cubic[z] - truth[z]) ** 2) / np.mean((result[z] - truth[z]) ** 2))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="old-x4,x4-mid")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--depth", type=int, default=96)
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "holdout_edges.md"))
    args = ap.parse_args(argv)
    from napari_zssr.engine import ZSSRConfig
    from napari_zssr.quality.gain import GainEstimate, fused_estimate
    from napari_zssr.quality.holdout import measure          # the measure itself, before the spy wraps it
    from napari_zssr.testing.estimates import axial_with_estimate

    cfg = ZSSRConfig.from_preset("default", seed=args.seed, max_iters=args.iters, num_threads=args.threads)
    seen = spy_axial_runs()
    lines = [f"# Held-out estimate and the z edge planes: ({args.depth}, {args.size}, {args.size}), "
             f"{cfg.max_iters} iterations, seed {args.seed}", "", f"Device: {describe_device(cfg.device)}.", "",
             "| row | true gain, all planes | true gain, edges shaved | est. edges shaved (before) | error "
             "| **est. edges weighted (now)** | **error** | edge share | CPU s |",
             "|---|---|---|---|---|---|---|---|---|"]
    errs = {"shaved": [], "weighted": []}
    for row in select(args.rows):
        seen.clear()
        raw, ref = make_row(row, args.size, args.depth, args.seed)
        t0 = time.process_time()
        run = axial_with_estimate(raw, scale=row.factor, config=cfg)
        sec = time.process_time() - t0
        n, r, cub, fused = in_run_units(run, seen, raw, ref, row.factor)
        s = math.ceil(row.factor)

        true_all, true_inner = _gain(cub, fused, r, slice(0, n)), _gain(cub, fused, r, slice(s, n - s))
        q = run.result.params["quality"][0]
        fz = q["fusion"]
        share = q["edge_share"]
        icfg = seen["icfg"].replace(back_projection_auto=False)
        est = {}
        for name, edge in (("shaved", None), ("weighted", share)):
            rec, _ = measure(seen["model"], seen["hold"], icfg, noisy=True, edge=edge)
            est[name] = fused_estimate(GainEstimate.from_dict(rec), fz["disagreement_mse"],
                                       fz["excess_mse"] if fz["how"] != "arithmetic" else 0.0).gain_db
            errs[name].append(est[name] - true_all)
        lines.append(f"| {row.name} | {true_all:+.2f} | {true_inner:+.2f} | {est['shaved']:+.2f} | "
                     f"{est['shaved'] - true_all:+.2f} | {est['weighted']:+.2f} | {est['weighted'] - true_all:+.2f} | "
                     f"{share:.3f} | {sec:.0f} |")
        print(lines[-1], flush=True)
    lines.append("")
    for name, v in errs.items():
        v = np.asarray(v)
        lines.append(f"{name}: within 0.5 dB on {int(np.sum(np.abs(v) <= 0.5))} of {v.size} rows, "
                     f"mean |error| {np.mean(np.abs(v)):.2f} dB, from {v.min():+.3f} to {v.max():+.3f}")
    lines.append("\nTrue gains: the fused result and cubic against the noise-free isotropic reference; 'edges shaved' "
                 "leaves out the first and last ceil(factor) output planes, which every method extrapolates.")
    write_report("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
