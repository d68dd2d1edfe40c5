"""The training loop of one gradual stage: L1 loss, Adam, and one of two learning-rate schedules.

Every `test_every` iterations the reconstruction error (MSE between the input and the network's
reconstruction of it from its own downscaled copy) is measured.
- "cosine" (default): warm-up, then a cosine decay over exactly `max_iters`; the errors are only
  reported and watched by the divergence guard.
- "plateau" (the paper's rule): every `lr_policy_every` iterations a line fitted to the last errors
  decides whether to divide the learning rate by 10; training stops below `min_learning_rate` or
  at `max_iters`.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from .config import ZSSRConfig
from .device import autocast, train_channels_last
from .examples import ExampleSampler, Source, central_crop, evenly_spaced, make_son
from .network import ZSSRNet
from .progress import CancelFlag, ProgressCallback, ProgressEvent, check_cancel


@dataclass
class StageReport:
    sf: Tuple[float, float]
    iterations: int = 0
    seconds: float = 0.0
    final_lr: float = 0.0
    rec_errors: List[Tuple[int, float]] = field(default_factory=list)
    cubic_rec_error: Optional[float] = None   # same test with the network switched off
    recoveries: int = 0                        # times training diverged and was rolled back

    @property
    def rec_error(self) -> Optional[float]:
        return self.rec_errors[-1][1] if self.rec_errors else None


def slope_and_std(x: Sequence[float], y: Sequence[float], mode: str) -> Tuple[float, float]:
    """Least-squares slope and its standard error.

    mode "2018": numpy.polyfit(cov=True) as the original ran it (residuals / (N - 4));
    mode "unbiased": residuals / (N - 2), the textbook (and today's polyfit scales by N - 2 too).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    a = np.stack([x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = float(np.sum((y - a @ coef) ** 2))
    dof = len(x) - 4 if mode == "2018" else len(x) - 2
    cov = np.linalg.inv(a.T @ a) * resid / max(dof, 1)
    return float(coef[0]), float(math.sqrt(max(cov[0, 0], 0.0)))


class TestSet:
    """Downscaled copies of (a central crop of) the sources and their cubic upscales, made once."""

    def __init__(self, sources: Sequence[torch.Tensor], sf, kernel, cfg: ZSSRConfig):
        self.pairs = []
        chosen = evenly_spaced(sources, 4)                 # a few planes of a stack
        per = cfg.test_max_pixels // len(chosen)
        for img in chosen:
            img = central_crop(img, per)                    # keeps the test cheap on big images
            son = make_son(img[None], sf, kernel, clip=cfg.clip)
            self.pairs.append((son, img[None]))

    @torch.no_grad()
    def error(self, net: Optional[ZSSRNet], device, precision) -> float:
        """MSE of the reconstruction; sets `dead` when the net added nothing to the cubic input."""
        errs = []
        self.dead = net is not None
        for son, target in self.pairs:
            if net is None:
                out = son
            else:
                with autocast(device, precision):
                    out = net(son).float()
                self.dead = self.dead and bool(torch.equal(out, son))
            errs.append(torch.mean((out - target) ** 2).item())
        return float(np.mean(errs))


def cosine_lr(cfg: ZSSRConfig, it: int) -> float:
    """The default schedule: linear warm-up, then a cosine decay to min_learning_rate at max_iters."""
    lr = cfg.min_learning_rate + 0.5 * (cfg.learning_rate - cfg.min_learning_rate) * (
        1 + math.cos(math.pi * it / cfg.max_iters))
    # warm-up: large early Adam steps on the fresh net are what can kill its ReLUs (see the guard)
    return lr * min(1.0, (it + 1) / cfg.warmup_iters) if cfg.warmup_iters else lr


class DivergenceGuard:
    """Rolls training back to its best state when it blows up or dies.

    Adam on one image can jump out of a good basin, or push every ReLU dead so that the residual
    net adds exactly nothing and its output stays cubic for good (on Set5 butterfly x2 at lr 2e-3,
    even with warm-up). A test error `ratio` times the best so far, a non-finite one, or a dead
    net restores the best network and optimiser state and halves the learning rate from then on.
    """

    def __init__(self, net: ZSSRNet, opt: torch.optim.Optimizer, ratio: float):
        self.net, self.opt, self.ratio = net, opt, ratio
        self.best = math.inf
        self.state = None
        self.lr_scale = 1.0

    def _snapshot(self):
        return ({k: v.detach().clone() for k, v in self.net.state_dict().items()},
                copy.deepcopy(self.opt.state_dict()))

    def check(self, err: float, dead: bool = False) -> bool:
        """True when training was rolled back."""
        if not dead and math.isfinite(err) and err < self.best:
            self.best = err
            self.state = self._snapshot()
            return False
        if self.state is None or (not dead and math.isfinite(err) and err <= self.ratio * self.best):
            return False
        self.net.load_state_dict(self.state[0])
        self.opt.load_state_dict(self.state[1])
        self.lr_scale *= 0.5
        return True


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def train_step(net: ZSSRNet, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               device: torch.device, precision: str) -> torch.Tensor:
    """One Adam step on the L1 loss between the net's output for the sons x and the fathers y."""
    with autocast(device, precision):
        out = net(x)
    loss = torch.mean(torch.abs(out.float() - y))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


@dataclass
class StageSpec:
    """What one gradual stage learns: its factors, the downscaling kernel (None: bicubic), whether
    examples may be rotated, the largest scale of the fathers from earlier stages, its name."""
    sf: Tuple[float, float]
    kernel: Optional[np.ndarray] = None
    allow_rotation: bool = True
    max_scale: float = 1.0
    name: str = "train"


def train_stage(net: ZSSRNet, sources: Sequence[Source], stage: StageSpec, cfg: ZSSRConfig,
                rng: np.random.Generator, device: torch.device, precision: str,
                progress: Optional[ProgressCallback] = None, cancel: CancelFlag = None) -> StageReport:
    sf, kernel, stage_name = stage.sf, stage.kernel, stage.name
    report = StageReport(sf=tuple(sf))
    sampler = ExampleSampler(sources, sf, kernel, cfg, rng, stage.allow_rotation, stage.max_scale)
    tests = TestSet([s.image for s in sources if s.is_input], sf, kernel, cfg)
    report.cubic_rec_error = tests.error(None, device, precision)
    # the layout training runs fastest in (weights too: one channels-last operand makes oneDNN
    # pick channels-last); inference converts its inputs to cfg.channels_last itself
    mem = torch.channels_last if train_channels_last(device, precision, cfg.channels_last) else torch.contiguous_format
    net.to(memory_format=mem)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    guard = DivergenceGuard(net, opt, cfg.divergence_ratio) if cfg.divergence_ratio else None
    lr = cfg.learning_rate
    last_drop = 0
    t0 = time.perf_counter()
    loss_val = float("nan")
    it = 0
    net.train()
    small_until = int(cfg.small_crop_fraction * cfg.max_iters)   # half-size crops before this iteration
    if small_until:
        sampler.set_crop(cfg.crop_size // 2)
    for it in range(cfg.max_iters):
        check_cancel(cancel)
        if cfg.lr_schedule == "cosine":
            lr = cosine_lr(cfg, it) * (guard.lr_scale if guard else 1.0)
            _set_lr(opt, lr)
        if small_until and it == small_until:
            sampler.set_crop(cfg.crop_size)
        x, y = sampler.batch(cfg.batch_size)
        x = x.contiguous(memory_format=mem)
        loss = train_step(net, opt, x, y, device, precision)

        test_now = it % cfg.test_every == 0
        if test_now:
            net.eval()
            err = tests.error(net, device, precision)
            report.rec_errors.append((it, err))
            if guard is not None and guard.check(err, tests.dead):
                report.recoveries += 1
                if cfg.lr_schedule == "plateau":
                    lr *= 0.5
                    _set_lr(opt, lr)
            net.train()
        if cfg.lr_schedule == "plateau":
            n_pts = cfg.lr_slope_range // cfg.test_every       # integer division, as the original meant
            if ((1 + it) % cfg.lr_policy_every == 0 and it - last_drop > cfg.min_iters_between_drops
                    and len(report.rec_errors) >= max(n_pts, 3)):
                xs, ys = zip(*report.rec_errors[-n_pts:])
                slope, std = slope_and_std(xs, ys, cfg.slope_std)
                if -cfg.lr_change_ratio * slope < std:
                    lr /= cfg.lr_drop_factor
                    last_drop = it
                    _set_lr(opt, lr)
            if lr < cfg.min_learning_rate:
                break
        if progress is not None and (test_now or it % 10 == 0):
            loss_val = float(loss.detach())
            progress(ProgressEvent(stage=stage_name, iteration=it, total=cfg.max_iters, loss=loss_val,
                                   lr=lr, rec_error=report.rec_error))
    report.iterations = it + 1
    report.seconds = time.perf_counter() - t0
    report.final_lr = lr
    net.eval()
    report.rec_errors.append((report.iterations, tests.error(net, device, precision)))
    return report
