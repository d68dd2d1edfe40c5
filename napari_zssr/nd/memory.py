"""Memory planned before a run in memory: the peak, estimated from the input's shape and dtype and
the run's factors and mode, against what the machine has available. No napari, no Qt.

    est = estimate(shape, dtype, mode, factors)          # Estimate(peak, input, result, engine), bytes
    check_fits(shape, dtype, mode, factors, way_out=...) # MemoryPlanError (a ValueError, one line)

The estimate follows nd.in_memory's copies (bytes per input element n and per output element N):
  input n*itemsize; the normalised copy and its temporaries ~12 n; lateral: the network's output
  in chunks, their concatenation, de-normalisation and the integer cast ~20 N; axial: the xz and
  yz results, their concatenations and the geometric fusion's temporaries ~24 N; plus the engine
  (torch, the network, training crops, inference tiles: ENGINE_BYTES). benchmarks/memory_plan.py
  measures peak RSS against it (network mocked, so only the copies count).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

ENGINE_BYTES = 1 << 30        # torch, the network, training crops, inference tile activations
MARGIN = 0.85                 # a run may plan on at most this share of the available memory
PER_INPUT = 12                # bytes per input element besides the input itself (float32 copies)
PER_OUTPUT = {"lateral": 20, "axial": 24}    # bytes per output element at the peak (measured: 17, 22)


class MemoryPlanError(ValueError):
    """The run would not fit in the available memory; the message is one line with the way out."""


@dataclass(frozen=True)
class Estimate:
    peak: int          # bytes at the peak, the input included
    input: int         # the input as read (its dtype)
    result: int        # the result as float32
    engine: int

    def gib(self, what: str = "peak") -> str:
        return _gib(getattr(self, what))


def _gib(n: float) -> str:
    g = n / 2**30
    return f"{g:.1f} GiB" if g >= 0.1 else f"{n / 2**20:.0f} MiB"


def available_bytes() -> int:
    """Memory a new allocation can get without swapping: MemAvailable (Linux), else the free pages;
    unknown (no refusal) where neither can be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62                                    # unknown: do not refuse


def _factor_product(mode: str, factors) -> float:
    """The output/input element ratio from resolved factors ({"y", "x"} or {"z"}) or a tuple."""
    if isinstance(factors, dict):
        vals = [float(v) for v in factors.values()]
    else:
        vals = [float(v) for v in (factors or (2.0,))]
        if mode == "lateral" and len(vals) == 1:
            vals = vals * 2
    return float(np.prod(vals)) if vals else 1.0


def estimate(shape, dtype, mode: str, factors) -> Estimate:
    """The peak of an in-memory run of an input of `shape` and `dtype` (see the module docstring)."""
    n = float(math.prod(int(s) for s in shape))
    big_n = n * _factor_product(mode, factors)
    itemsize = np.dtype(dtype).itemsize
    peak = n * itemsize + PER_INPUT * n + PER_OUTPUT.get(mode, PER_OUTPUT["axial"]) * big_n + ENGINE_BYTES
    return Estimate(int(peak), int(n * itemsize), int(4 * big_n), ENGINE_BYTES)


def check_fits(shape, dtype, mode: str, factors, *, way_out: str, resident: bool = False,
               available: int | None = None) -> Estimate:
    """Raise MemoryPlanError (one line: the estimate, what is available, `way_out`) when the run's
    estimated peak exceeds MARGIN of the available memory. `resident`: the input is already in
    memory (it is not available any more, so it is not counted twice)."""
    est = estimate(shape, dtype, mode, factors)
    free = available_bytes() if available is None else int(available)
    need = est.peak - (est.input if resident else 0)
    if need > MARGIN * free:
        raise MemoryPlanError(
            f"this run needs about {_gib(est.peak)} of memory in one piece (input {_gib(est.input)}, "
            f"result {_gib(est.result)} as float32) but {_gib(free)} is available; {way_out}")
    return est


CLI_WAY_OUT = "write it block by block with -o OUTPUT.zarr (an OME-Zarr store)"
WIDGET_WAY_OUT = "choose an OME-Zarr output (*.zarr) to run it block by block"
API_WAY_OUT = "run it block by block with nd.chunked.run_chunked (or zssr INPUT -o OUTPUT.zarr)"
