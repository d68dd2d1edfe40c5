"""Peak memory (and time) of lateral x2 on a large uint16 image, with tiled inference.

    python benchmarks/memory.py                  # 2048x2048 uint16, x2, default preset
    python benchmarks/memory.py --size 1024 --max-iters 50

Peak resident memory of this process (ru_maxrss), which includes Python, torch and the data.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from napari_zssr.engine import ZSSRConfig
from napari_zssr.nd import super_resolve_nd
from napari_zssr.testing.simulate import simulate_image_2d


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--max-iters", type=int, default=None)
    ap.add_argument("--tile", type=int, default=None)
    args = ap.parse_args(argv)
    img = (simulate_image_2d((args.size, args.size), seed=0) * 3000 + 100).astype(np.uint16)
    before = peak_gib()
    cfg = ZSSRConfig.from_preset(args.preset, max_iters=args.max_iters)
    t0 = time.perf_counter()
    res = super_resolve_nd(img, "YX", scale=2, config=cfg, out_dtype="input", tile=args.tile)
    wall = time.perf_counter() - t0
    print(f"{args.size}x{args.size} uint16 -> {res.data.shape} {res.data.dtype}: {wall:.1f} s, "
          f"peak RSS {peak_gib():.2f} GiB (before the run {before:.2f} GiB), "
          f"iterations {res.params['iterations']}")


if __name__ == "__main__":
    sys.exit(main())
