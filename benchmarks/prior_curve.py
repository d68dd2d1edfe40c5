"""Quality against adaptation steps, from the learned prior and from random weights.

    python benchmarks/prior_curve.py --images bird,butterfly,sim --steps 0,10,50,100,200,500,1000
    python benchmarks/prior_curve.py --images coins,coffee,simval --steps 100,200,400 --set prior_learning_rate=5e-4

Images: Set5 names (x2 LR/HR pairs from ../shared/data/Set5, Y-PSNR), the held-out validation
images of the prior (`coins`, `coffee`: scikit-image; `simval`: a simulated fluorescence plane
with a seed the prior never saw) and `sim` (the benchmarks' simulated plane, seed 0), each
downscaled x2 with MATLAB bicubic. A point at N steps is a whole run of N iterations (the default's
schedule and post-processing, cosine over N), so every point is what a user would get at that N.
"""
from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import describe_device, write_report  # noqa: E402
from set5_common import set5_pairs, y_psnr  # noqa: E402

from napari_zssr.engine import ZSSRConfig, apply, train  # noqa: E402
from napari_zssr.engine.resize import imresize  # noqa: E402


def load(name: str, scale: int):
    """(hr, lr) as float32 (H, W[, 3]) in [0, 1], and whether it is RGB (Y-PSNR) or gray."""
    for n, hr, lr in set5_pairs(scale):
        if n == name:
            return hr.astype(np.float32) / 255, lr.astype(np.float32) / 255, True
    if name in ("coins", "coffee"):
        import skimage.data
        hr = np.asarray(getattr(skimage.data, name)(), dtype=np.float32) / 255
    elif name in ("sim", "simval"):
        from napari_zssr.testing.simulate import simulate_image_2d
        hr = simulate_image_2d((256, 256), seed=0 if name == "sim" else 999_999)
    else:
        raise SystemExit(f"unknown image {name!r}")
    h, w = (np.array(hr.shape[:2]) // scale) * scale
    hr = hr[:h, :w]
    chw = torch.from_numpy(np.ascontiguousarray(hr[None] if hr.ndim == 2 else np.moveaxis(hr, -1, 0)))
    lr = imresize(chw, 1.0 / scale).numpy()
    lr = lr[0] if hr.ndim == 2 else np.moveaxis(lr, 0, -1)
    return hr, lr, hr.ndim == 3


def psnr(sr, hr, rgb: bool, scale: int) -> float:
    if rgb:
        return y_psnr(np.clip(sr, 0, 1), (hr * 255).round().astype(np.uint8), scale)
    a, b = sr[scale:-scale, scale:-scale], hr[scale:-scale, scale:-scale]
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def run(hr, lr, rgb, scale, cfg):
    x = lr[None] if lr.ndim == 2 else np.moveaxis(lr, -1, 0)
    t0 = time.perf_counter()
    model = train([x], scale, cfg)
    out = apply(model, x).cpu().numpy()
    wall = time.perf_counter() - t0
    sr = out[0] if lr.ndim == 2 else np.moveaxis(out, 0, -1)
    return psnr(sr[: hr.shape[0], : hr.shape[1]], hr, rgb, scale), wall, model.init


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default="bird,butterfly,sim")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--steps", default="0,10,50,100,200,500,1000")
    ap.add_argument("--inits", default="prior,random")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="ZSSRConfig overrides")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "prior_curve.md"))
    args = ap.parse_args(argv)
    overrides = {k: ast.literal_eval(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    steps = [int(s) for s in args.steps.split(",")]
    inits = args.inits.split(",")
    print(describe_device(), flush=True)
    head = "| image | init | cubic dB | " + " | ".join(f"{n} steps" for n in steps) + " |"
    lines = [head, "|" + "---|" * (3 + len(steps))]
    for name in args.images.split(","):
        hr, lr, rgb = load(name, args.scale)
        x = torch.from_numpy(np.ascontiguousarray(lr[None] if lr.ndim == 2 else np.moveaxis(lr, -1, 0)))
        cub = imresize(x, args.scale, output_shape=hr.shape[:2]).numpy()
        cub = cub[0] if lr.ndim == 2 else np.moveaxis(cub, 0, -1)
        c_db = psnr(cub, hr, rgb, args.scale)
        for init in inits:
            cells = []
            for n in steps:
                cfg = ZSSRConfig.from_preset(args.preset, seed=args.seed, **overrides).replace(init=init)
                # 0 steps: the starting network itself (the prior, or an untrained random net)
                cfg = cfg.replace(prior_iters=max(n, 1), max_iters=max(n, 1),
                                  **({"prior_learning_rate": 1e-12, "learning_rate": 1e-12} if n == 0 else {}))
                db, wall, used = run(hr, lr, rgb, args.scale, cfg)
                cells.append(f"{db:.2f} ({wall:.0f} s)")
                print(f"{name:10s} {init:6s} ({used}) {n:5d} steps {db:6.2f} dB {wall:6.1f} s  (cubic {c_db:.2f})",
                      flush=True)
            lines.append(f"| {name} | {init} | {c_db:.2f} | " + " | ".join(cells) + " |")
    text = "\n".join([f"# Quality against adaptation steps (x{args.scale})", "",
                      f"{describe_device()}, preset {args.preset}, seed {args.seed}"
                      + (f", overrides {overrides}" if overrides else ""), "",
                      "Each cell: PSNR (Y for RGB) of a whole run of that many iterations, and its wall time.", "",
                      *lines, ""])
    write_report(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
