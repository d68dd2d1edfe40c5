"""Is the geometric self-ensemble worth its 8 passes? Its gain over one pass, per image (issue 31).

    python benchmarks/ensemble_gain.py                           # Set5 x2 and x4, real planes x2, the stack
    python benchmarks/ensemble_gain.py --cases set5-x2 --images baby,bird
    python benchmarks/ensemble_gain.py --cases set5-x2,real --passes 1,2,4,8     # 2: identity + rot180

Each case trains one network with the default preset (as a run would), then applies that same
network with 1 pass, the 4 axis-keeping passes and all 8 (each with back-projection, as the default;
--passes: any of 1, 2, 4, 8, the first n of TRANSFORMS_ALL, through InferenceOptions.passes), and
reports PSNR and inference CPU seconds of each: the gain is the ensemble's alone.
Cases: Set5 x2 / x4 (Y-PSNR, the SR protocol), the middle xy plane of each real volume in
../shared/data/real downscaled x2 (MATLAB bicubic; PSNR over the plane's range), and the simulated
stack benchmark's planes (benchmarks/stack.py --quality: one shared network, PSNR over 3000 counts).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from report import describe_device, write_report  # noqa: E402

from napari_zssr.engine import ZSSRConfig, train  # noqa: E402
from napari_zssr.engine import infer  # noqa: E402
from napari_zssr.engine.resize import imresize  # noqa: E402

def apply_passes(model, x: torch.Tensor, n: int) -> tuple:
    """The trained network applied with the first n dihedral transforms; (output, CPU s)."""
    cfg = model.config
    opts = infer.InferenceOptions(passes=n, bp_iters=cfg.back_projection_iters, clip=cfg.clip)
    c0 = time.process_time()
    out = infer.super_resolve_tensor(model.net, x, model.sf, model.kernel, model.precision, opts)
    return out, time.process_time() - c0


def psnr_range(ref: np.ndarray, out: np.ndarray, rng: float, shave: int = 2) -> float:
    s = (Ellipsis, slice(shave, -shave), slice(shave, -shave))
    return float(10 * np.log10(rng ** 2 / np.mean((ref[s].astype(np.float64) - out[s]) ** 2)))


def set5_rows(scale: int, images, cfg, passes):
    from set5_common import set5_pairs, y_psnr
    for name, hr, lr in set5_pairs(scale):
        if images and name not in images:
            continue
        x = torch.from_numpy(np.moveaxis(lr.astype(np.float32) / 255.0, -1, 0).copy())
        model = train([x.numpy()], scale, cfg)
        row = {}
        for n in passes:
            out, cpu = apply_passes(model, x, n)
            sr = np.moveaxis(out.numpy(), 0, -1)[: hr.shape[0], : hr.shape[1]]
            row[n] = (y_psnr(sr, hr, scale), cpu)
        yield f"Set5 x{scale} {name}", f"{lr.shape[0]}x{lr.shape[1]}", row


def real_rows(cfg, passes, factor: int = 2):
    import axial_real as real
    for name, vol in real.load_volumes().items():
        hr = vol[vol.shape[0] // 2]
        h, w = (s - s % factor for s in hr.shape)
        hr = hr[:h, :w]
        lo, hi = np.percentile(hr, (0.1, 99.9))            # normalised as a run normalises
        ref = (hr - lo) / (hi - lo)
        lr = imresize(torch.from_numpy(np.ascontiguousarray(ref, dtype=np.float32)), 1.0 / factor)
        model = train([lr[None].numpy()], factor, cfg)
        row = {}
        for n in passes:
            out, cpu = apply_passes(model, lr[None], n)
            row[n] = (psnr_range(ref, out[0].numpy()[:h, :w], float(ref.max() - ref.min())), cpu)
        yield f"real {name} mid xy plane x{factor}", f"{lr.shape[0]}x{lr.shape[1]}", row


def stack_rows(cfg, passes, planes: int = 10, size: int = 128):
    from napari_zssr.testing.simulate import simulate_volume
    truth = simulate_volume((planes, size, size), seed=0) * 3000 + 100
    lr = np.clip(np.round(imresize(torch.from_numpy(truth.astype(np.float32)), 0.5).numpy()), 0, 65535)
    x = torch.from_numpy((lr.astype(np.float32) / 3000.0)[:, None].copy())     # (Z, 1, H, W)
    model = train([p for p in x.numpy()], 2, cfg)
    row = {}
    for n in passes:
        out, cpu = apply_passes(model, x, n)
        row[n] = (psnr_range(truth, out[:, 0].numpy() * 3000.0, 3000.0), cpu)
    yield f"stack benchmark ({planes} planes, shared net)", f"{planes}x{size // 2}x{size // 2}", row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="set5-x2,real,stack,set5-x4")
    ap.add_argument("--images", default="", help="Set5 images (names), default all")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=None, help="training iterations (smoke runs only)")
    ap.add_argument("--passes", default="1,4,8", help="pass counts to compare (1 first: the gains are over it)")
    ap.add_argument("--out", default=str(HERE / "results" / "ensemble_gain.md"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    passes = tuple(int(n) for n in args.passes.split(","))
    cfg = ZSSRConfig.from_preset("default", num_threads=args.threads, max_iters=args.iters,
                                 prior_iters=args.iters)
    images = [s for s in args.images.split(",") if s]
    lines = ["# The self-ensemble's gain over one pass (same network)", "",
             f"Command: `python benchmarks/ensemble_gain.py {' '.join(sys.argv[1:])}`", "", describe_device(), "",
             "| case | input | " + " | ".join(f"{n} pass{'es' if n > 1 else ''} dB" for n in passes) + " | "
             + " | ".join(f"gain {n}" for n in passes[1:]) + f" | CPU s {' / '.join(map(str, passes))} |",
             "|---|---|" + "---|" * (2 * len(passes))]
    gens = {"set5-x2": lambda: set5_rows(2, images, cfg, passes), "set5-x4": lambda: set5_rows(4, images, cfg, passes),
            "real": lambda: real_rows(cfg, passes), "stack": lambda: stack_rows(cfg, passes)}
    for case in args.cases.split(","):
        for name, size, r in gens[case]():
            base = r[passes[0]][0]
            lines.append(f"| {name} | {size} | " + " | ".join(f"{r[n][0]:.3f}" for n in passes) + " | "
                         + " | ".join(f"{r[n][0] - base:+.3f}" for n in passes[1:]) + " | "
                         + " / ".join(f"{r[n][1]:.1f}" for n in passes) + " |")
            print(lines[-1], flush=True)
            write_report("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
