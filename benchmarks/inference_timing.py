"""CPU time of the engine's inference through the one-module path (issue 30) vs the code it replaced.

    python benchmarks/inference_timing.py                  # 128x128 RGB x2: ensemble + 10 back-projections
    python benchmarks/inference_timing.py --size 64 --reps 9 --kernel gaussian

Interleaves the two (tests/_legacy_infer.py, verbatim the pre-issue-30 infer.py, and
engine/infer.py) on the same network and input, one torch thread, and reports the median CPU
seconds of each and whether the outputs are bit-identical.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import _legacy_infer as legacy  # noqa: E402

from napari_zssr.engine import infer  # noqa: E402
from napari_zssr.engine.kernels import gaussian_kernel  # noqa: E402
from napari_zssr.engine.network import ZSSRNet  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--scale", type=float, default=2.0)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--kernel", choices=("bicubic", "gaussian"), default="bicubic")
    ap.add_argument("--no-ensemble", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    net = ZSSRNet(args.channels, seed=0).eval()
    x = torch.rand(args.channels, args.size, args.size, generator=torch.Generator().manual_seed(0))
    k = gaussian_kernel(1.0, 1.0) if args.kernel == "gaussian" else None
    kw = dict(ensemble=not args.no_ensemble, bp_iters=10)
    sf = (args.scale, args.scale)
    times = {"old": [], "new": []}
    outs = {}
    for _ in range(args.reps):
        for name, fn in (("old", legacy.super_resolve_tensor), ("new", infer.super_resolve_tensor)):
            c0 = time.process_time()
            outs[name] = fn(net, x, sf, k, "fp32", **kw)
            times[name].append(time.process_time() - c0)
    same = torch.equal(outs["old"], outs["new"])
    med = {n: statistics.median(t) for n, t in times.items()}
    print(f"{args.channels}x{args.size}x{args.size} x{args.scale:g} {args.kernel}, ensemble {kw['ensemble']}, "
          f"bp 10, {args.reps} reps, torch {torch.__version__}, 1 thread")
    print(f"median CPU s: old {med['old']:.3f}  new {med['new']:.3f}  (new/old {med['new'] / med['old']:.3f}); "
          f"min old {min(times['old']):.3f} new {min(times['new']):.3f}; bit-identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
