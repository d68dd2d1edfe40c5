"""Roofline of ZSSR on this machine: the peak of the network's own layers, and how much of it the
project's inference and training steps reach (issue 31).

    python benchmarks/roofline.py                       # CPU (or the GPU "auto" picks), 1 thread
    python benchmarks/roofline.py --threads 2 --widths 32 --sizes 128,256,512
    python benchmarks/roofline.py --device cuda --sizes 256,1024 --out benchmarks/results/roofline_cuda.md

1. Peak: one 3x3 convolution of each kind the network has (first C->W, middle W->W, last W->C) at
   the widths used (32: the shipped prior and stacks, 64: from scratch), fp32 and bf16 where the
   device has a fast bf16 path, plain and channels-last layouts, tile edges and batch sizes; and
   the whole network (8 layers) per call, eager and as the frozen oneDNN graph inference uses.
2. Effective: FLOPs the network needs per output pixel (2 x MACs; x8 with the self-ensemble)
   divided by the wall time of the engine's whole inference (cubic upscale, network, ensemble,
   back-projection, median: engine/infer.super_resolve_tensor), and the network's share of it.
3. Training: one Adam step (forward, backward = 2x forward, step) per crop, as training runs it.
Every row is the best (min time) and the median of --reps interleaved repeats; the ratio is the
effective rate over the best middle-layer peak measured in the same process.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from report import describe_device, write_report  # noqa: E402

from napari_zssr.engine import infer  # noqa: E402
from napari_zssr.engine.device import cpu_has_fast_bf16, pick_device  # noqa: E402
from napari_zssr.engine.network import ZSSRNet  # noqa: E402
from napari_zssr.engine.training import train_step  # noqa: E402


def net_macs(channels: int, depth: int, width: int) -> int:
    """Multiply-adds of the network per output pixel."""
    return 9 * (channels * width + (depth - 2) * width * width + width * channels)


class Timer:
    """Interleaved repeats: every case runs once per round, rounds repeat --reps times."""

    def __init__(self, device: torch.device):
        self.device, self.times = device, {}

    def run(self, key, fn) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.times.setdefault(key, []).append(time.perf_counter() - t0)

    def rate(self, key, flops: float) -> tuple:
        ts = self.times[key]
        return flops / min(ts) / 1e9, flops / statistics.median(ts) / 1e9


def precisions(device: torch.device) -> list:
    fast = cpu_has_fast_bf16() if device.type == "cpu" else (device.type == "cuda" and torch.cuda.is_bf16_supported())
    return ["fp32", "bf16"] if fast else ["fp32"]


def conv_cases(args, device):
    """(key, flops, fn) for single layers and whole networks."""
    cases = []
    for prec in precisions(device):
        dt = torch.bfloat16 if prec == "bf16" else torch.float32
        for width in args.widths:
            for kind, cin, cout in (("first", 1, width), ("middle", width, width), ("last", width, 1)):
                for size in args.sizes:
                    for batch in args.batches:
                        for layout in ("plain", "channels-last"):
                            mem = torch.channels_last if layout == "channels-last" else torch.contiguous_format
                            x = torch.rand(batch, cin, size, size, device=device, dtype=dt)
                            w = torch.rand(cout, cin, 3, 3, device=device, dtype=dt) * 0.01
                            x, w = x.contiguous(memory_format=mem), w.contiguous(memory_format=mem)
                            key = ("layer", prec, width, kind, size, batch, layout)
                            cases.append((key, 2.0 * 9 * cin * cout * size * size * batch,
                                          lambda x=x, w=w: F.conv2d(x, w, padding=1)))
        for width in args.widths:
            net = ZSSRNet(1, 8, width, seed=0).to(device).eval()
            graph = infer.frozen_net(net) if device.type == "cpu" and prec == "fp32" else None
            for size in args.sizes:
                for batch in args.batches:
                    x = torch.rand(batch, 1, size, size, device=device)
                    fl = 2.0 * net_macs(1, 8, width) * size * size * batch
                    for layout in ("plain", "channels-last"):
                        xi = x.contiguous(memory_format=torch.channels_last) if layout == "channels-last" else x

                        def eager(xi=xi, net=net, prec=prec):
                            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=prec == "bf16"):
                                net(xi)
                        cases.append((("net", prec, width, "eager", size, batch, layout), fl, eager))
                    if graph is not None:
                        cases.append((("net", prec, width, "frozen", size, batch, "oneDNN"), fl,
                                      lambda x=x, g=graph: g(x)))
    return cases


def inference_cases(args, device):
    """(key, flops, fn): the engine's whole inference of a (1, 1, S, S) image, x2."""
    cases = []
    for width in args.widths:
        net = ZSSRNet(1, 8, width, seed=0).to(device).eval()
        for size in args.infer_sizes:
            x = torch.rand(1, 1, size, size, device=device)
            for ens in (False, True):
                passes = 8 if ens else 1
                fl = 2.0 * net_macs(1, 8, width) * (2 * size) ** 2 * passes
                for tile in [0] + [t for t in args.tiles if t < 2 * size]:
                    key = ("infer", "fp32", width, size, ens, tile)
                    cases.append((key, fl, lambda x=x, net=net, ens=ens, tile=tile: infer.super_resolve_tensor(
                        net, x, (2.0, 2.0), None, "fp32", ensemble=ens, bp_iters=10, tile=tile or None)))
    return cases


