"""One ZSSR run end to end: gradual stages of training, then inference on the input.

`train` learns a network from one or more 2-D sources (C, H, W) -- one image, or the planes of a
stack pooled into one training set; `apply` upscales an image with a trained network;
`super_resolve` does both for one 2-D (or 2-D + channels) numpy image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from .config import ZSSRConfig
from .device import pick_device, resolve_precision, set_threads
from .examples import Source, central_crop, evenly_spaced
from .infer import InferenceOptions, super_resolve_tensor
from .kernels import is_symmetric, resolve_kernel
from .network import ZSSRNet
from .prior import INITS, prior_network
from .progress import CancelFlag, ProgressCallback, ProgressEvent, check_cancel
from .training import StageReport, StageSpec, train_stage

MAX_FACTOR = 16.0
STEPS_PER_DOUBLING = 4          # "auto" gradual SR: x2 in 4 stages (x1.19 each), finer beyond...
MIN_STAGE_ITERS = 250            # ...each trained for at least this many iterations
PRIOR_STAGE_ITERS = 100          # from the prior, up to x2: stages this short still pay (x2: 4 of 150)
GRADUAL_FATHERS = 4              # planes of a stack whose stage outputs become fathers


def parse_scale(scale) -> Tuple[float, float]:
    """A factor or a (y, x) pair -> (sf_y, sf_x), each in [1, 16] and not both 1."""
    if np.isscalar(scale):
        sf = (float(scale), float(scale))
    else:
        vals = [float(s) for s in scale]
        if len(vals) != 2:
            raise ValueError(f"scale must be one factor or a (y, x) pair, got {scale!r}")
        sf = (vals[0], vals[1])
    if not all(math.isfinite(s) for s in sf):
        raise ValueError(f"scale factors must be finite, got {sf}")
    if min(sf) < 1 or max(sf) <= 1:
        raise ValueError(f"scale factors must be >= 1 with at least one > 1 (this is upscaling), got {sf}")
    if max(sf) > MAX_FACTOR:
        raise ValueError(f"scale factor {max(sf):g} is too large; at most {MAX_FACTOR:g} is supported")
    return sf


def stage_factors(sf: Tuple[float, float], n_steps: int) -> List[Tuple[float, float]]:
    """Gradual SR: n geometric steps towards sf (1 = one jump)."""
    n = max(int(n_steps), 1)
    return [tuple(float(s ** (k / n)) for s in sf) for k in range(1, n + 1)]


def beyond_x2(cfg: ZSSRConfig, sf: Tuple[float, float]) -> bool:
    """A gradual run past x2 (both axes upscaled): it gets a larger budget and larger crops."""
    return cfg.n_steps != 1 and min(sf) > 1 and max(sf) > 2


def run_budget(cfg: ZSSRConfig, sf: Tuple[float, float]) -> int:
    """Training iterations of the whole run: `max_iters`; a gradual run past x2 gets
    budget_growth ** (doublings - 1) times that, at most budget_growth times (default 3: x3 1.9x,
    x4 and beyond 3x), so that x8 or x16 stays a run of minutes, not hours."""
    if beyond_x2(cfg, sf):
        growth = min(cfg.budget_growth ** (math.log2(max(sf)) - 1), cfg.budget_growth)
        return int(round(cfg.max_iters * growth))
    return int(cfg.max_iters)


def run_crop(cfg: ZSSRConfig, sf: Tuple[float, float]) -> int:
    """Training crop edge: past x2 at least `crop_size_beyond_x2`, so that a son keeps ~32 pixels."""
    return max(cfg.crop_size, cfg.crop_size_beyond_x2) if beyond_x2(cfg, sf) else cfg.crop_size


def resolve_steps(n_steps: int, sf: Tuple[float, float], budget: int, min_stage_to_x2: int = MIN_STAGE_ITERS) -> int:
    """Number of gradual stages; 0 means auto: up to x2, 4 steps per doubling (at most x1.19 each)
    of at least `min_stage_to_x2` iterations; past x2, as many as the budget allows at
    MIN_STAGE_ITERS each (x4: 24 steps of x1.06).
    A factor along one axis only stays one jump: its stage outputs are no valid fathers, so
    splitting would only shorten training."""
    if n_steps >= 1:
        return int(n_steps)
    if min(sf) <= 1:
        return 1
    if max(sf) > 2:
        return max(1, budget // MIN_STAGE_ITERS)
    return max(1, min(math.ceil(STEPS_PER_DOUBLING * math.log2(max(sf)) - 1e-9), budget // min_stage_to_x2))


def split_iters(total: int, n: int) -> List[int]:
    """`max_iters` is the budget of the whole run: n stages share it (the first ones get the remainder)."""
    base, extra = divmod(int(total), n)
    return [max(1, base + (1 if i < extra else 0)) for i in range(n)]


def check_image(c_h_w_shape: Sequence[int], sf) -> None:
    h, w = c_h_w_shape[-2:]
    if h * w == 0:
        raise ValueError("the image is empty")
    # a son (the image downscaled by sf) must keep at least 2 pixels per axis, and at least 4 overall
    need = [max(4, int(math.ceil(2 * s))) for s in sf]
    if h < need[0] or w < need[1]:
        raise ValueError(f"the image ({h}x{w}) is too small to learn from at x{sf[0]:g},{sf[1]:g}; "
                         f"it needs at least {need[0]}x{need[1]} pixels")


@dataclass
class TrainedModel:
    net: ZSSRNet
    sf: Tuple[float, float]
    channels: int
    kernel: Optional[np.ndarray]
    config: ZSSRConfig
    device: torch.device
    precision: str
    reports: List[StageReport] = field(default_factory=list)
    init: str = "random"            # where training started: "prior", "random" or "model" (warm start)
    notices: List[str] = field(default_factory=list)

    @property
    def rec_error(self) -> Optional[float]:
        return self.reports[-1].rec_error if self.reports else None

    @property
    def cubic_rec_error(self) -> Optional[float]:
        return self.reports[-1].cubic_rec_error if self.reports else None

    @property
    def iterations(self) -> int:
        return sum(r.iterations for r in self.reports)


def _as_tensor(x, device) -> torch.Tensor:
    t = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32)) if isinstance(x, np.ndarray) else x.float()
    return t.to(device)


def new_net(channels: int, cfg: ZSSRConfig, device: torch.device) -> ZSSRNet:
    # the memory layout is train_stage's to set (device.train_channels_last); inference converts
    # its inputs to channels-last (or, on a CPU in fp32, runs a frozen oneDNN graph: engine/infer.py)
    return ZSSRNet(channels, cfg.depth, cfg.width, cfg.init_std_factor, seed=cfg.seed).to(device)


def train(sources: Sequence, scale, config: Optional[ZSSRConfig] = None, *, kernel=None,
          progress: Optional[ProgressCallback] = None, cancel: CancelFlag = None,
          init: Optional[TrainedModel] = None) -> TrainedModel:
    """Train one network on examples pooled from `sources` (each (C, H, W), same C)."""
    cfg = config or ZSSRConfig()
    sf = parse_scale(scale)
    device = pick_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    set_threads(cfg.num_threads)
    rng = np.random.default_rng(cfg.seed)
    k = resolve_kernel(kernel)
    allow_rotation = cfg.allow_rotation if cfg.allow_rotation is not None else is_symmetric(k)
    base = [_as_tensor(s, device) for s in sources]
    if not base:
        raise ValueError("nothing to train on")
    channels = base[0].shape[0]
    for b in base:
        check_image(b.shape, sf)
    if cfg.init not in INITS:
        raise ValueError(f"unknown init {cfg.init!r}; choose from {', '.join(INITS)}")
    started, notices = "random", []
    if init is not None:
        if init.channels != channels:
            raise ValueError(f"the model has {init.channels} channel(s); the data has {channels}")
        net, started = init.net.to(device), "model"
    else:
        one_axis = min(sf) <= 1.0
        if cfg.init == "auto" and len(base) > 1 and not one_axis:
            # a lateral stack: one network shared by its planes learns more in a full run from
            # random weights than from the prior, and as much on a narrower network
            cfg = cfg.replace(width=min(cfg.width, cfg.stack_width))
        net = new_net(channels, cfg, device)
        # "auto": the prior where it measured no worse than from scratch: one plane, and axial
        # runs (the noise-aware axial prior; priors/MODEL_CARD.md)
        if cfg.init == "prior" or (cfg.init == "auto" and (len(base) == 1 or one_axis)):
            learned, notice = prior_network(channels, sf, k, cfg.init_std_factor, cfg.seed)
            if learned is not None:
                # a learned start needs only a short adaptation to this image, on the prior's network
                net = learned.to(device)
                cfg = cfg.from_prior(one_axis).replace(depth=learned.depth, width=learned.width)
                started = "prior"
            elif cfg.init == "prior":      # asked for: say why not; "auto" falls back quietly
                notices.append(notice)
                if progress is not None:
                    progress(ProgressEvent(stage="notice", message=notice))
    pool = [Source(b, 1.0) for b in base]
    budget = run_budget(cfg, sf)
    cfg = cfg.replace(crop_size=run_crop(cfg, sf))
    stages = stage_factors(sf, resolve_steps(cfg.n_steps, sf, budget,
                                             PRIOR_STAGE_ITERS if started == "prior" else MIN_STAGE_ITERS))
    iters = split_iters(budget, len(stages))
    model = TrainedModel(net, sf, channels, k, cfg, device, precision, init=started, notices=notices)
    # stage outputs cost an inference each: a few planes of a stack, and a central crop of a big
    # image, are fathers enough (crops of crop_size are all the sampler takes from them)
    fathers = evenly_spaced(base, GRADUAL_FATHERS)
    for i, sf_k in enumerate(stages):
        name = "train" if len(stages) == 1 else f"train {i + 1}/{len(stages)}"
        max_scale = min(stages[i - 1]) if i else 1.0
        stage = StageSpec(sf_k, k, allow_rotation, max_scale, name)
        rep = train_stage(net, pool, stage, cfg.replace(max_iters=iters[i]), rng, device, precision,
                          _whole_run(progress, sum(iters[:i]), sum(iters)), cancel)
        model.reports.append(rep)
        if i < len(stages) - 1 and min(sf_k) > 1:
            # this stage's outputs become father sources for the next (they teach larger scales);
            # an output upscaled along one axis only is no valid father at any uniform scale
            # at most gradual_father_pixels output pixels each: x4's 23 stage outputs stay cheap
            crop_px = max(int(cfg.gradual_father_pixels / (sf_k[0] * sf_k[1])), 32 * 32)
            for b in fathers:
                opts = inference_options(cfg, ensemble=cfg.ensemble and cfg.gradual_ensemble)
                out = super_resolve_tensor(net, central_crop(b, crop_px), sf_k, k, precision, opts, cancel=cancel)
                pool.append(Source(out, min(sf_k), is_input=False))
    return model


def inference_options(cfg: ZSSRConfig, **changes) -> InferenceOptions:
    """The run's settings for applying its network (keyword changes win)."""
    return InferenceOptions(**{"ensemble": cfg.ensemble, "bp_iters": cfg.back_projection_iters, "clip": cfg.clip,
                               "tile": cfg.tile, "channels_last": cfg.channels_last, **changes})


