"""Does the held-out estimate of a lateral run track its true gain over cubic? (issue 16, item 3)

Each image is super-resolved by `super_resolve_nd` with a preset (x2 by default): the run keeps a
band of the image out of training and reports the gain over cubic measured there ("held-out");
beside it, the true gain of the result over MATLAB-bicubic upscaling against the ground truth, as
RGB PSNR over [0, 1] (the estimate's metric) and as the literature's Y PSNR (Set5 protocol).
Images: Set5 (from ../shared/data, LR -> HR; skipped when absent) and simulated fluorescence-like
planes (`simulate_image_2d`, downscaled bicubically).

    python benchmarks/holdout_lateral.py --preset fast --out benchmarks/results/holdout_lateral_fast.md
"""
from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

import numpy as np
from report import describe_device, write_report
from set5_common import set5_pairs, y_psnr


def psnr(a: np.ndarray, b: np.ndarray, shave: int) -> float:
    a, b = a[shave:-shave, shave:-shave].astype(np.float64), b[shave:-shave, shave:-shave].astype(np.float64)
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def cases(scale: int, sim: int):
    from napari_zssr.engine.kernels import downscale
    import torch
    for name, hr, lr in set5_pairs(scale):
        yield name, hr.astype(np.float32) / 255.0, lr.astype(np.float32) / 255.0
    for seed in range(sim):
        from napari_zssr.testing.simulate import simulate_image_2d
        hr = simulate_image_2d((256, 256), seed=100 + seed).astype(np.float32)
        hr = (hr - hr.min()) / (hr.max() - hr.min())
        lr = downscale(torch.as_tensor(hr)[None, None], (1 / scale, 1 / scale))[0, 0].numpy()
        yield f"simulated {seed}", hr[..., None], np.clip(lr, 0, 1)[..., None]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--sim", type=int, default=2, help="simulated planes to add")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "holdout_lateral.md"))
    args = ap.parse_args(argv)
    import torch
    from napari_zssr.engine import ZSSRConfig
    from napari_zssr.engine.resize import imresize
    from napari_zssr.nd import super_resolve_nd

    cfg = ZSSRConfig.from_preset(args.preset, num_threads=args.threads)
    cfg = cfg.replace(**{k: ast.literal_eval(v) for k, v in (kv.split("=", 1) for kv in args.set)})
    lines = [f"# Held-out estimate vs true gain over cubic, lateral x{args.scale}, preset `{args.preset}`"
             + (f", settings {args.set}" if args.set else ""), "",
             f"Device: {describe_device(cfg.device)}.", "",
             "| image | true gain RGB dB | true gain Y dB | held-out dB | held-out - true (RGB) | BP | CPU s |",
             "|---|---|---|---|---|---|---|"]
    diffs = []
    for name, hr, lr in cases(args.scale, args.sim):
        axes = "YXS" if lr.shape[-1] == 3 else "YX"
        data = lr if axes == "YXS" else lr[..., 0]
        c0 = time.process_time()
        res = super_resolve_nd(data, axes, factors=args.scale, config=cfg)
        cpu = time.process_time() - c0
        out = np.clip(res.data if axes == "YXS" else res.data[..., None], 0, 1)
        t = torch.as_tensor(np.moveaxis(lr, -1, 0))[None]
        cub = np.moveaxis(np.clip(imresize(t, (args.scale, args.scale), output_shape=hr.shape[:2])[0].numpy(), 0, 1),
                          0, -1)
        h, w = min(hr.shape[0], out.shape[0]), min(hr.shape[1], out.shape[1])
        hr_, out_, cub_ = hr[:h, :w], out[:h, :w], cub[:h, :w]
        g_rgb = psnr(out_, hr_, args.scale) - psnr(cub_, hr_, args.scale)
        g_y = (y_psnr(out_, (hr_ * 255).round().astype(np.uint8), args.scale)
               - y_psnr(cub_, (hr_ * 255).round().astype(np.uint8), args.scale)) if axes == "YXS" else float("nan")
        q = res.params["quality"][0] or {}
        held = q.get("expected_gain_db", float("nan"))
        bp = {True: "on", False: "off"}.get(q.get("back_projection", {}).get("used"), "-")
        diffs.append(held - g_rgb)
        line = f"| {name} | {g_rgb:+.2f} | {g_y:+.2f} | {held:+.2f} | {held - g_rgb:+.2f} | {bp} | {cpu:.0f} |"
        lines.append(line)
        print(line, flush=True)
    lines += ["", f"Mean |held-out - true| {np.mean(np.abs(diffs)):.2f} dB, worst {np.max(np.abs(diffs)):.2f} dB.",
              "True gains: the result against the ground truth, minus MATLAB-bicubic upscaling of the same input; "
              "borders of `scale` pixels shaved."]
    write_report("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
