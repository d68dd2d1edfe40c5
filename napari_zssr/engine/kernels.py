"""Downscaling kernels: MATLAB bicubic (default), Gaussian PSFs, user arrays.

A kernel is used for downscaling only (sons and back-projection); upscaling is always cubic.
A numeric kernel is shifted so that its centre of mass lands on the centre of the low-resolution
pixel, then correlated with mirror edges and subsampled (as the original ZSSR, per axis).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from .resize import fix_scale_and_shape, imresize

KernelSpec = Union[None, str, np.ndarray]


def gaussian_kernel(sigma_y: float, sigma_x: float) -> np.ndarray:
    """Normalised 2-D Gaussian PSF (sigma in high-resolution pixels; 0 = no blur on that axis)."""
    def one(s: float) -> np.ndarray:
        if s <= 0:
            return np.ones(1)
        r = int(math.ceil(3.5 * s))
        x = np.arange(-r, r + 1, dtype=np.float64)
        g = np.exp(-0.5 * (x / s) ** 2)
        return g / g.sum()
    return np.outer(one(sigma_y), one(sigma_x))


def fwhm_to_sigma(fwhm: float) -> float:
    return float(fwhm) / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def validate_kernel(kernel: np.ndarray) -> np.ndarray:
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim == 1:
        k = k[:, None]
    if k.ndim != 2 or k.size == 0:
        raise ValueError(f"kernel must be a non-empty 2-D array, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError("kernel contains NaN or Inf")
    if k.sum() <= 0 or k.min() < -0.5 * k.max():
        raise ValueError("kernel must be mostly non-negative with a positive sum")
    if max(k.shape) > 257:
        raise ValueError(f"kernel is too large ({k.shape}); expected at most 257 pixels a side")
    return k / k.sum()


def resolve_kernel(kernel: KernelSpec) -> Optional[np.ndarray]:
    """None for MATLAB bicubic, else a normalised numeric kernel."""
    if kernel is None or (isinstance(kernel, str) and kernel in ("bicubic", "cubic")):
        return None
    if isinstance(kernel, str):
        raise ValueError(f"unknown kernel {kernel!r}; use 'bicubic', a Gaussian or an array")
    if isinstance(kernel, (tuple, list)) and kernel and kernel[0] == "gaussian":
        sig = [float(s) for s in kernel[1:]] or [1.0]
        sy, sx = (sig[0], sig[0]) if len(sig) == 1 else sig[:2]
        if sy < 0 or sx < 0:
            raise ValueError("Gaussian sigma must be >= 0")
        return gaussian_kernel(sy, sx)
    return validate_kernel(kernel)


def is_symmetric(kernel: Optional[np.ndarray]) -> bool:
    """True when rotating the image by 90 degrees would leave the kernel unchanged."""
    if kernel is None:
        return True
    return kernel.shape[0] == kernel.shape[1] and np.allclose(kernel, kernel.T, atol=1e-6 * kernel.max())


def shift_kernel(kernel: np.ndarray, sf: Sequence[float]) -> np.ndarray:
    """Move the centre of mass to shape//2 + 0.5*(sf - 1) per axis (sf = downscaling factor >= 1).

    For odd sizes this is the spec's shape//2 + 0.5*(sf - shape % 2); written with the correlation
    origin (index shape//2) so that even sizes are aligned as well.
    """
    k = np.asarray(kernel, dtype=np.float64)
    current = np.array(ndimage.center_of_mass(k))
    wanted = np.array(k.shape) // 2 + 0.5 * (np.asarray(sf, dtype=np.float64) - 1)
    shift = wanted - current
    if np.allclose(shift, 0):
        return k
    pad = int(math.ceil(np.max(np.abs(shift)))) + 1
    k = np.pad(k, pad)
    k = ndimage.shift(k, shift, order=3, mode="constant")
    k = np.clip(k, 0, None) if kernel.min() >= 0 else k
    return k / k.sum()


def _mirror_index(n: int, before: int, after: int, device) -> torch.Tensor:
    """Indices padding an axis of length n symmetrically (edge pixel repeated, as MATLAB/scipy)."""
    idx = np.arange(-before, n + after)
    period = 2 * n
    idx = np.mod(idx, period)
    idx = np.where(idx >= n, period - 1 - idx, idx)
    return torch.from_numpy(idx).to(device)


def correlate(x: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """Correlate the last two axes of x with a 2-D kernel, mirror edges, same size."""
    kh, kw = kernel.shape
    h, w = x.shape[-2:]
    lead = x.shape[:-2]
    xi = x.reshape(-1, 1, h, w)
    xi = xi.index_select(2, _mirror_index(h, kh // 2, kh - 1 - kh // 2, x.device))
    xi = xi.index_select(3, _mirror_index(w, kw // 2, kw - 1 - kw // 2, x.device))
    wt = torch.as_tensor(kernel, dtype=x.dtype, device=x.device)[None, None]
    return F.conv2d(xi, wt).reshape(*lead, h, w)


def aligned_length(n: int, s: float) -> int:
    """The longest length <= n that is a whole number of pixels after downscaling by s (for x2.5:
    a multiple of 5), so that the son's grid lines up with its father's; n itself if none is."""
    for m in range(int(n / s + 1e-9), 0, -1):
        if abs(m * s - round(m * s)) < 1e-6 and round(m * s) <= n:
            return int(round(m * s))
    return n


def downscale(x: torch.Tensor, scale, output_shape: Optional[Tuple[int, int]] = None,
              kernel: Optional[np.ndarray] = None) -> torch.Tensor:
    """Downscale the last two axes by `scale` (<= 1 per axis) with the given kernel."""
    scale, output_shape = fix_scale_and_shape(x.shape[-2:], scale, output_shape)
    if kernel is None:
        return imresize(x, scale, output_shape)
    sf = [1.0 / s for s in scale]
    k = shift_kernel(kernel, sf)
    y = correlate(x, k)
    h, w = x.shape[-2:]
    rows = np.round(np.linspace(0, h - sf[0], output_shape[0])).astype(np.int64)
    cols = np.round(np.linspace(0, w - sf[1], output_shape[1])).astype(np.int64)
    rows = torch.from_numpy(np.clip(rows, 0, h - 1)).to(x.device)
    cols = torch.from_numpy(np.clip(cols, 0, w - 1)).to(x.device)
    return y.index_select(-2, rows).index_select(-1, cols)
