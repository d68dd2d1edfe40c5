"""Wall time of the engine's inference (a saved-model run: no training), this code beside another
checkout's (issue 31: side by side with the commit before).

    python benchmarks/inference_timing.py --size 1024                      # 1024² -> 2048², ensemble
    python benchmarks/inference_timing.py --size 512 --reps 2 --against /tmp/base   # a git worktree
    python benchmarks/inference_timing.py --size 256 --no-ensemble --threads 2
    python benchmarks/inference_timing.py --size 1024 --passes 8        # the ensemble's passes, not the size rule

The network is the shipped lateral prior (32 wide, 8 layers: 55,872 MACs per output pixel; with
--width 64 a random 64-wide one), applied x2 with 10 back-projections as `zssr --model` applies it.
With --against DIR each repeat runs both checkouts, one after the other, each in a fresh process
(PYTHONPATH=DIR), so they share the machine's load; min and median wall seconds of each, the
effective GFLOP/s (2 x MACs x output pixels x passes / wall), and whether the outputs agree (when
both ran the same passes). Each checkout says how many passes it ran (by default the size rule:
engine/infer.py ENSEMBLE_FULL_MAX_PIXELS), each repeat the load average (1 / 5 / 15 min).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(args) -> None:
    """One timed inference with the napari_zssr on sys.path; prints a JSON line."""
    import numpy as np
    import torch

    from napari_zssr.engine import infer
    from napari_zssr.engine.device import pick_device
    from napari_zssr.engine.network import ZSSRNet
    from napari_zssr.engine.prior import prior_network
    torch.set_num_threads(args.threads)
    if args.width == 32:
        net, _ = prior_network(1, (2.0, 2.0), None)
    else:
        net = ZSSRNet(1, 8, args.width, seed=0)
    dev = pick_device(args.device)
    net = net.to(dev).eval()
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 12, args.size), torch.linspace(0, 9, args.size), indexing="ij")
    x = (0.5 + 0.3 * torch.sin(yy) * torch.cos(xx) + 0.05 * torch.rand(args.size, args.size, generator=g))[None]
    x = x.to(dev)
    chosen = {} if args.passes is None else {"passes": args.passes}      # (a checkout before the option)
    if hasattr(infer, "ensemble_passes"):
        opts = infer.InferenceOptions(ensemble=args.ensemble, **chosen)
        passes = infer.ensemble_passes(opts, (2.0, 2.0), (2 * args.size, 2 * args.size))
    else:                                           # a checkout before the size rule: all 8
        passes = 8 if args.ensemble else 1
    t0 = time.perf_counter()
    out = infer.super_resolve_tensor(net, x, (2.0, 2.0), None, "fp32", ensemble=args.ensemble, bp_iters=10, **chosen)
    torch.cuda.synchronize() if dev.type == "cuda" else None
    wall = time.perf_counter() - t0
    np.save(args.save, out.cpu().numpy()) if args.save else None
    print(json.dumps({"wall": wall, "module": infer.__file__, "passes": passes}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1024, help="input edge (output: twice)")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--no-ensemble", dest="ensemble", action="store_false")
    ap.add_argument("--passes", type=int, default=None, help="ensemble passes (1, 2, 4, 8); default: the size rule")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--against", default=None, help="another checkout (git worktree) to time beside this one")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--save", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args)
        return 0
    import numpy as np
    import torch
    from report import describe_device
    torch.set_num_threads(args.threads)
    roots = {"this": str(HERE.parent)}
    if args.against:
        roots["against"] = str(Path(args.against).resolve())
    walls, outs, passes = {k: [] for k in roots}, {}, {}
    for rep in range(args.reps):
        for name, root in roots.items():
            save = f"/tmp/zssr_inference_timing_{os.getpid()}_{name}.npy"
            cmd = [sys.executable, __file__, "--child", "--size", str(args.size), "--width", str(args.width),
                   "--threads", str(args.threads), "--device", args.device, "--save", save]
            cmd += [] if args.ensemble else ["--no-ensemble"]
            cmd += [] if args.passes is None else ["--passes", str(args.passes)]
            env = {**os.environ, "PYTHONPATH": root, "OMP_NUM_THREADS": str(args.threads)}
            res = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True,
                                            cwd="/tmp").stdout.strip().splitlines()[-1])
            walls[name].append(res["wall"])
            outs[name] = np.load(save)
            passes[name] = res["passes"]
            os.remove(save)
            print(f"rep {rep}: {name} ({res['module']}) {res['wall']:.1f} s, {res['passes']} pass(es); "
                  f"load {' / '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    macs = 9 * (2 * args.width + 6 * args.width ** 2)           # per output pixel and pass
    print(f"{describe_device(args.device)}; load {os.getloadavg()[0]:.2f}")
    print(f"{args.size}² -> {2 * args.size}², width {args.width}, ensemble {args.ensemble}, bp 10, "
          f"{args.threads} thread(s), {args.reps} rep(s)")
    for name, ts in walls.items():
        flops = 2.0 * macs * (2 * args.size) ** 2 * passes[name]
        print(f"  {name}: {passes[name]} pass(es), network {flops / 1e12:.2f} TFLOP; wall min {min(ts):.1f} s, "
              f"median {statistics.median(ts):.1f} s; effective {flops / min(ts) / 1e9:.1f} GFLOP/s")
    if "against" in outs and passes["this"] == passes["against"]:
        print(f"  max |this - against| = {float(np.abs(outs['this'] - outs['against']).max()):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
