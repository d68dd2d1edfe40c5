"""One 256x256 image to 512x512 (x2): wall time, median of repeated runs, per preset.

    python benchmarks/single256.py                            # default and fast, 3 runs each
    python benchmarks/single256.py --presets default --repeat 5

The image is a simulated fluorescence plane (uint16), as a biologist would pass it: the time covers
the whole call (normalisation, training, self-ensemble inference, back-projection, casting back).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from napari_zssr.engine import ZSSRConfig
from napari_zssr.nd import super_resolve_nd
from napari_zssr.testing.simulate import simulate_volume
from report import describe_device, write_report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="default,fast")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "single256.md"))
    args = ap.parse_args(argv)
    img = (simulate_volume((16, args.size, args.size), seed=0)[8] * 3000 + 100).astype(np.uint16)  # a mid plane
    lines = [f"# {args.size}x{args.size} -> {2 * args.size}x{2 * args.size} (x2), one image", "",
             describe_device(), "",
             "| preset | runs (s) | median s | iterations |", "|---|---|---|---|"]
    for preset in [p for p in args.presets.split(",") if p]:
        cfg = ZSSRConfig.from_preset(preset)
        walls = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = super_resolve_nd(img, "YX", scale=2, config=cfg)
            walls.append(time.perf_counter() - t0)
            print(f"{preset:8s} {walls[-1]:6.1f} s", flush=True)
        assert res.data.shape == (2 * args.size, 2 * args.size)
        lines.append(f"| {preset} | {', '.join(f'{w:.1f}' for w in walls)} | **{statistics.median(walls):.1f}** | "
                     f"{res.params['iterations']} |")
    text = "\n".join(lines) + "\n"
    write_report(text, args.out)


if __name__ == "__main__":
    sys.exit(main())
