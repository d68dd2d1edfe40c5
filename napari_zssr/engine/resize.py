"""MATLAB-compatible imresize on torch tensors.

Keys cubic (a = -0.5), kernel stretched by 1/s when shrinking (antialiasing, decided per axis),
symmetric (mirror) edges, weights normalised to 1, coordinate map x_in = (x_out + 0.5)/s - 0.5,
separable, one axis at a time (smallest factor first, as MATLAB). Scale and output shape can be
given together so that odd sizes and non-integer factors stay aligned.

Tensors are shaped (..., H, W); only the last two axes are resized.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

Pair = Tuple[float, float]


def cubic(x: np.ndarray) -> np.ndarray:
    absx = np.abs(x)
    absx2, absx3 = absx ** 2, absx ** 3
    return ((1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1)
            + (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * ((absx > 1) & (absx <= 2)))


def linear(x: np.ndarray) -> np.ndarray:
    absx = np.abs(x)
    return (1 - absx) * (absx <= 1)


_KERNELS = {"cubic": (cubic, 4.0), "linear": (linear, 2.0)}


def fix_scale_and_shape(in_shape: Sequence[int], scale=None, output_shape=None) -> Tuple[Pair, Tuple[int, int]]:
    """Complete (scale, output_shape) for the last two axes, as the original ZSSR imresize."""
    if scale is None and output_shape is None:
        raise ValueError("give a scale, an output shape or both")
    if scale is not None:
        scale = (float(scale), float(scale)) if np.isscalar(scale) else tuple(float(s) for s in scale)
        if len(scale) != 2 or min(scale) <= 0:
            raise ValueError(f"scale must be one or two positive numbers, got {scale}")
    if output_shape is None:
        # round before ceil so that e.g. 3 * (7/3) does not become 8 through float error
        output_shape = tuple(int(math.ceil(round(n * s, 6))) for n, s in zip(in_shape, scale))
    output_shape = tuple(int(n) for n in output_shape)
    if scale is None:
        scale = tuple(o / n for o, n in zip(output_shape, in_shape))
    return scale, output_shape


@lru_cache(maxsize=256)
def _contributions(in_len: int, out_len: int, scale: float, kernel: str, antialias: bool):
    """Indices (out_len, P) into the input and their weights, mirror edges folded in."""
    fn, width = _KERNELS[kernel]
    if antialias and scale < 1:
        h = lambda x: scale * fn(scale * x)  # noqa: E731  stretched kernel = low-pass when shrinking
        width = width / scale
    else:
        h = fn
    x = np.arange(1, out_len + 1, dtype=np.float64)       # 1-based, as MATLAB
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    p = int(math.ceil(width)) + 2
    ind = left[:, None] + np.arange(p)[None, :]
    weights = h(u[:, None] - ind)
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    ind = mirror[np.mod(ind.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(weights != 0, axis=0)                   # drop all-zero columns
    return (torch.from_numpy(np.ascontiguousarray(ind[:, keep])),
            torch.from_numpy(np.ascontiguousarray(weights[:, keep])))


def _resize_axis(x: torch.Tensor, dim: int, out_len: int, scale: float, kernel: str, antialias: bool):
    in_len = x.shape[dim]
    if in_len == out_len and scale == 1:
        return x
    ind, w = _contributions(in_len, out_len, float(scale), kernel, antialias)
    ind, w = ind.to(x.device), w.to(device=x.device, dtype=x.dtype)
    x = x.movedim(dim, -1)
    # gather (…, out_len, P) then weight; memory is out_len * P, not out_len * in_len
    g = x[..., ind.reshape(-1)].reshape(*x.shape[:-1], out_len, ind.shape[1])
    y = (g * w).sum(-1)
    return y.movedim(-1, dim)


def imresize(x: torch.Tensor, scale: Union[float, Pair, None] = None,
             output_shape: Optional[Tuple[int, int]] = None, kernel: str = "cubic",
             antialias: bool = True) -> torch.Tensor:
    """Resize the last two axes of `x` like MATLAB's imresize (bicubic by default)."""
    if x.ndim < 2:
        raise ValueError("imresize needs at least two dimensions")
    scale, output_shape = fix_scale_and_shape(x.shape[-2:], scale, output_shape)
    order = np.argsort(scale, kind="stable")              # smallest factor first, like MATLAB
    out = x
    for ax in order:
        dim = x.ndim - 2 + int(ax)
        out = _resize_axis(out, dim, output_shape[ax], scale[ax], kernel, antialias)
    return out
