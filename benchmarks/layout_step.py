"""Training step and inference time of the ZSSR net in the plain (NCHW) and channels-last layouts.

    python benchmarks/layout_step.py                   # 1 thread, crops 64/96/128, batch 1
    python benchmarks/layout_step.py --threads 2 --crops 96 --batch 8 --channels 3

engine/device.train_channels_last picks the training layout from this table (fp32 on a CPU: plain;
bf16 and GPUs: channels-last); inference converts its input to channels-last, except on a CPU in
fp32 for large inputs, where it runs a frozen oneDNN graph of the net (engine/infer.frozen_net;
benchmarks/roofline.py measures both).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import describe_device, write_report  # noqa: E402

from napari_zssr.engine.network import ZSSRNet  # noqa: E402


def step_ms(channels_last: bool, crop: int, batch: int, channels: int, reps: int) -> tuple:
    mem = torch.channels_last if channels_last else torch.contiguous_format
    net = ZSSRNet(channels, 8, 64, 0.1, seed=0).to(memory_format=mem)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.rand(batch, channels, crop, crop).contiguous(memory_format=mem)
    y = torch.rand(batch, channels, crop, crop)
    fwd = bwd = 0.0
    for i in range(reps + 2):                 # two warm-up steps
        t0 = time.perf_counter()
        loss = (net(x) - y).abs().mean()
        t1 = time.perf_counter()
        opt.zero_grad()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        if i >= 2:
            fwd, bwd = fwd + t1 - t0, bwd + t2 - t1
    with torch.no_grad():
        xi = torch.rand(1, channels, 384, 384).contiguous(memory_format=mem)
        net(xi)
        t0 = time.perf_counter()
        net(xi)
        inf = time.perf_counter() - t0
    return 1000 * fwd / reps, 1000 * bwd / reps, 1000 * inf


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crops", default="64,96,128")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=8)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "layout_step.md"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    lines = [f"# Training step by memory layout (fp32, batch {args.batch}, {args.channels} channel(s))", "",
             describe_device("cpu"), "",
             "| crop | layout | forward ms | backward ms | step ms (fwd+bwd) | inference 384² ms |",
             "|---|---|---|---|---|---|"]
    for crop in [int(c) for c in args.crops.split(",")]:
        for cl in (True, False):
            f, b, i = step_ms(cl, crop, args.batch, args.channels, args.reps)
            name = "channels-last" if cl else "plain"
            lines.append(f"| {crop} | {name} | {f:.1f} | {b:.1f} | {f + b:.1f} | {i:.0f} |")
            print(lines[-1], flush=True)
    write_report("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
