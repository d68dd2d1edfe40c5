"""ZSSR inference as one pure-torch module: cubic upscale, network, self-ensemble, back-projection.

`ZSSRInference` does a trained network's whole inference on a normalised (N, C, H, W) tensor:
the MATLAB-compatible cubic upscale (Keys a = -0.5, mirror edges, antialiased when shrinking),
the residual network, the geometric self-ensemble (8 dihedral transforms for equal factors, the 4
that keep the axes otherwise), back-projection of each member with the model's downscaling kernel,
the pixel-wise median and its back-projection -- as the paper.

This file imports nothing but torch, math and typing: it is the architecture source shipped in
bioimage.io packages, and `torch.jit.script(ZSSRInference(...))` compiles it (CPU or CUDA).
The engine runs its inference through the same module (engine/infer.py); eager runs there get
"hooks" (the engine's cached resize tables, tile size, cancellation, bf16 autocast) which a
scripted or packaged module does without: it computes the same tables itself, in torch
(tests/test_inference_module.py checks both give the same numbers).

Downscaling kernel: None (`has_kernel` False) is MATLAB bicubic; a numeric kernel is given here
already shifted for downscaling by 1/sf (engine/kernels.shift_kernel), as the buffer `bp_kernel`.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn


class ZSSRNet(nn.Module):
    """The ZSSR CNN: `depth` conv layers 3x3 (`width` channels), ReLU after all but the last, no
    biases, residual output (the input is the cubic upscale; the net predicts what it lacks)."""

    def __init__(self, channels: int, depth: int = 8, width: int = 64, init_std_factor: float = 0.1,
                 seed: int = 0):
        super().__init__()
        self.channels, self.depth, self.width = channels, depth, width
        layers = []
        # a private generator: two trainings in one process (threads) must not share random state
        gen = torch.Generator().manual_seed(int(seed))
        c_in = channels
        for i in range(depth):
            c_out = channels if i == depth - 1 else width
            conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)   # no biases, as the original
            # smaller than He init because the net only learns a residual
            nn.init.normal_(conv.weight, std=math.sqrt(init_std_factor / (9 * c_in)), generator=gen)
            layers.append(conv)
            if i < depth - 1:
                layers.append(nn.ReLU(inplace=True))
            c_in = c_out
        self.body = nn.Sequential(*layers)

    @property
    def halo(self) -> int:
        """Receptive-field radius: tiles overlapping by this much give the untiled result."""
        return self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x is the cubic upscale of the low-resolution image; the net predicts the residual.
        # The first layer runs in fp32 even under bf16 autocast: rounding the input image itself
        # to 8 mantissa bits would add noise the rest of the net cannot undo (and it is cheap).
        first = self.body[0]
        if torch.jit.is_scripting():        # scripted: fp32 throughout, the same layers in order
            h = first(x.float())
            i = 0
            for layer in self.body:
                if i > 0:
                    h = layer(h)
                i += 1
            return x + h.to(x.dtype)
        else:
            with torch.autocast(device_type=x.device.type, enabled=False):
                h = first(x.float())
            return x + self.body[1:](h).to(x.dtype)


# (k rotations by 90 degrees, mirror) -- the 8 dihedral transforms; the first 4 keep the axes
TRANSFORMS_AXIS_KEEPING: List[Tuple[int, bool]] = [(0, False), (2, False), (0, True), (2, True)]
TRANSFORMS_ALL: List[Tuple[int, bool]] = TRANSFORMS_AXIS_KEEPING + [(1, False), (3, False), (1, True), (3, True)]


def apply_t(x: torch.Tensor, k: int, mirror: bool) -> torch.Tensor:
    x = torch.rot90(x, k, [-2, -1])
    return torch.flip(x, [-1]) if mirror else x


def invert_t(x: torch.Tensor, k: int, mirror: bool) -> torch.Tensor:
    x = torch.flip(x, [-1]) if mirror else x
    return torch.rot90(x, -k, [-2, -1])


def round_up_size(n: int, s: float) -> int:
    """ceil(round(n * s, 6)): the output length of n pixels scaled by s (3 * 7/3 stays 7)."""
    v = float(n) * s
    return int(math.ceil(math.floor(v * 1e6 + 0.5) / 1e6))


def _cubic(x: torch.Tensor) -> torch.Tensor:
    absx = torch.abs(x)
    absx2 = absx * absx
    absx3 = absx2 * absx
    return ((1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1).to(x.dtype)
            + (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * ((absx > 1) & (absx <= 2)).to(x.dtype))


def _row_sums(w: torch.Tensor) -> torch.Tensor:
    """Sum over the last axis in numpy's order (sequential below 8 terms, else 8 partial sums
    combined pairwise, then the rest), so that the weights match engine/resize.py's."""
    p = w.shape[1]
    if p < 8:
        s = torch.zeros_like(w[:, 0])
        for j in range(p):
            s = s + w[:, j]
    else:
        r = [w[:, j] for j in range(8)]
        i = 8
        while i < p - p % 8:
            for j in range(8):
                r[j] = r[j] + w[:, i + j]
            i += 8
        s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < p:
            s = s + w[:, i]
            i += 1
    return torch.zeros_like(s) + s


