"""Inference: tiled forward passes, geometric self-ensemble and back-projection.

All of it runs through one pure-torch module, `inference_module.ZSSRInference` (the module that
bioimage.io packages ship); the functions here build it around a trained network and give it the
engine's hooks: the cached resize tables of engine/resize.py, a tile size from free memory,
cancellation and bf16 autocast.
"""
from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import List, Optional, Tuple

import numpy as np
import torch

from .device import autocast
from .inference_module import TRANSFORMS_ALL, TRANSFORMS_AXIS_KEEPING, ZSSRInference, ZSSRNet
from .inference_module import band_block, band_matrices
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


@lru_cache(maxsize=256)
def _bands(in_len: int, out_len: int, scale: float, antialias: bool):
    """resize.py's tables for one axis as the module's banded row blocks (made once per size)."""
    ind, w = _contributions(in_len, out_len, scale, "cubic", antialias)
    return band_matrices(ind, w, in_len, band_block(out_len, scale))


# bytes of one activation tensor per network call on a CPU: the layers of a call then run from
# cache. 32 wide, fp32, 1 thread of a 2-core AVX2 EPYC, whole net per call, best GFLOP/s: eager
# 256^2 x 1 68.5, 512^2 x 1 38.8, 256^2 x 8 33.2; the frozen graph 61.4, 62.0, 54.6; whole
# inference with these calls 62-71, 67-76 % of one layer's peak (benchmarks/results/roofline.md)
CPU_ACTIVATION_BYTES = 8 << 20
# a frozen oneDNN graph (conv+ReLU fused) costs ~0.5 s to build and saves 30-50 % of the network's
# time on a CPU: built for inference of at least this many output pixels x passes (~3 s of network)
FREEZE_MIN_PIXELS = 1 << 18
# the self-ensemble's size rule: all 8 passes up to this many output pixels per image, the 4
# axis-keeping ones above. 8 passes of the shipped 32-wide net cost 0.9 MFLOP per output pixel: at
# 2^21 pixels (1448^2) 1.9 TFLOP, ~20 s on both cores of an AVX2 EPYC and over half the default
# training (1000 steps on 96^2 crops: 3.1 TFLOP), for +0.02 dB over the 4 on Set5 x2 and +0.05 on
# real xy planes (benchmarks/results/ensemble_gain.md). Below it: every Set5/Set14 image (a 720x576
# input x2 is 1.66 Mpx) and the bundled samples.
ENSEMBLE_FULL_MAX_PIXELS = 1 << 21
ENSEMBLE_PASSES = (1, 2, 4, 8)          # the first n transforms of TRANSFORMS_ALL
# frozen graphs by the digest of their weights: a chunked run's workers get a new copy of the same
# network with every block, and a graph holds its own copy of the weights
_FROZEN: "OrderedDict[bytes, object]" = OrderedDict()
_FROZEN_KEEP = 4


@dataclass
class InferenceOptions:
    """How a trained network is applied: self-ensemble, back-projection, clipping, tiles, layout."""
    ensemble: bool = True
    passes: Optional[int] = None          # with the ensemble: 1, 2, 4 or 8; None: the size rule
    bp_iters: int = 10
    clip: Optional[Tuple[float, float]] = None
    tile: Optional[int] = None            # tile edge (output pixels); None: the engine's plan
    channels_last: bool = True

    def __post_init__(self):
        if self.passes is not None and self.passes not in ENSEMBLE_PASSES:
            raise ValueError(f"passes must be one of {ENSEMBLE_PASSES}, not {self.passes}")

    @classmethod
    def of(cls, opts: Optional["InferenceOptions"], settings: dict) -> "InferenceOptions":
        """opts, or one made from keyword settings (ensemble=..., bp_iters=...), not both."""
        if opts is not None and settings:
            raise TypeError("give inference options or keyword settings, not both")
        return opts if opts is not None else cls(**settings)


