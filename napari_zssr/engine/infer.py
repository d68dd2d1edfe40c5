"""Inference: tiled forward passes, geometric self-ensemble and back-projection.

All of it runs through one pure-torch module, `inference_module.ZSSRInference` (the module that
bioimage.io packages ship); the functions here build it around a trained network and give it the
engine's hooks: the cached resize tables of engine/resize.py, a tile size from free memory,
cancellation and bf16 autocast.
"""
from __future__ import annotations

import math
import os
from typing import List, Optional, Tuple

import numpy as np
import torch

from .device import autocast
from .inference_module import TRANSFORMS_ALL, TRANSFORMS_AXIS_KEEPING, ZSSRInference, ZSSRNet
from .inference_module import apply_t, invert_t, median  # noqa: F401  (this module's API)
from .kernels import shift_kernel
from .progress import CancelFlag, check_cancel
from .resize import _contributions

# bytes of activations per output pixel and batch item in one forward pass (64 channels, a few
# live tensors, fp32) -- used to size tiles from a memory budget
_BYTES_PER_PIXEL = 64 * 4 * 4


def available_memory(device: Optional[torch.device] = None) -> int:
    """Free memory on the device (GPU) or in RAM, in bytes; 1 GiB when it cannot be read."""
    try:
        if device is not None and device.type == "cuda":
            return int(torch.cuda.mem_get_info(device)[0])
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError, RuntimeError):
        return 1 << 30


def auto_tile(n_batch: int, device: Optional[torch.device] = None) -> int:
    """Tile edge whose activations take at most a quarter of the free memory (and at most 1 GiB)."""
    budget = min(available_memory(device) // 4, 1 << 30)
    side = int(math.sqrt(budget / (_BYTES_PER_PIXEL * max(n_batch, 1))))
    return max(64, min(side, 2048))


def output_shape(shape, sf) -> Tuple[int, int]:
    return tuple(int(math.ceil(round(n * s, 6))) for n, s in zip(shape, sf))


def transforms(sf) -> List[Tuple[int, bool]]:
    """8 for equal factors; only the 4 that keep the axes for sf_y != sf_x."""
    return TRANSFORMS_ALL if sf[0] == sf[1] else TRANSFORMS_AXIS_KEEPING


class EngineHooks:
    """What the engine's eager runs give the module: engine/resize.py's cached tables (numpy),
    tiles sized from free memory, cancellation between steps, bf16 autocast around the network."""

    def __init__(self, cancel: CancelFlag = None):
        self.cancel = cancel

    @staticmethod
    def tables(in_len: int, out_len: int, scale: float, antialias: bool):
        return _contributions(in_len, out_len, float(scale), "cubic", antialias)

    @staticmethod
    def out_len(n: int, s: float) -> int:
        return int(math.ceil(round(n * s, 6)))

    @staticmethod
    def auto_tile(n: int, device) -> int:
        return auto_tile(n, device)

    def check_cancel(self) -> None:
        check_cancel(self.cancel)

    @staticmethod
    def autocast(device, precision: str):
        return autocast(device, precision)


def bp_kernel(kernel: Optional[np.ndarray], sf) -> Optional[np.ndarray]:
    """The downscaling kernel back-projection applies for factors sf: the kernel shifted as
    kernels.downscale shifts it for scale 1/sf (None: MATLAB bicubic)."""
    if kernel is None:
        return None
    scale = (1.0 / float(sf[0]), 1.0 / float(sf[1]))
    return shift_kernel(kernel, [1.0 / s for s in scale])


def inference_module(net: ZSSRNet, sf, kernel: Optional[np.ndarray], precision: str = "fp32", *,
                     ensemble: bool = True, bp_iters: int = 10, clip=None, tile: Optional[int] = None,
                     channels_last: bool = True, cancel: CancelFlag = None,
                     hooks: bool = True) -> ZSSRInference:
    """The inference module around a trained network (shared, not copied); `hooks` False gives
    the plain module a bioimage.io package ships (tables computed in torch, no autocast)."""
    k = bp_kernel(kernel, sf)
    m = ZSSRInference(net.channels, float(sf[0]), float(sf[1]), net.depth, net.width,
                      (0, 0) if k is None else k.shape, ensemble, bp_iters, clip, tile or 0, channels_last,
                      net=net, precision=precision)
    if k is not None:
        m.bp_kernel.copy_(torch.from_numpy(np.ascontiguousarray(k, dtype=np.float64)))
    return m.set_hooks(EngineHooks(cancel)) if hooks else m


@torch.no_grad()
def run_net(net: ZSSRNet, x: torch.Tensor, precision: str, tile: Optional[int] = None,
            channels_last: bool = True, cancel: CancelFlag = None) -> torch.Tensor:
    """net(x) for x (N, C, H, W), in overlapping tiles when x is large.

    Tiles overlap by the receptive-field radius, so each kept pixel sees exactly what it would see
    in one pass over the whole image (the net pads with zeros only at the image border).
    """
    m = inference_module(net, (2.0, 2.0), None, precision, channels_last=channels_last, cancel=cancel)
    return m.run_net(x, tile or 0)


def back_project(sr: torch.Tensor, lr: torch.Tensor, sf, kernel, iters: int, clip=None) -> torch.Tensor:
    """sr += cubic_up(lr - down(sr)), repeated: the result, downscaled, reproduces the input."""
    def as4(t: torch.Tensor) -> torch.Tensor:
        return t.reshape((1,) * (4 - t.ndim) + tuple(t.shape)) if t.ndim < 4 else t
    net = ZSSRNet(as4(sr).shape[1], depth=1, width=1)       # (no network runs here)
    m = inference_module(net, sf, kernel, clip=clip)
    return m.back_project(as4(sr), as4(lr), iters).reshape(sr.shape)


@torch.no_grad()
def super_resolve_tensor(net: ZSSRNet, lr: torch.Tensor, sf, kernel, precision: str, *, ensemble: bool = True,
                         bp_iters: int = 10, clip=None, tile: Optional[int] = None, channels_last: bool = True,
                         cancel: CancelFlag = None) -> torch.Tensor:
    """Upscale lr (C, H, W) -- or a batch (N, C, H, W) of same-sized images -- by sf.

    Geometric self-ensemble (transforms batched by output shape), back-projection of each member,
    pixel-wise median, back-projection of the median: as the paper (ZSSRInference.super_resolve).
    """
    batched = lr.ndim == 4
    lr4 = lr if batched else lr[None]
    m = inference_module(net, sf, kernel, precision, ensemble=ensemble, bp_iters=bp_iters, clip=clip,
                         tile=tile, channels_last=channels_last, cancel=cancel)
    out = m.super_resolve(lr4, tile or 0)
    return out if batched else out[0]
