"""CPU cost of what the default axial run adds to training: the slice-profile estimate, the
held-out measurement (with and without back-projection) and the noise measurement (issue 16's
"at no more than 1.5x today's time"). Both runs train the same number of iterations; the difference
in CPU seconds is the overhead, to set against a full run's training.

    python benchmarks/axial_overhead.py --iters 50
"""
from __future__ import annotations

import argparse
import sys
import time

from realistic_rows import ROWS, make_row
from report import describe_device


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--depth", type=int, default=64)
    args = ap.parse_args(argv)
    from napari_zssr.engine import ZSSRConfig
    from napari_zssr.nd import super_resolve_nd

    row = next(r for r in ROWS if r.name == "x4-mid")
    raw, _ = make_row(row, args.size, args.depth, 0)
    base = ZSSRConfig(max_iters=args.iters, num_threads=1)
    old = base.replace(holdout_fraction=0.0, back_projection_auto=False, noise_aware=False)
    print(f"Device: {describe_device(base.device)}; volume {raw.shape}, x{row.factor}, {args.iters} iterations")
    for name, cfg, fwhm in (("old default (one z step, no hold-out)", old, 1.0), ("new default", base, None)):
        c0 = time.process_time()
        super_resolve_nd(raw, "ZYX", mode="axial", factors=row.factor, z_fwhm=fwhm, config=cfg)
        print(f"{name}: {time.process_time() - c0:.1f} CPU s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
