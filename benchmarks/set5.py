"""Set5 benchmark: Y-PSNR and wall time per image for cubic interpolation and ZSSR presets.

    python benchmarks/set5.py                          # default preset, x2 and x4
    python benchmarks/set5.py --presets default,paper  # side by side, with time ratio and PSNR gap
    python benchmarks/set5.py --scales 2 --images baby,bird --profile

The SR literature's protocol: PSNR on the Y channel (BT.601) of the output rounded to 8 bits, with
`scale` pixels shaved on every side. Writes a markdown table to benchmarks/results/.
"""
from __future__ import annotations

import argparse
import ast
import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import describe_device, preset_config, use_prior_dir, write_report  # noqa: E402
from set5_common import SET5, set5_pairs, y_psnr  # noqa: E402

from napari_zssr.engine import ZSSRConfig, apply, train  # noqa: E402
from napari_zssr.engine.resize import imresize  # noqa: E402

# where the default spends its time: profiled functions -> report category
PROFILE_CATEGORIES = {
    "sampling (fathers, sons, resize)": ("examples.py", "batch"),
    "forward": ("inference_module.py", "forward"),    # ZSSRNet lives there since issue 30
    "backward": ("__init__.py", "backward"),
    "optimiser step": ("adam.py", "step"),
    "reconstruction tests": ("train.py", "error"),
    "inference + ensemble + back-projection": ("infer.py", "super_resolve_tensor"),
    "  of which back-projection": ("inference_module.py", "back_project"),
}

ORIGINAL_X2 = {"baby": (38.51, 201), "bird": (41.50, 381), "butterfly": (33.33, 386), "head": (35.80, 356),
               "woman": (35.77, 333)}


def run_one(lr: np.ndarray, hr: np.ndarray, scale: int, cfg: ZSSRConfig):
    x = np.moveaxis(lr.astype(np.float32) / 255.0, -1, 0)
    t0, c0 = time.perf_counter(), time.process_time()
    model = train([x], scale, cfg)
    out = apply(model, x).cpu().numpy()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    sr = np.moveaxis(out, 0, -1)[: hr.shape[0], : hr.shape[1]]
    return y_psnr(sr, hr, scale), wall, model.iterations, cpu


def profile_summary(prof: cProfile.Profile) -> list:
    stats = pstats.Stats(prof)
    rows = []
    for name, (fname, func) in PROFILE_CATEGORIES.items():
        cum = sum(v[3] for k, v in stats.stats.items() if k[0].endswith(fname) and k[2] == func)
        rows.append((name, cum))
    return rows, stats.total_tt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="default",
                    help="comma-separated presets, each optionally with overrides: default:init=random;max_iters=2000")
    ap.add_argument("--scales", default="2,4")
    ap.add_argument("--images", default="", help="comma-separated subset (baby,bird,butterfly,head,woman)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override ZSSRConfig fields for every preset but paper, e.g. --set n_steps=4 max_iters=600")
    ap.add_argument("--profile", action="store_true", help="profile the first preset and print where time goes")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "set5.md"))
    ap.add_argument("--prior-dir", default=None, help="priors from this folder instead of the shipped ones")
    args = ap.parse_args(argv)
    presets = [p for p in args.presets.split(",") if p]
    use_prior_dir(args.prior_dir)
    overrides = {k: ast.literal_eval(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    subset = {s for s in args.images.split(",") if s}
    if not SET5.exists():
        print(f"Set5 not found at {SET5}; set ZSSR_SET5 or place ../shared/data/Set5 beside the repo")
        return 0
    print(describe_device(), flush=True)
    lines = ["| scale | image | cubic dB | " + " | ".join(f"{p} dB | {p} s | {p} cpu-s | {p} iters" for p in presets)
             + " |", "|" + "---|" * (3 + 4 * len(presets))]
    prof = cProfile.Profile() if args.profile else None
    summary = {}
    for scale in [int(s) for s in args.scales.split(",")]:
        for name, hr, lr in set5_pairs(scale):
            if subset and name not in subset:
                continue
            x = torch.from_numpy(np.moveaxis(lr.astype(np.float32) / 255.0, -1, 0))
            cub = np.moveaxis(imresize(x, scale, output_shape=hr.shape[:2]).numpy(), 0, -1)
            row = {"cubic": y_psnr(cub, hr, scale)}
            for i, p in enumerate(presets):
                cfg = preset_config(p, seed=args.seed).replace(**({} if p.startswith("paper") else overrides))
                if prof is not None and i == 0:
                    prof.enable()
                row[p] = run_one(lr, hr, scale, cfg)
                if prof is not None and i == 0:
                    prof.disable()
                print(f"x{scale} {name:10s} {p:8s} {row[p][0]:6.2f} dB {row[p][1]:7.1f} s {row[p][2]:5d} iters"
                      f" {row[p][3]:7.1f} cpu-s"
                      f"  (cubic {row['cubic']:.2f})", flush=True)
            summary.setdefault(scale, []).append((name, row))
            lines.append(f"| x{scale} | {name} | {row['cubic']:.2f} | " + " | ".join(
                f"{row[p][0]:.2f} | {row[p][1]:.1f} | {row[p][3]:.1f} | {row[p][2]}" for p in presets) + " |")
        rows = summary.get(scale, [])
        if rows:
            means = {p: [np.mean([r[p][j] for _, r in rows]) for j in (0, 1, 3)] for p in presets}
            lines.append(f"| x{scale} | **mean** | {np.mean([r['cubic'] for _, r in rows]):.2f} | " + " | ".join(
                f"**{means[p][0]:.2f}** | {means[p][1]:.1f} | {means[p][2]:.1f} | " for p in presets) + " |")
    out = ["# Set5 benchmark", "", f"{describe_device()}, seed {args.seed}"
           + (f", overrides {overrides}" if overrides else "")
           + (f", priors from {args.prior_dir}" if args.prior_dir else ""),
           "", *lines, ""]
    if len(presets) >= 2:
        a, b = presets[0], presets[1]
        out += [f"## {b} vs {a}", "", f"| scale | image | time({b})/time({a}) | PSNR {a} - {b} (dB) |",
                "|---|---|---|---|"]
        for scale, rows in summary.items():
            for name, r in rows:
                out.append(f"| x{scale} | {name} | {r[b][1] / r[a][1]:.1f} | {r[a][0] - r[b][0]:+.2f} |")
        out.append("")
    if 2 in summary:
        out += ["## Against the authors' original code (TensorFlow, fp32, this machine)", "",
                "| image | original dB | original s | " + " | ".join(f"{p} dB | {p} s" for p in presets) + " |",
                "|" + "---|" * (3 + 2 * len(presets))]
        for name, r in summary[2]:
            if name in ORIGINAL_X2:
                o = ORIGINAL_X2[name]
                out.append(f"| {name} | {o[0]:.2f} | {o[1]} | " + " | ".join(
                    f"{r[p][0]:.2f} ({r[p][0] - o[0]:+.2f}) | {r[p][1]:.1f} (1/{o[1] / r[p][1]:.1f})" for p in presets)
                    + " |")
        out.append("")
    if prof is not None:
        rows, total = profile_summary(prof)
        out += [f"## Where `{presets[0]}` spends its time (cProfile, cumulative)", "", "| part | s |", "|---|---|"]
        out += [f"| {n} | {s:.1f} |" for n, s in rows]
        out.append("")
    text = "\n".join(out)
    write_report(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
