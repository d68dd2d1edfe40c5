"""Locate Set5 (../shared/data/Set5 relative to the repo root, or $ZSSR_SET5) and the Y-PSNR protocol.

The one implementation: the tests import it, and so do the benchmarks (benchmarks/set5_common.py adds
the images' names). It needs numpy and imageio only (pytest only for `set5_pairs_or_skip`).
Tests that need Set5 call `set5_pairs_or_skip(scale)`; it skips with a clear message only when the
data set is absent (in CI it is present).
"""
from __future__ import annotations

import glob
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np

REPO = Path(__file__).resolve().parents[1]
NAMES = {"img_001": "baby", "img_002": "bird", "img_003": "butterfly", "img_004": "head", "img_005": "woman"}


def set5_dir() -> Path:
    env = os.environ.get("ZSSR_SET5")
    return Path(env) if env else REPO / ".." / "shared" / "data" / "Set5"


def set5_pairs(scale: int):
    """[(key, hr uint8 RGB, lr uint8 RGB)] for x`scale`; [] when absent."""
    out = []
    for hr_path in sorted(glob.glob(str(set5_dir() / f"x{scale}" / "*_HR.png"))):
        lr_path = hr_path.replace("_HR.png", "_LR.png")
        hr, lr = iio.imread(hr_path), iio.imread(lr_path)
        hr = np.repeat(hr[..., None], 3, -1) if hr.ndim == 2 else hr[..., :3]
        lr = np.repeat(lr[..., None], 3, -1) if lr.ndim == 2 else lr[..., :3]
        out.append((os.path.basename(hr_path)[:7], hr, lr))
    return out


def set5_pairs_or_skip(scale: int):
    """Skip only when the data set is absent; a present but incomplete copy is an error."""
    import pytest

    folder = set5_dir() / f"x{scale}"
    if not folder.is_dir():
        pytest.skip(f"Set5 x{scale} not found at {folder.resolve()} (set ZSSR_SET5 to the Set5 folder)")
    pairs = set5_pairs(scale)
    assert len(pairs) == 5, f"{folder}: expected 5 HR/LR pairs, found {len(pairs)}"
    return pairs


# --- the SR literature's protocol (the benchmarks use these too) -----------------------------------
def to_y(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of 8-bit RGB in [16, 235], unrounded (as MATLAB rgb2ycbcr on doubles)."""
    im = rgb.astype(np.float64) / 255.0
    return 16 + 65.481 * im[..., 0] + 128.553 * im[..., 1] + 24.966 * im[..., 2]


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1] -> 8-bit, rounded and clipped."""
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def y_psnr(sr: np.ndarray, hr: np.ndarray, shave: int) -> float:
    """sr: float RGB in [0, 1] (rounded to 8 bits here) or uint8; hr: uint8."""
    if sr.dtype != np.uint8:
        sr = to_uint8(sr)
    a, b = to_y(sr), to_y(hr)
    if shave:
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    return float(10 * np.log10(255.0 ** 2 / np.mean((a - b) ** 2)))


def psnr_8bit(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two uint8 arrays (all channels)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))
