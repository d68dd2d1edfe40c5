"""Father/son training pairs drawn from the image itself, on the compute device.

A father is an augmented crop of a source (the input, a plane of a stack, or an earlier gradual
stage's output); its son is the father downscaled by the scale factor with the kernel (plus
optional noise), then cubic-upscaled back to exactly the father's shape: the network learns
son -> father.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .config import ZSSRConfig
from .kernels import aligned_length, downscale
from .noise import NoiseModel, local_signal, son_variance
from .resize import imresize


@dataclass
class Source:
    image: torch.Tensor      # (C, H, W) on the compute device
    scale: float             # its scale relative to the input (1 for the input and its planes)
    is_input: bool = True    # False for earlier gradual stages' outputs


def evenly_spaced(items: Sequence, n: int) -> list:
    """At most n of `items`, evenly spaced (a few planes of a stack stand for all of them)."""
    items = list(items)
    if len(items) <= n:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, n).round().astype(int)]


def central_crop(img: torch.Tensor, max_pixels: int) -> torch.Tensor:
    """(C, H, W) -> a central crop of at most about max_pixels (the whole image when smaller)."""
    h, w = img.shape[-2:]
    if h * w <= max_pixels:
        return img
    side = int(math.sqrt(max_pixels))
    ch, cw = min(h, side), min(w, max(side, max_pixels // max(min(h, side), 1)))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return img[:, y0:y0 + ch, x0:x0 + cw]


class ExampleSampler:
    def __init__(self, sources: Sequence[Source], sf: Tuple[float, float], kernel: Optional[np.ndarray],
                 cfg: ZSSRConfig, rng: np.random.Generator, allow_rotation: bool, max_scale: float = 1.0):
        self.sources = sorted(sources, key=lambda s: s.scale)
        self.base = [s for s in self.sources if s.is_input]
        self.sf = sf
        self.kernel = kernel
        self.cfg = cfg
        self.rng = rng
        self.allow_rotation = allow_rotation
        self.max_scale = max(max_scale, cfg.min_father_scale + 1e-3)
        noise = NoiseModel(cfg.noise_slope, cfg.noise_intercept)
        self.noise = noise if noise.slope or noise.intercept else None   # signal-dependent noise on sons
        self.set_crop(cfg.crop_size)
        self._free_size = False
        # sample base sources with probability proportional to their size, as the paper says
        areas = np.array([s.image.shape[-1] * s.image.shape[-2] for s in self.base], dtype=np.float64)
        self.base_p = areas / areas.sum()

    def set_crop(self, size: int) -> None:
        self.crop_size = size
        h = min(s.image.shape[-2] for s in self.base)
        w = min(s.image.shape[-1] for s in self.base)
        self.crop = (self._aligned(min(size, h)), self._aligned(min(size, w)))

    def _aligned(self, n: int) -> int:
        """A kernel's downscale samples a father at evenly spaced rows from its first to its last
        whole step: a father of 96 at x5 gave a son stretched by 96/95 (its grid 4.79 px apart), a
        pair the input never shows. So with a kernel, fathers are whole low-resolution pixels (95 at
        x5; 96 stays 96 at x2, x3, x4, x6, x8), on both axes, so that rotated crops stay square."""
        return aligned_length(n, max(self.sf)) if self.kernel is not None else n

    # ---- fathers ---------------------------------------------------------------------------
    def _pick_base(self) -> torch.Tensor:
        return self.base[self.rng.choice(len(self.base), p=self.base_p)].image

    def _crop_for(self, h: float, w: float) -> Tuple[int, int]:
        """The father's size: the common crop, or -- one father at a time -- up to crop_size when the
        (rescaled) source is bigger than the inputs (earlier stage outputs of a small image)."""
        if not self._free_size:
            return self.crop
        size = self.crop_size
        return (max(self.crop[0], self._aligned(min(size, int(h)))),
                max(self.crop[1], self._aligned(min(size, int(w)))))

    def _crop(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        ch, cw = self._crop_for(h, w)
        y = int(self.rng.integers(0, h - ch + 1))
        x = int(self.rng.integers(0, w - cw + 1))
        return img[:, y:y + ch, x:x + cw]

    def _draw_scale(self) -> Tuple[float, Source]:
        """As the original's augmentation: a scale uniform in [min_father_scale, max_scale), and the
        first source whose scale exceeds it (the input, then earlier stage outputs)."""
        scale = self.rng.uniform(self.cfg.min_father_scale, self.max_scale)
        cands = [s for s in self.sources if s.scale > scale]
        return scale, (cands[0] if cands else self.sources[-1])

    def _pick_by_scale(self) -> torch.Tensor:
        """The image for a 'no interpolation' father: the input, or an earlier stage's output."""
        _, src = self._draw_scale()
        if src.is_input:
            return self._pick_base()
        same = [s for s in self.sources if s.scale == src.scale]
        return same[int(self.rng.integers(0, len(same)))].image

    def _no_interp(self) -> torch.Tensor:
        src = self._pick_by_scale() if self.cfg.no_interp_from_pool else self._pick_base()
        f = self._crop(src)
        if self.allow_rotation:
            k = int(self.rng.integers(0, 4))
            if k % 2 and f.shape[-1] != f.shape[-2]:
                k = 2 * (k // 2)          # a non-square crop keeps its shape for batching
            f = torch.rot90(f, k, dims=(-2, -1))
        if self.rng.random() < 0.5:
            f = torch.flip(f, dims=(-1,))
        return f

    def _affine(self) -> torch.Tensor:
        cfg, rng = self.cfg, self.rng
        scale, src = self._draw_scale()
        same = [s for s in self.sources if s.scale == src.scale]
        img = same[int(rng.integers(0, len(same)))].image if len(same) > 1 else src.image
        rel = scale / src.scale
        diff = rng.normal(0, cfg.scale_diff_sigma)
        sx, sy = max(rel + diff / 2, 0.1), max(rel - diff / 2, 0.1)
        theta = rng.uniform(0, 2 * np.pi) if self.allow_rotation else 0.0
        shx, shy = rng.normal(0, cfg.shear_sigma, size=2) if self.allow_rotation else (0.0, 0.0)
        mirror = -1.0 if rng.random() < 0.5 else 1.0
        # output offsets -> source offsets: rotate(shear(stretch^-1(mirror(o))))
        rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
        shear = np.array([[1.0, shx], [shy, 1.0]])
        m = rot @ shear @ np.diag([mirror / sx, 1.0 / sy])          # acts on (x, y)
        h, w = img.shape[-2:]
        ch, cw = self._crop_for(h * rel, w * rel)
        corners = np.array([[-cw / 2, -ch / 2], [cw / 2, -ch / 2], [-cw / 2, ch / 2], [cw / 2, ch / 2]]).T
        ext = np.abs(m @ corners).max(axis=1)                          # half extent in x, y
        cx = rng.uniform(ext[0], w - ext[0]) if w > 2 * ext[0] else w / 2
        cy = rng.uniform(ext[1], h - ext[1]) if h > 2 * ext[1] else h / 2
        # normalised sampling grid (align_corners=False: -1..1 spans pixel edges)
        theta_mat = torch.tensor([[m[0, 0] * cw / w, m[0, 1] * ch / w, 2 * cx / w - 1],
                                  [m[1, 0] * cw / h, m[1, 1] * ch / h, 2 * cy / h - 1]],
                                 dtype=img.dtype, device=img.device)
        grid = F.affine_grid(theta_mat[None], [1, img.shape[0], ch, cw], align_corners=False)
        out = F.grid_sample(img[None], grid, mode="bicubic", padding_mode="reflection", align_corners=False)
        return out[0]

    def father(self) -> torch.Tensor:
        r = self.rng.random()
        if r < self.cfg.prob_as_is:
            return self._crop(self._pick_base())
        if r < self.cfg.prob_as_is + self.cfg.prob_no_interp:
            return self._no_interp()
        return self._affine()

    # ---- pairs -----------------------------------------------------------------------------
    def batch(self, n: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """(network input, target), each (n, C, h, w)."""
        self._free_size = n == 1 and self.cfg.source_sized_crops
        fathers = torch.stack([self.father() for _ in range(n)])
        return make_son(fathers, self.sf, self.kernel, self.cfg.noise_std, self.cfg.clip, self.rng,
                        self.noise), fathers


def make_son(fathers: torch.Tensor, sf, kernel, noise_std: float = 0.0, clip=None,
             rng: Optional[np.random.Generator] = None, noise: Optional[NoiseModel] = None) -> torch.Tensor:
    """Downscale fathers by sf with the kernel, add noise (noise_std, plus the signal-dependent
    `noise` at each son's local level), cubic-upscale back to their exact shape."""
    shape = fathers.shape[-2:]
    son = downscale(fathers, (1.0 / sf[0], 1.0 / sf[1]), kernel=kernel)
    if noise_std > 0 or noise is not None:
        g = torch.Generator(device="cpu").manual_seed(int((rng or np.random.default_rng()).integers(2 ** 31)))
        # signal-dependent: the fathers' noise variance where each son pixel comes from
        std = noise_std if noise is None else torch.sqrt(
            noise_std ** 2 + son_variance(noise.variance(local_signal(fathers)), sf, kernel))
        son = son + std * torch.randn(son.shape, generator=g).to(son.device, son.dtype)
    if clip is not None:
        son = son.clamp(*clip)
    return imresize(son, sf, output_shape=tuple(shape))
