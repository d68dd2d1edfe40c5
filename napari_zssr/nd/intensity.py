"""Robust intensity normalisation that is undone afterwards, and output dtype handling."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

LOW_PCT, HIGH_PCT = 0.1, 99.9
MAX_ABS_VALUE = float(np.finfo(np.float32).max) / 4     # |values| a run can take (float32, with room)


def check_values(data: np.ndarray) -> None:
    if data.size == 0:
        raise ValueError("the image is empty")
    if data.dtype.kind == "b":
        raise ValueError("boolean images (masks) cannot be super-resolved; use an intensity image")
    if data.dtype.kind == "c":
        raise ValueError("complex images are not supported; pass the magnitude or the real part")
    if data.dtype.kind not in "iuf":
        raise ValueError(f"unsupported dtype {data.dtype}")
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        raise ValueError("the image contains NaN or Inf values; replace them first")
    if data.dtype.kind == "f" and data.dtype.itemsize > 2 and \
            max(abs(float(data.min())), abs(float(data.max()))) > MAX_ABS_VALUE:
        # the network and the normalisation compute in float32: beyond this, differences overflow to
        # Inf and the result is NaN (found by the fuzz test of issue 28)
        raise ValueError(f"the image has values beyond ±{MAX_ABS_VALUE:.1e}, more than float32 computes; "
                         f"rescale it first")


@dataclass
class Normalizer:
    """x -> (x - lo) / (hi - lo): percentiles map to ~[0, 1]; nothing is clipped, so highlights survive."""
    lo: float
    hi: float
    dtype: str

    @classmethod
    def fit(cls, data: np.ndarray) -> "Normalizer":
        sample = data.ravel()
        if sample.size > 4_000_000:                      # percentiles of a strided sample are enough
            sample = sample[:: sample.size // 4_000_000]
        lo, hi = np.percentile(sample.astype(np.float64), [LOW_PCT, HIGH_PCT])
        if hi <= lo:                                     # sparse images: fall back to the full range
            lo, hi = float(data.min()), float(data.max())
        if hi <= lo:
            raise ValueError("the image is constant; there is nothing to super-resolve")
        return cls(float(lo), float(hi), str(data.dtype))

    def forward(self, data: np.ndarray) -> np.ndarray:
        return ((data.astype(np.float32) - self.lo) / (self.hi - self.lo)).astype(np.float32)

    def inverse(self, data: np.ndarray) -> np.ndarray:
        return (data * np.float32(self.hi - self.lo) + np.float32(self.lo)).astype(np.float32)

    def valid_range(self) -> Optional[Tuple[float, float]]:
        """The input dtype's range in normalised units (integer data cannot leave it); None for floats."""
        dt = np.dtype(self.dtype)
        if dt.kind not in "iu":
            return None
        info = np.iinfo(dt)
        return ((info.min - self.lo) / (self.hi - self.lo), (info.max - self.lo) / (self.hi - self.lo))

    def to_dict(self) -> dict:
        return {"lo": self.lo, "hi": self.hi, "dtype": self.dtype}


def cast_output(data: np.ndarray, dtype: np.dtype) -> Tuple[np.ndarray, int]:
    """Round and clip to an integer dtype's range (float dtypes pass); returns (array, n clipped)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        r = np.rint(data)
        clipped = int(np.count_nonzero((r < info.min) | (r > info.max)))
        # the bounds as r's float type holds them: float32(2**31 - 1) is 2**31, which overflows int32
        # (to -2**31: the brightest voxels came out darkest; found by the fuzz test of issue 28)
        ft = r.dtype if r.dtype.kind == "f" else np.dtype(np.float64)
        lo, hi = np.array(info.min, ft), np.array(info.max, ft)
        if int(hi) > info.max:
            hi = np.nextafter(hi, ft.type(0))
        return np.clip(r, lo, hi).astype(dtype), clipped
    return data.astype(dtype), 0