def ensemble_passes(o: InferenceOptions, sf, out_hw) -> int:
    """How many self-ensemble passes an image of out_hw output pixels gets: 1 without the
    ensemble, else o.passes or the size rule (ENSEMBLE_FULL_MAX_PIXELS); never more than the
    factors allow (4 for sf_y != sf_x)."""
    if not o.ensemble:
        return 1
    most = len(transforms(sf))
    if o.passes is not None:
        return min(o.passes, most)
    return most if out_hw[0] * out_hw[1] <= ENSEMBLE_FULL_MAX_PIXELS else min(len(TRANSFORMS_AXIS_KEEPING), most)


def cpu_plan(n: int, h: int, w: int, width: int, halo: int) -> Tuple[int, int]:
    """(tile edge, images per call) whose activations stay within CPU_ACTIVATION_BYTES."""
    budget = max(CPU_ACTIVATION_BYTES // (4 * max(width, 1)), 1)
    if h * w <= budget:
        return max(h, w), max(1, min(n, budget // (h * w)))
    return max(32, int(math.sqrt(budget)) - 2 * halo), 1


def weights_digest(net: ZSSRNet) -> bytes:
    """A digest of the network's architecture and weights (~1 ms for a 64-wide net)."""
    h = hashlib.blake2b(digest_size=16)
    for name, p in net.state_dict().items():
        h.update(f"{name}{tuple(p.shape)}{p.dtype}".encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.digest()


def frozen_net(net: ZSSRNet):
    """The net as a frozen TorchScript graph for oneDNN (weights pre-packed, oneDNN's layout from
    the first layer to the last), made once per set of weights (training between gradual stages
    makes a new one)."""
    key = weights_digest(net)
    hit = _FROZEN.get(key)
    if hit is not None:
        _FROZEN.move_to_end(key)
        return hit
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)       # torch.jit's notice: no action here
        graph = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(net)))
    _FROZEN[key] = graph
    while len(_FROZEN) > _FROZEN_KEEP:
        _FROZEN.popitem(last=False)
    return graph


class EngineHooks:
    """What the engine's eager runs give the module: engine/resize.py's cached tables (numpy),
    tiles and images per call sized for the CPU's cache (a GPU's free memory), a frozen graph of
    the network on a CPU in fp32, cancellation between steps, bf16 autocast around the network."""

    def __init__(self, cancel: CancelFlag = None, freeze: bool = False):
        self.cancel = cancel
        self.freeze = freeze
        self._graph = None                  # looked up once per inference, not per tile

    @staticmethod
    def bands(in_len: int, out_len: int, scale: float, antialias: bool):
        return _bands(in_len, out_len, float(scale), antialias)

    @staticmethod
    def out_len(n: int, s: float) -> int:
        return int(math.ceil(round(n * s, 6)))

    @staticmethod
    def plan(net: ZSSRNet, n: int, h: int, w: int, device) -> Tuple[int, int]:
        if device.type == "cpu":
            return cpu_plan(n, h, w, net.width, net.halo)
        return auto_tile(n, device), n

    def forward(self, net: ZSSRNet, t: torch.Tensor, precision: str) -> torch.Tensor:
        if self.freeze and t.device.type == "cpu" and precision == "fp32" and not net.training:
            if self._graph is None:
                self._graph = frozen_net(net)
            return self._graph(t.contiguous())     # the graph converts to oneDNN's own layout
        with autocast(t.device, precision):
            return net(t).float()

    def check_cancel(self) -> None:
        check_cancel(self.cancel)



def bp_kernel(kernel: Optional[np.ndarray], sf) -> Optional[np.ndarray]:
    """The downscaling kernel back-projection applies for factors sf: the kernel shifted as
    kernels.downscale shifts it for scale 1/sf (None: MATLAB bicubic)."""
    if kernel is None:
        return None
    scale = (1.0 / float(sf[0]), 1.0 / float(sf[1]))
    return shift_kernel(kernel, [1.0 / s for s in scale])


def inference_module(net: ZSSRNet, sf, kernel: Optional[np.ndarray], precision: str = "fp32",
                     opts: Optional[InferenceOptions] = None, *, cancel: CancelFlag = None,
                     hooks: bool = True, freeze: bool = False, **settings) -> ZSSRInference:
    """The inference module around a trained network (shared, not copied); `opts` or keyword
    settings (InferenceOptions' fields). `hooks` False gives the plain module a bioimage.io package
    ships (tables computed in torch, no autocast); `freeze` runs a frozen graph of the net (CPU, fp32)."""
    o = InferenceOptions.of(opts, settings)
    k = bp_kernel(kernel, sf)
    m = ZSSRInference(net.channels, float(sf[0]), float(sf[1]), 1, 1,       # (1, 1: replaced by `net`)
                      (0, 0) if k is None else k.shape, o.ensemble, o.bp_iters, o.clip, o.tile or 0)
    m.use(net, o.channels_last, precision)
    m.passes = o.passes or 0
    if k is not None:
        m.bp_kernel.copy_(torch.from_numpy(np.ascontiguousarray(k, dtype=np.float64)))
    return m.set_hooks(EngineHooks(cancel, freeze)) if hooks else m


@torch.no_grad()
def run_net(net: ZSSRNet, x: torch.Tensor, precision: str, tile: Optional[int] = None,
            channels_last: bool = True, cancel: CancelFlag = None) -> torch.Tensor:
    """net(x) for x (N, C, H, W), in overlapping tiles when x is large.

    Tiles overlap by the receptive-field radius, so each kept pixel sees exactly what it would see
    in one pass over the whole image (the net pads with zeros only at the image border).
    """
    m = inference_module(net, (2.0, 2.0), None, precision, channels_last=channels_last, cancel=cancel,
                         freeze=x.shape[0] * x.shape[-2] * x.shape[-1] >= FREEZE_MIN_PIXELS)
    return m.run_net(x, tile or 0)


def back_project(sr: torch.Tensor, lr: torch.Tensor, sf, kernel, iters: int, clip=None) -> torch.Tensor:
    """sr += cubic_up(lr - down(sr)), repeated: the result, downscaled, reproduces the input."""
    def as4(t: torch.Tensor) -> torch.Tensor:
        return t.reshape((1,) * (4 - t.ndim) + tuple(t.shape)) if t.ndim < 4 else t
    net = ZSSRNet(as4(sr).shape[1], depth=1, width=1)       # (no network runs here)
    m = inference_module(net, sf, kernel, clip=clip)
    return m.back_project(as4(sr), as4(lr), iters).reshape(sr.shape)


@torch.no_grad()
def super_resolve_tensor(net: ZSSRNet, lr: torch.Tensor, sf, kernel, precision: str,
                         opts: Optional[InferenceOptions] = None, *, cancel: CancelFlag = None,
                         **settings) -> torch.Tensor:
    """Upscale lr (C, H, W) -- or a batch (N, C, H, W) of same-sized images -- by sf; `opts` or
    keyword settings (InferenceOptions' fields: ensemble, bp_iters, clip, tile, channels_last).

    Geometric self-ensemble (transforms batched by output shape), back-projection of each member,
    pixel-wise median, back-projection of the median: as the paper (ZSSRInference.super_resolve).
    """
    o = InferenceOptions.of(opts, settings)
    batched = lr.ndim == 4
    lr4 = lr if batched else lr[None]
    out_hw = output_shape(lr4.shape[-2:], sf)
    o = replace(o, passes=ensemble_passes(o, sf, out_hw))
    work = lr4.shape[0] * out_hw[0] * out_hw[1] * o.passes
    m = inference_module(net, sf, kernel, precision, o, cancel=cancel, freeze=work >= FREEZE_MIN_PIXELS)
    out = m.super_resolve(lr4, o.tile or 0)
    return out if batched else out[0]