def _whole_run(progress: Optional[ProgressCallback], offset: int, total: int) -> Optional[ProgressCallback]:
    """Count iterations over all gradual stages, so a progress bar runs once from 0 to the end."""
    if progress is None:
        return None

    def report(ev: ProgressEvent) -> None:
        ev.iteration, ev.total = ev.iteration + offset, total
        progress(ev)
    return report


def apply(model: TrainedModel, image, *, cancel: CancelFlag = None,
          progress: Optional[ProgressCallback] = None, config: Optional[ZSSRConfig] = None) -> torch.Tensor:
    """Upscale one (C, H, W) image, or a batch (N, C, H, W), with a trained network."""
    cfg = config or model.config
    x = _as_tensor(image, model.device)
    if x.shape[-3] != model.channels:
        raise ValueError(f"the model has {model.channels} channel(s); the image has {x.shape[-3]}")
    check_cancel(cancel)
    if progress:
        progress(ProgressEvent(stage="infer", message="inference"))
    return super_resolve_tensor(model.net, x, model.sf, model.kernel, model.precision, inference_options(cfg),
                                cancel=cancel)


def super_resolve(image: np.ndarray, scale, config: Optional[ZSSRConfig] = None, *, kernel=None,
                  progress: Optional[ProgressCallback] = None, cancel: CancelFlag = None) -> np.ndarray:
    """ZSSR of a 2-D image (H, W) or channels-last (H, W, C); float in, float32 out.

    Intensities are expected roughly in [0, 1] (as the paper's); raw microscopy data of any dtype
    goes through `napari_zssr.nd.super_resolve_nd`, which normalises and restores them.
    """
    arr = np.asarray(image)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"unsupported dtype {arr.dtype}; expected real numbers")
    if arr.ndim not in (2, 3):
        raise ValueError(f"expected a 2-D image (H, W) or (H, W, C), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("the image contains NaN or Inf values")
    chw = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)
    model = train([chw], scale, config, kernel=kernel, progress=progress, cancel=cancel)
    out = apply(model, chw, cancel=cancel, progress=progress).cpu().numpy()
    if progress:
        progress(ProgressEvent(stage="done", fraction=1.0))
    return out[0] if arr.ndim == 2 else np.moveaxis(out, 0, -1)
