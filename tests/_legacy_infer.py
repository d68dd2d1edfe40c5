"""The engine's inference before issue 30 (commit cd28ed7), verbatim: the reference that the
one-module inference (engine/inference_module.py) must reproduce bit for bit. Tests only."""
from __future__ import annotations

import math
import os
from typing import List, Optional, Tuple

import torch

from napari_zssr.engine.device import autocast
from napari_zssr.engine.kernels import downscale
from napari_zssr.engine.network import ZSSRNet
from napari_zssr.engine.progress import CancelFlag, check_cancel
from napari_zssr.engine.resize import imresize

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


@torch.no_grad()
def run_net(net: ZSSRNet, x: torch.Tensor, precision: str, tile: Optional[int] = None,
            channels_last: bool = True, cancel: CancelFlag = None) -> torch.Tensor:
    """net(x) for x (N, C, H, W), in overlapping tiles when x is large.

    Tiles overlap by the receptive-field radius, so each kept pixel sees exactly what it would see
    in one pass over the whole image (the net pads with zeros only at the image border).
    """
    n, c, h, w = x.shape
    tile = tile or auto_tile(n, x.device)
    mem = torch.channels_last if channels_last else torch.contiguous_format
    dev = x.device

    def fwd(t):
        with autocast(dev, precision):
            return net(t.contiguous(memory_format=mem)).float()

    if h <= tile and w <= tile:
        return fwd(x).contiguous()
    halo = net.halo
    out = torch.empty_like(x)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            check_cancel(cancel)
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ya, xa = max(y0 - halo, 0), max(x0 - halo, 0)
            yb, xb = min(y1 + halo, h), min(x1 + halo, w)
            r = fwd(x[:, :, ya:yb, xa:xb])
            out[:, :, y0:y1, x0:x1] = r[:, :, y0 - ya:y0 - ya + (y1 - y0), x0 - xa:x0 - xa + (x1 - x0)]
    return out


def back_project(sr: torch.Tensor, lr: torch.Tensor, sf, kernel, iters: int, clip=None) -> torch.Tensor:
    """sr += cubic_up(lr - down(sr)), repeated: the result, downscaled, reproduces the input."""
    for _ in range(iters):
        down = downscale(sr, (1.0 / sf[0], 1.0 / sf[1]), output_shape=tuple(lr.shape[-2:]), kernel=kernel)
        sr = sr + imresize(lr - down, sf, output_shape=tuple(sr.shape[-2:]))
        if clip is not None:
            sr = sr.clamp(*clip)
    return sr


# (k rotations by 90 degrees, mirror) -- the 8 dihedral transforms; the first 4 keep the axes
_TRANSFORMS_AXIS_KEEPING = [(0, False), (2, False), (0, True), (2, True)]
_TRANSFORMS_ALL = _TRANSFORMS_AXIS_KEEPING + [(1, False), (3, False), (1, True), (3, True)]


def transforms(sf) -> List[Tuple[int, bool]]:
    """8 for equal factors; only the 4 that keep the axes for sf_y != sf_x."""
    return _TRANSFORMS_ALL if sf[0] == sf[1] else _TRANSFORMS_AXIS_KEEPING


def apply_t(x: torch.Tensor, k: int, mirror: bool) -> torch.Tensor:
    x = torch.rot90(x, k, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if mirror else x


def invert_t(x: torch.Tensor, k: int, mirror: bool) -> torch.Tensor:
    x = torch.flip(x, dims=(-1,)) if mirror else x
    return torch.rot90(x, -k, dims=(-2, -1))


def output_shape(shape, sf) -> Tuple[int, int]:
    return tuple(int(math.ceil(round(n * s, 6))) for n, s in zip(shape, sf))


def median(stack: torch.Tensor) -> torch.Tensor:
    """Pixel-wise median over dim 0, averaging the middle pair for even counts (as numpy)."""
    n = stack.shape[0]
    out = torch.empty_like(stack[0])
    rows = stack.shape[-2]
    step = max(1, (1 << 22) // max(stack[0].numel() // rows, 1))   # sort in row blocks: bounded memory
    for r0 in range(0, rows, step):
        s = stack[..., r0:r0 + step, :].sort(dim=0).values
        out[..., r0:r0 + step, :] = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
    return out


@torch.no_grad()
def super_resolve_tensor(net: ZSSRNet, lr: torch.Tensor, sf, kernel, precision: str, *, ensemble: bool = True,
                         bp_iters: int = 10, clip=None, tile: Optional[int] = None, channels_last: bool = True,
                         cancel: CancelFlag = None) -> torch.Tensor:
    """Upscale lr (C, H, W) -- or a batch (N, C, H, W) of same-sized images -- by sf.

    Geometric self-ensemble (transforms batched by output shape), back-projection of each member,
    pixel-wise median, back-projection of the median: as the paper.
    """
    batched = lr.ndim == 4
    lr4 = lr if batched else lr[None]
    out_shape = output_shape(lr4.shape[-2:], sf)
    ts = transforms(sf) if ensemble else [(0, False)]
    groups = {}
    for k, m in ts:
        groups.setdefault(k % 2, []).append((k, m))
    results = []
    n = lr4.shape[0]
    for odd, members in groups.items():
        check_cancel(cancel)
        sf_t = (sf[1], sf[0]) if odd else tuple(sf)
        shape_t = (out_shape[1], out_shape[0]) if odd else out_shape
        ups = torch.cat([imresize(apply_t(lr4, k, m), sf_t, output_shape=shape_t) for k, m in members])
        outs = run_net(net, ups, precision, tile, channels_last, cancel)
        del ups
        for i, (k, m) in enumerate(members):
            results.append(invert_t(outs[i * n:(i + 1) * n], k, m))
    check_cancel(cancel)
    if bp_iters:
        results = [back_project(r, lr4, sf, kernel, bp_iters, clip) for r in results]
    if len(results) == 1:
        out = results[0]
    else:
        out = median(torch.stack(results))
        del results
        if bp_iters:
            out = back_project(out, lr4, sf, kernel, bp_iters, clip)
    return out if batched else out[0]
