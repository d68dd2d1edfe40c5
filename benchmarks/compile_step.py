"""Does torch.compile pay for itself on one image? Training-step time eager vs compiled.

    python benchmarks/compile_step.py                 # 96x96 crops (the default), 3-channel net
    python benchmarks/compile_step.py --crop 128 --steps 100

Times the engine's `train_step` (bf16 autocast where the CPU has native bf16, channels-last,
Adam) with the network eager and wrapped in torch.compile, and prints the one-off compile cost
and the break-even number of steps against the default's iteration count.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from napari_zssr.engine import ZSSRConfig
from napari_zssr.engine.device import pick_device, resolve_precision
from napari_zssr.engine.network import ZSSRNet
from napari_zssr.engine.training import train_step
from report import describe_device, write_report


def time_steps(net, crop: int, steps: int, precision: str, device) -> tuple:
    """(seconds of the first step, median seconds of `steps` after 5 warm-up steps)."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.rand(1, 3, crop, crop, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.rand(1, 3, crop, crop, device=device)
    times = []
    for _ in range(steps + 6):
        t0 = time.perf_counter()
        train_step(net, opt, x, y, device, precision)
        if device.type == "cuda":   # kernels run asynchronously: wait for them before reading the clock
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    rest = sorted(times[6:])   # oneDNN builds its kernels in the first few eager steps
    return times[0], rest[len(rest) // 2]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crop", type=int, default=ZSSRConfig().crop_size)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "compile_step.md"))
    args = ap.parse_args(argv)
    cfg = ZSSRConfig()
    device = pick_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    rows = {}
    for name in ("eager", "compiled"):
        torch.manual_seed(0)
        net = ZSSRNet(3, cfg.depth, cfg.width).to(device).to(memory_format=torch.channels_last)
        if name == "compiled":
            net = torch.compile(net)
        rows[name] = time_steps(net, args.crop, args.steps, precision, device)
        print(f"{name:9s} first step {rows[name][0]:7.2f} s, then {1000 * rows[name][1]:6.1f} ms/step", flush=True)
    (e_first, e_step), (c_first, c_step) = rows["eager"], rows["compiled"]
    overhead = c_first - e_first
    gain = e_step - c_step
    iters = cfg.max_iters
    verdict = (f"break-even after {overhead / gain:.0f} steps; over the default's {iters} it saves "
               f"{iters * gain - overhead:.1f} s" if gain > 0 else "compiled steps are not faster: never pays")
    text = "\n".join([
        "# torch.compile on the training step", "",
        f"{describe_device()}, crop {args.crop}, median of {args.steps} steps", "",
        "| net | first step (s) | step (ms) |", "|---|---|---|",
        f"| eager | {e_first:.2f} | {1000 * e_step:.1f} |",
        f"| torch.compile | {c_first:.2f} | {1000 * c_step:.1f} |", "",
        f"Compile cost {overhead:.1f} s; {verdict}.", ""])
    write_report(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
