"""Training from a bounded random subset of a lazy volume: only the sampled planes are ever read.

The stack mode already pools crops from all planes; for a volume bigger than memory the pool is a
random subset of at most `n` planes (or, for pure-ZSSR axial runs, xz/yz slices), drawn with the
run's seed so a rerun draws the same subset. The subset goes into the result's metadata.
"""
from __future__ import annotations

import numpy as np

DEFAULT_TRAIN_PLANES = 16


def choose_planes(n_t: int, n_z: int, n: int, seed: int) -> list[tuple[int, int]]:
    """At most n distinct (t, z) planes, sorted, drawn uniformly at random (all when n >= T*Z)."""
    total = n_t * n_z
    if n < 1:
        raise ValueError(f"the training subset needs at least one plane, got {n}")
    idx = np.arange(total) if n >= total else np.sort(np.random.default_rng(seed).choice(total, n, replace=False))
    return [(int(i // n_z), int(i % n_z)) for i in idx]


def read_planes(source, planes, channels: slice) -> np.ndarray:
    """(P, Cg, Y, X) float32 of the chosen planes of a 5-D (T, Z, C, Y, X) dask array; their values
    checked first (NaN/Inf, or beyond what float32 computes: one line, before any training)."""
    from .intensity import check_values

    out = []
    for t, z in planes:
        raw = np.asarray(source[t, z, channels].compute())
        check_values(raw)
        out.append(raw.astype(np.float32))
    return np.stack(out)


def read_slices(source, t: int, n: int, seed: int, channels: slice) -> tuple[list, dict]:
    """Up to n xz and n yz slices (C, Z, X|Y) of time point t, for pure-ZSSR axial training."""
    _, _, _, ny, nx = source.shape
    rng = np.random.default_rng(seed)
    ys = np.sort(rng.choice(ny, min(n, ny), replace=False))
    xs = np.sort(rng.choice(nx, min(n, nx), replace=False))
    xz = [np.moveaxis(np.asarray(source[t, :, channels, int(y), :].compute(), np.float32), 0, 1) for y in ys]
    yz = [np.moveaxis(np.asarray(source[t, :, channels, :, int(x)].compute(), np.float32), 0, 1) for x in xs]
    return xz + yz, {"t": t, "y": [int(v) for v in ys], "x": [int(v) for v in xs]}