def cubic_contributions(in_len: int, out_len: int, scale: float, antialias: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """Input indices (out_len, P), mirror edges folded in, and their float64 weights, for resizing
    one axis by `scale` with MATLAB's cubic (kernel stretched by 1/scale when shrinking)."""
    width = 4.0
    shrink = antialias and scale < 1
    if shrink:
        width = width / scale
    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    p = int(math.ceil(width)) + 2
    ind = left[:, None] + torch.arange(p, dtype=torch.float64)[None, :]
    d = u[:, None] - ind
    weights = scale * _cubic(scale * d) if shrink else _cubic(d)
    weights = weights / _row_sums(weights)[:, None]
    mirror = torch.cat([torch.arange(in_len), torch.arange(in_len - 1, -1, -1)])
    idx = mirror[torch.remainder(ind.to(torch.int64) - 1, 2 * in_len)]
    keep = torch.nonzero(torch.any(weights != 0, dim=0)).reshape(-1)          # drop all-zero columns
    return idx.index_select(1, keep).contiguous(), weights.index_select(1, keep).contiguous()


def band_block(out_len: int, scale: float) -> int:
    """Output rows per block of a banded resize matrix: about 64 input pixels each (x2: 128 rows
    up, 32 down), so the dense blocks waste little work on zeros and stay large enough for a fast
    matrix product."""
    return max(8, min(out_len, int(round(64.0 * scale))))


def band_matrices(ind: torch.Tensor, w: torch.Tensor, in_len: int, block: int) -> Tuple[List[int], torch.Tensor]:
    """One axis's resize (indices and weights per output pixel) as row blocks of its banded matrix:
    block b maps input pixels starts[b] .. starts[b] + K - 1 to output rows b*block .. with
    mats[b] (block, K), float64; taps that mirror onto the same pixel are added together."""
    out_len = ind.shape[0]
    nb = (out_len + block - 1) // block
    lo = ind.min(1)[0]
    hi = ind.max(1)[0]
    k = 1
    for b in range(nb):
        j0, j1 = b * block, min((b + 1) * block, out_len)
        k = max(k, int(hi[j0:j1].max()) - int(lo[j0:j1].min()) + 1)
    k = min(k, in_len)
    starts: List[int] = []
    first = torch.zeros(out_len, dtype=torch.int64)
    for b in range(nb):
        j0, j1 = b * block, min((b + 1) * block, out_len)
        c0 = min(int(lo[j0:j1].min()), in_len - k)
        starts.append(c0)
        first[j0:j1] = c0
    flat = torch.arange(out_len, dtype=torch.int64)[:, None] * k + (ind.to(torch.int64) - first[:, None])
    mats = torch.zeros(nb * block * k, dtype=torch.float64)
    mats.scatter_add_(0, flat.reshape(-1), w.to(torch.float64).reshape(-1))
    return starts, mats.reshape(nb, block, k)


def mirror_index(n: int, before: int, after: int, device: torch.device) -> torch.Tensor:
    """Indices padding an axis of length n symmetrically (edge pixel repeated, as MATLAB/scipy)."""
    idx = torch.remainder(torch.arange(-before, n + after, device=device), 2 * n)
    return torch.where(idx >= n, 2 * n - 1 - idx, idx)


def sample_index(n: int, sf: float, out_len: int, device: torch.device) -> torch.Tensor:
    """round(numpy.linspace(0, n - sf, out_len)), clipped: the pixels a kernel downscale keeps."""
    delta = float(n) - sf
    y = torch.arange(out_len, dtype=torch.float64)
    div = out_len - 1
    if div > 0:
        step = delta / div
        if step == 0:
            y = y / div * delta
        else:
            y = y * step
    else:
        y = y * delta
    y = y + 0.0
    if out_len > 1:
        y[-1] = delta
    return torch.clamp(torch.round(y).to(torch.int64), 0, n - 1).to(device)


def median(stack: torch.Tensor) -> torch.Tensor:
    """Pixel-wise median over dim 0, averaging the middle pair for even counts (as numpy)."""
    n = stack.shape[0]
    out = torch.empty_like(stack[0])
    rows = stack.shape[-2]
    step = max(1, (1 << 22) // max(stack[0].numel() // rows, 1))   # sort in row blocks: bounded memory
    for r0 in range(0, rows, step):
        m = min(step, rows - r0)
        s = torch.sort(stack.narrow(-2, r0, m), dim=0)[0]
        out.narrow(-2, r0, m).copy_(s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2]))
    return out


