"""Set5 loading and the SR literature's evaluation protocol (Y channel, 8-bit, shave = scale)."""
from __future__ import annotations

import glob
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np

SET5 = Path(os.environ.get("ZSSR_SET5", Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "Set5"))
NAMES = {"img_001": "baby", "img_002": "bird", "img_003": "butterfly", "img_004": "head", "img_005": "woman"}


def set5_pairs(scale: int):
    """[(name, hr uint8, lr uint8)] or [] when Set5 is absent."""
    out = []
    for hr_path in sorted(glob.glob(str(SET5 / f"x{scale}" / "*_HR.png"))):
        lr_path = hr_path.replace("_HR.png", "_LR.png")
        key = os.path.basename(hr_path)[:7]
        out.append((NAMES.get(key, key), iio.imread(hr_path)[..., :3], iio.imread(lr_path)[..., :3]))
    return out


def to_y(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of 8-bit RGB, in [16, 235] (as MATLAB rgb2ycbcr)."""
    im = rgb.astype(np.float64) / 255.0
    return 16 + 65.481 * im[..., 0] + 128.553 * im[..., 1] + 24.966 * im[..., 2]


def y_psnr(sr: np.ndarray, hr: np.ndarray, shave: int) -> float:
    """sr: float RGB in [0, 1] (rounded to 8 bits here) or uint8; hr: uint8."""
    if sr.dtype != np.uint8:
        sr = np.clip(np.round(sr * 255.0), 0, 255).astype(np.uint8)
    a, b = to_y(sr), to_y(hr)
    if shave:
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    return float(10 * np.log10(255.0 ** 2 / np.mean((a - b) ** 2)))
