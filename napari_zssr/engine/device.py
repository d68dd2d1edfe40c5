"""Device, precision and thread choices, detected rather than assumed."""
from __future__ import annotations

import contextlib
import os
from functools import lru_cache

import torch


def pick_device(name: str = "auto") -> torch.device:
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was asked for but MPS is not available")
    return dev


def available_devices() -> list:
    devs = ["cpu"]
    if torch.cuda.is_available():
        devs.insert(0, "cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devs.insert(0, "mps")
    return devs


@lru_cache(maxsize=None)
def cpu_has_fast_bf16() -> bool:
    """Native bf16 matrix units (AVX512-BF16 / AMX) make bf16 autocast pay off; emulated it is slower."""
    def probe(fn) -> bool:
        try:
            return bool(fn())
        except Exception:  # older torch without the probe
            return False
    amx = probe(lambda: torch.cpu._is_amx_tile_supported())
    avx512_bf16 = probe(lambda: torch.cpu._is_avx512_bf16_supported())
    onednn_bf16 = probe(lambda: torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return onednn_bf16 and (amx or avx512_bf16)


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision in ("fp32", "bf16"):
        return precision
    if precision != "auto":
        raise ValueError(f"precision must be auto, fp32 or bf16, not {precision!r}")
    if device.type == "cpu":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "fp32"


def train_channels_last(device: torch.device, precision: str, channels_last: bool = True) -> bool:
    """Memory layout of training steps. fp32 on a CPU trains faster in the plain (NCHW) layout:
    oneDNN's channels-last backward pass is slow there (2-core AVX2 EPYC, 1 thread, step ms plain
    vs channels-last: 128x128 425 vs 738, 96x96 254 vs 324, 64x64 a toss-up, 110-136 either way;
    benchmarks/results/layout_step.md), while channels-last still wins for eager inference (384x384:
    1.1-1.2 vs 1.4-1.6 s), which keeps `channels_last` (large CPU fp32 inferences run a frozen
    oneDNN graph instead: engine/infer.frozen_net). bf16 and GPUs keep channels-last."""
    return bool(channels_last) and not (device.type == "cpu" and precision == "fp32")


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def set_threads(n=None) -> None:
    """Use all cores available to this process, unless told otherwise (argument or OMP_NUM_THREADS)."""
    if not n:
        if os.environ.get("OMP_NUM_THREADS"):
            return
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if n and torch.get_num_threads() != n:
        torch.set_num_threads(int(n))