class ZSSRInference(nn.Module):
    """A trained ZSSR network's whole inference on a normalised tensor (N, C, H, W) -> (N, C, sH, sW).

    Built from plain numbers (the bioimage.io kwargs): channels, factors, the net's size, the
    downscaling kernel's shape (0, 0 = bicubic), ensemble, back-projection iterations, clip, tile;
    `use` puts a trained network (and its layout and precision) in place of the fresh one.
    The weights are `net.*` and the shifted kernel `bp_kernel` (float64) in the state dict.
    """

    def __init__(self, channels: int, sf_y: float, sf_x: float, depth: int = 8, width: int = 64,
                 kernel_shape: Sequence[int] = (0, 0), ensemble: bool = True, bp_iters: int = 10,
                 clip: Optional[Sequence[float]] = None, tile: int = 0):
        super().__init__()
        self.channels = int(channels)
        self.sf_y, self.sf_x = float(sf_y), float(sf_x)
        self.net = ZSSRNet(int(channels), int(depth), int(width))
        self.halo = int(self.net.halo)
        kh, kw = int(kernel_shape[0]), int(kernel_shape[1])
        self.has_kernel = kh > 0 and kw > 0
        self.register_buffer("bp_kernel", torch.zeros((max(kh, 0), max(kw, 0)), dtype=torch.float64))
        self.ensemble = bool(ensemble)
        self.passes = 0                  # with the ensemble: the first this many transforms (0: all)
        self.bp_iters = int(bp_iters)
        self.has_clip = clip is not None
        self.clip_lo = float(clip[0]) if clip is not None else 0.0
        self.clip_hi = float(clip[1]) if clip is not None else 1.0
        self.tile = int(tile or 0)
        self.channels_last = True
        self.precision = "fp32"
        self.has_hooks = False
        self._hooks = None

    def use(self, net: ZSSRNet, channels_last: bool = True, precision: str = "fp32") -> "ZSSRInference":
        """Run `net` (a trained network, shared, not copied) in this layout and precision."""
        self.net = net
        self.halo = int(net.halo)
        self.bp_kernel = self.bp_kernel.to(next(net.parameters()).device)
        self.channels_last = bool(channels_last)
        self.precision = str(precision)
        return self

    # ---- eager-only hooks (the engine's); a scripted module never calls these ----
    def set_hooks(self, hooks) -> "ZSSRInference":
        self._hooks = hooks
        self.has_hooks = hooks is not None
        return self

    @torch.jit.unused
    def _hook_bands(self, in_len: int, out_len: int, scale: float,
                    antialias: bool) -> Tuple[List[int], torch.Tensor]:
        return self._hooks.bands(in_len, out_len, scale, antialias)

    @torch.jit.unused
    def _hook_out_len(self, n: int, s: float) -> int:
        return self._hooks.out_len(n, s)

    @torch.jit.unused
    def _hook_plan(self, n: int, h: int, w: int, device: torch.device) -> Tuple[int, int]:
        return self._hooks.plan(self.net, n, h, w, device)

    @torch.jit.unused
    def _hook_cancel(self) -> None:
        self._hooks.check_cancel()

    @torch.jit.unused
    def _hook_net(self, t: torch.Tensor) -> torch.Tensor:
        return self._hooks.forward(self.net, t, self.precision)

    def _check_cancel(self) -> None:
        if self.has_hooks and not torch.jit.is_scripting():
            self._hook_cancel()

    def _out_len(self, n: int, s: float) -> int:
        if self.has_hooks and not torch.jit.is_scripting():
            return self._hook_out_len(n, s)
        return round_up_size(n, s)

    # ---- resizing (engine/resize.py and engine/kernels.py, in torch) ----
    def _resize_axis(self, x: torch.Tensor, dim: int, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
        in_len = x.shape[dim]
        if in_len == out_len and scale == 1:
            return x
        if self.has_hooks and not torch.jit.is_scripting():
            starts, mats = self._hook_bands(in_len, out_len, scale, antialias)
        else:
            ind, w = cubic_contributions(in_len, out_len, scale, antialias)
            starts, mats = band_matrices(ind, w, in_len, band_block(out_len, scale))
        mats = mats.to(device=x.device, dtype=x.dtype)
        block, k = mats.shape[1], mats.shape[2]
        # a matrix product per block of output rows (a gather of out_len x taps and a weighted sum
        # cost ~45 % of an ensemble run on a CPU; these products cost a few %)
        pieces: List[torch.Tensor] = []
        for b, c0 in enumerate(starts):
            n = min(block, out_len - b * block)
            if dim == 3:
                pieces.append(torch.matmul(x.narrow(3, c0, k), mats[b, :n].t()))
            else:
                pieces.append(torch.matmul(mats[b, :n], x.narrow(2, c0, k)))
        return torch.cat(pieces, dim)

    def imresize(self, x: torch.Tensor, scale: Tuple[float, float], out_shape: Tuple[int, int],
                 antialias: bool = True) -> torch.Tensor:
        """MATLAB imresize (cubic) of the last two axes of a 4-D tensor, smallest factor first."""
        order = [0, 1] if scale[0] <= scale[1] else [1, 0]   # numpy's stable argsort of two
        out = x
        for ax in order:
            s = scale[0] if ax == 0 else scale[1]
            n = out_shape[0] if ax == 0 else out_shape[1]
            out = self._resize_axis(out, 2 + ax, n, s, antialias)
        return out

    def downscale(self, x: torch.Tensor, out_shape: Tuple[int, int]) -> torch.Tensor:
        """Downscale by 1/sf to out_shape with the model's kernel (MATLAB bicubic when none)."""
        scale = (1.0 / self.sf_y, 1.0 / self.sf_x)
        if not self.has_kernel:
            return self.imresize(x, scale, out_shape)
        kh, kw = self.bp_kernel.shape[0], self.bp_kernel.shape[1]
        n, c, h, w = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
        xi = x.reshape(-1, 1, h, w)
        xi = xi.index_select(2, mirror_index(h, kh // 2, kh - 1 - kh // 2, x.device))
        xi = xi.index_select(3, mirror_index(w, kw // 2, kw - 1 - kw // 2, x.device))
        wt = self.bp_kernel.to(device=x.device, dtype=x.dtype)[None, None]
        y = torch.nn.functional.conv2d(xi, wt).reshape(n, c, h, w)
        rows = sample_index(h, 1.0 / scale[0], out_shape[0], x.device)
        cols = sample_index(w, 1.0 / scale[1], out_shape[1], x.device)
        return y.index_select(-2, rows).index_select(-1, cols)

    def back_project(self, sr: torch.Tensor, lr: torch.Tensor, iters: int) -> torch.Tensor:
        """sr += cubic_up(lr - down(sr)), repeated: the result, downscaled, reproduces the input."""
        lr_shape = (lr.shape[-2], lr.shape[-1])
        sr_shape = (sr.shape[-2], sr.shape[-1])
        for _ in range(iters):
            down = self.downscale(sr, lr_shape)
            sr = sr + self.imresize(lr - down, (self.sf_y, self.sf_x), sr_shape)
            if self.has_clip:
                sr = sr.clamp(self.clip_lo, self.clip_hi)
        return sr

    # ---- the network, in tiles overlapping by its receptive field ----
    def _fwd(self, t: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        else:
            t = t.contiguous()
        if self.has_hooks and not torch.jit.is_scripting():
            return self._hook_net(t)
        return self.net(t).float()

    def run_net(self, x: torch.Tensor, tile: int) -> torch.Tensor:
        """net(x), in overlapping tiles when x is larger than `tile` (0: one pass, or the engine's
        plan: tiles and images per call that keep a CPU's activations in cache, or a GPU's within
        memory); each kept pixel sees exactly what one whole pass would show it."""
        n, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        items = n
        if tile <= 0:
            if self.has_hooks and not torch.jit.is_scripting():
                tile, items = self._hook_plan(n, h, w, x.device)
            else:
                tile = max(h, w)
        if h <= tile and w <= tile and items >= n:
            return self._fwd(x).contiguous()
        halo = self.halo
        out = torch.empty_like(x)
        for i0 in range(0, n, items):
            i1 = min(i0 + items, n)
            for y0 in range(0, h, tile):
                for x0 in range(0, w, tile):
                    self._check_cancel()
                    y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                    ya, xa = max(y0 - halo, 0), max(x0 - halo, 0)
                    yb, xb = min(y1 + halo, h), min(x1 + halo, w)
                    r = self._fwd(x[i0:i1, :, ya:yb, xa:xb])
                    out[i0:i1, :, y0:y1, x0:x1] = r[:, :, y0 - ya:y0 - ya + (y1 - y0), x0 - xa:x0 - xa + (x1 - x0)]
        return out

    def transforms(self) -> List[Tuple[int, bool]]:
        if not self.ensemble:
            return [(0, False)]
        ts = [(0, False), (2, False), (0, True), (2, True)]          # TRANSFORMS_AXIS_KEEPING
        if self.sf_y == self.sf_x:
            ts = ts + [(1, False), (3, False), (1, True), (3, True)]
        if self.passes > 0:
            ts = ts[:self.passes]
        return ts

    def super_resolve(self, lr: torch.Tensor, tile: int) -> torch.Tensor:
        """Geometric self-ensemble (transforms batched by output shape), back-projection of each
        member, pixel-wise median, back-projection of the median: as the paper."""
        n = lr.shape[0]
        out_shape = (self._out_len(lr.shape[-2], self.sf_y), self._out_len(lr.shape[-1], self.sf_x))
        ts = self.transforms()
        results: List[torch.Tensor] = []
        for odd in [0, 1]:                      # the first transform keeps the axes: even group first
            members: List[Tuple[int, bool]] = []
            for t in ts:
                if t[0] % 2 == odd:
                    members.append(t)
            if len(members) == 0:
                continue
            self._check_cancel()
            sf_t = (self.sf_x, self.sf_y) if odd else (self.sf_y, self.sf_x)
            shape_t = (out_shape[1], out_shape[0]) if odd else out_shape
            # (the upscales are one temporary: freed once the network has run)
            outs = self.run_net(torch.cat([self.imresize(apply_t(lr, m[0], m[1]), sf_t, shape_t) for m in members]),
                                tile)
            for i, m in enumerate(members):
                results.append(invert_t(outs[i * n:(i + 1) * n], m[0], m[1]))
        self._check_cancel()
        if len(results) == 1:
            return self.back_project(results[0], lr, self.bp_iters) if self.bp_iters > 0 else results[0]
        members = torch.cat(results)            # members back-projected in batches (fewer, larger products)
        results.clear()
        if self.bp_iters > 0:
            k = n * max(1, (1 << 24) // max(n * members[0].numel(), 1))      # ~64 MB of members per batch
            done: List[torch.Tensor] = []
            for i0 in range(0, members.shape[0], k):
                part = members[i0:i0 + k]
                done.append(self.back_project(part, lr.repeat(part.shape[0] // n, 1, 1, 1), self.bp_iters))
            members = torch.cat(done)
        out = median(members.reshape([members.shape[0] // n, n, members.shape[1], members.shape[2],
                                      members.shape[3]]))
        if self.bp_iters > 0:
            out = self.back_project(out, lr, self.bp_iters)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W), normalised as in training -> (N, C, ceil(H * sf_y), ceil(W * sf_x))."""
        with torch.no_grad():
            return self.super_resolve(x.float(), self.tile)


def fuse(a: torch.Tensor, b: torch.Tensor, how: str) -> torch.Tensor:
    """Fusion of the xz and yz passes of an axial run (nd/in_memory.fuse): "arithmetic" mean, or the
    geometric mean of values shifted to be positive (shift-invariant, no clipping of negatives)."""
    if how == "arithmetic":
        return 0.5 * (a + b)
    m = min(float(a.min()), float(b.min())) - 1e-3
    return torch.sqrt((a - m) * (b - m)) + m


class ZSSRPackaged(nn.Module):
    """The whole inference of a saved napari-zssr model, as a bioimage.io package runs it.

    mode "lateral": x (B, C, Y, X) -> (B, C, sY, sX), every batch item one plane.
    mode "axial": x (B, C, Z, Y, X) -> (B, C, sZ, Y, X), every batch item one volume: the network
    upscales its xz slices and its yz slices (in chunks of `chunk`, as the engine) along z, and the
    two results are fused.
    The channels are split into `groups` (one network each: channels one by one, or all jointly,
    or the samples of an RGB image); each entry of `groups` holds ZSSRInference's arguments
    (channels, sf_y, sf_x, depth, width, kernel_shape, ensemble, bp_iters, clip, tile).
    The input is normalised as the network was trained (the package's pre-processing).
    """

    def __init__(self, groups: List[dict], mode: str = "lateral", fusion: str = "geometric", chunk: int = 8):
        super().__init__()
        self.mode = str(mode)
        self.fusion = str(fusion)
        self.chunk = int(chunk)
        self.group_channels: List[int] = [int(g["channels"]) for g in groups]
        mods: List[ZSSRInference] = []
        for g in groups:
            kw = dict(g)
            layout = bool(kw.pop("channels_last", True))        # a layout, not part of the numbers
            m = ZSSRInference(**kw)
            m.channels_last = layout
            mods.append(m)
        self.nets = nn.ModuleList(mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            x = x.float()
            outs: List[torch.Tensor] = []
            c0 = 0
            for i, m in enumerate(self.nets):
                c1 = c0 + self.group_channels[i]
                part = x[:, c0:c1]
                if self.mode == "axial":
                    vols: List[torch.Tensor] = []
                    for b in range(part.shape[0]):
                        # xz slices (Y, C, Z, X) and yz slices (X, C, Z, Y), each back to (C, Z', Y, X)
                        both: List[torch.Tensor] = []
                        for perm in [[2, 0, 1, 3], [3, 0, 1, 2]]:
                            sl = part[b].permute(perm).contiguous()
                            res: List[torch.Tensor] = []
                            for k in range(0, sl.shape[0], self.chunk):
                                res.append(m.super_resolve(sl[k:k + self.chunk], m.tile))
                            r = torch.cat(res)
                            both.append(r.permute(1, 2, 0, 3) if perm[0] == 2 else r.permute(1, 2, 3, 0))
                        vols.append(fuse(both[0], both[1], self.fusion))
                    outs.append(torch.stack(vols))
                else:
                    res2: List[torch.Tensor] = []
                    for k in range(0, part.shape[0], self.chunk):
                        res2.append(m.super_resolve(part[k:k + self.chunk].contiguous(), m.tile))
                    outs.append(torch.cat(res2))
                c0 = c1
            return torch.cat(outs, 1)