def training_cases(args, device):
    cases = []
    for width in args.widths:
        for crop in args.crops:
            net = ZSSRNet(1, 8, width, seed=0).to(device)
            opt = torch.optim.Adam(net.parameters(), 1e-3)
            x = torch.rand(1, 1, crop, crop, device=device)
            y = torch.rand(1, 1, crop, crop, device=device)
            for layout in ("plain", "channels-last"):
                mem = torch.channels_last if layout == "channels-last" else torch.contiguous_format

                def step(net=net, opt=opt, x=x, y=y, mem=mem):
                    net.to(memory_format=mem)
                    train_step(net, opt, x.contiguous(memory_format=mem), y, device, "fp32")
                cases.append((("train", "fp32", width, crop, layout), 3 * 2.0 * net_macs(1, 8, width) * crop * crop,
                              step))
    return cases


class NetClock:
    """Time spent in the network during inference (EngineHooks.forward), to show what else costs."""

    def __init__(self, device):
        self.device, self.total = device, 0.0
        self._orig = infer.EngineHooks.forward

    def __enter__(self):
        clock = self

        def timed(hooks, net, t, precision):
            if clock.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = clock._orig(hooks, net, t, precision)
            if clock.device.type == "cuda":
                torch.cuda.synchronize()
            clock.total += time.perf_counter() - t0
            return out
        infer.EngineHooks.forward = timed
        return self

    def __exit__(self, *exc):
        infer.EngineHooks.forward = self._orig


def main(argv=None) -> int:
    ints = lambda s: [int(v) for v in s.split(",") if v]  # noqa: E731
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--widths", type=ints, default=[32, 64])
    ap.add_argument("--sizes", type=ints, default=[128, 256, 512], help="layer and network tile edges")
    ap.add_argument("--batches", type=ints, default=[1, 8])
    ap.add_argument("--infer-sizes", type=ints, default=[128, 256], help="inference inputs (x2 outputs)")
    ap.add_argument("--tiles", type=ints, default=[128, 256], help="explicit inference tiles beside the plan")
    ap.add_argument("--crops", type=ints, default=[64, 96, 128])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--parts", default="peak,infer,train")
    ap.add_argument("--out", default=str(HERE / "results" / "roofline.md"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    parts = args.parts.split(",")
    cases = ((conv_cases(args, device) if "peak" in parts else []) + (inference_cases(args, device) if "infer" in parts
             else []) + (training_cases(args, device) if "train" in parts else []))
    timer = Timer(device)
    net_time = {}
    for key, _, fn in cases:                          # warm-up (oneDNN primitives, frozen graphs, tables)
        with torch.set_grad_enabled(key[0] == "train"):
            fn()
    for _ in range(args.reps):
        for key, _, fn in cases:
            with torch.set_grad_enabled(key[0] == "train"):
                if key[0] == "infer":
                    with NetClock(device) as clock:
                        timer.run(key, fn)
                    net_time.setdefault(key, []).append(clock.total)
                else:
                    timer.run(key, fn)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    lines = ["# Roofline: the network's layers at their peak, and what inference and training reach", "",
             f"Command: `python benchmarks/roofline.py {' '.join(sys.argv[1:])}`", "",
             f"{describe_device(args.device)}; {args.threads} thread(s); load average at the end "
             f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; GFLOP/s best (median) of {args.reps} interleaved repeats",
             ""]
    rates = {key: timer.rate(key, fl) for key, fl, _ in cases}
    peak = {}
    for key, (best, _) in rates.items():
        if key[0] == "layer" and key[3] == "middle":
            peak[(key[1], key[2])] = max(peak.get((key[1], key[2]), 0.0), best)
    if "peak" in parts:
        lines += ["## 1. Peak: single 3x3 layers and the whole 8-layer network per call", "",
                  "| what | precision | width | layer / form | tile | batch | layout | GFLOP/s best (median) |",
                  "|---|---|---|---|---|---|---|---|"]
        for key, (best, med) in rates.items():
            if key[0] in ("layer", "net"):
                lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {key[4]} | {key[5]} | {key[6]} | "
                             f"{best:.1f} ({med:.1f}) |")
        lines += ["", "Peak (best middle layer): " + ", ".join(f"{p} width {w}: {v:.1f} GFLOP/s"
                                                               for (p, w), v in sorted(peak.items())), ""]
    if "infer" in parts:
        lines += ["## 2. Effective FLOP/s of the whole inference (x2, 10 back-projections)", "",
                  "FLOPs = 2 x network MACs per output pixel x output pixels x passes; time = the whole call.", "",
                  "| width | input | ensemble | tile | wall s best (median) | GFLOP/s best (median) | of peak | "
                  "network share |", "|---|---|---|---|---|---|---|---|"]
        for key, (best, med) in rates.items():
            if key[0] == "infer":
                _, prec, width, size, ens, tile = key
                ts = timer.times[key]
                share = statistics.median(n / t for n, t in zip(net_time[key], ts))
                ref = peak.get((prec, width))
                lines.append(f"| {width} | {size}² | {'8 passes' if ens else 'off'} | {tile or 'plan'} | "
                             f"{min(ts):.2f} ({statistics.median(ts):.2f}) | {best:.1f} ({med:.1f}) | "
                             f"{f'{100 * best / ref:.0f} %' if ref else '-'} | {100 * share:.0f} % |")
        lines.append("")
    if "train" in parts:
        lines += ["## 3. Training steps (fp32, batch 1; FLOPs = 3 x forward)", "",
                  "| width | crop | layout | step ms best (median) | GFLOP/s best (median) | of peak |",
                  "|---|---|---|---|---|---|"]
        for key, (best, med) in rates.items():
            if key[0] == "train":
                ts = timer.times[key]
                ref = peak.get((key[1], key[2]))
                lines.append(f"| {key[2]} | {key[3]} | {key[4]} | {1000 * min(ts):.0f} "
                             f"({1000 * statistics.median(ts):.0f}) | {best:.1f} ({med:.1f}) | "
                             f"{f'{100 * best / ref:.0f} %' if ref else '-'} |")
        lines.append("")
    write_report("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
