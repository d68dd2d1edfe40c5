"""Split an N-D array into engine jobs (lateral planes or axial slices) and assemble the result."""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..engine.config import ZSSRConfig
from ..engine.kernels import fwhm_to_sigma, gaussian_kernel, resolve_kernel
from ..engine.progress import CancelFlag, ProgressCallback, ProgressEvent, check_cancel
from ..engine.zssr import TrainedModel, apply, parse_scale, train
from .axes import canonical_order, validate_axes
from .intensity import Normalizer, cast_output, check_values
from .models import load_for_run

MODES = ("lateral", "axial")
PLANES = ("shared", "per-plane", "warm-start")
CHANNELS = ("independent", "joint")
AXIAL_METHODS = ("isotropic", "zssr")
FUSIONS = ("geometric", "arithmetic")


@dataclass
class NDResult:
    data: np.ndarray
    axes: str
    pixel_sizes: Dict[str, float]
    factors: Dict[str, float]
    params: dict
    clipped: int = 0
    models: List[TrainedModel] = field(default_factory=list, repr=False)


def output_scale_translate(scale: Sequence[float], translate: Sequence[float], factors: Sequence[float]):
    """napari layer scale/translate of a result upscaled by `factors` per dim (1 = unchanged).

    Pixel centres of input and output coincide: scale d/s, translate t + (d/s - d)/2.
    """
    new_scale = [d / s for d, s in zip(scale, factors)]
    new_translate = [t + (d / s - d) / 2 for d, s, t in zip(scale, factors, translate)]
    return new_scale, new_translate


def _choice(name: str, value: str, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def lateral_factors(scale, pixel_sizes: Optional[dict]):
    """Explicit factors, or square pixels from unequal y/x sizes, or x2."""
    if scale is not None:
        return parse_scale(scale)
    ps = pixel_sizes or {}
    y, x = ps.get("y"), ps.get("x")
    if y and x and not math.isclose(y, x, rel_tol=1e-3):
        return parse_scale((y / x, 1.0) if y > x else (1.0, x / y))
    return parse_scale(2.0)


def axial_factor(scale, pixel_sizes: Optional[dict]) -> float:
    if scale is not None:
        f = float(scale if np.isscalar(scale) else scale[0])
    else:
        ps = pixel_sizes or {}
        xy = [ps[a] for a in "yx" if ps.get(a)]
        if not ps.get("z") or not xy:
            raise ValueError("axial mode needs a z factor, or z and xy pixel sizes to derive it from")
        f = ps["z"] / float(np.mean(xy))
    if not math.isfinite(f) or f <= 1:
        raise ValueError(f"axial factor must be > 1 (z step coarser than xy); got {f:g}")
    return parse_scale((f, 1.0))[0]


def axial_kernel(factor: float, z_fwhm: Optional[float], unit: str, pixel_sizes: Optional[dict], kernel=None):
    """The slice profile along z in output (xy-pixel) units, as a (K, 1) kernel."""
    if kernel is not None and not (isinstance(kernel, str) and kernel in ("bicubic", "cubic", "gaussian")):
        return resolve_kernel(kernel)
    if isinstance(kernel, str) and kernel in ("bicubic", "cubic"):
        return None
    if z_fwhm is None:
        fwhm_px = factor                          # unknown profile: as wide as one z step
    elif unit == "steps":
        fwhm_px = float(z_fwhm) * factor
    elif unit == "um":
        xy = [(pixel_sizes or {}).get(a) for a in "yx"]
        xy = [v for v in xy if v]
        if not xy:
            raise ValueError("z FWHM in um needs the xy pixel size")
        fwhm_px = float(z_fwhm) / float(np.mean(xy))
    else:
        raise ValueError(f"z FWHM unit must be 'steps' or 'um', got {unit!r}")
    if not math.isfinite(fwhm_px) or fwhm_px <= 0 or fwhm_px > 64 * factor:
        raise ValueError(f"z FWHM of {fwhm_px:g} xy pixels is not plausible")
    return gaussian_kernel(fwhm_to_sigma(fwhm_px), 0.0)


class _Progress:
    """Turns engine events of job k of n into overall fraction and ETA."""

    def __init__(self, cb: Optional[ProgressCallback], n_jobs: int):
        self.cb, self.n, self.job, self.t0 = cb, max(n_jobs, 1), 0, time.perf_counter()

    def __call__(self, ev: ProgressEvent) -> None:
        if self.cb is None:
            return
        within = 0.85 * min(ev.iteration / ev.total, 1.0) if ev.stage.startswith("train") and ev.total else 0.9
        ev.job, ev.n_jobs = self.job, self.n
        ev.fraction = min((self.job + within) / self.n, 1.0)
        elapsed = time.perf_counter() - self.t0
        ev.eta_s = elapsed * (1 - ev.fraction) / ev.fraction if ev.fraction > 0.02 else None
        self.cb(ev)

    def next(self):
        self.job += 1


def _warm_iters(max_iters: int) -> int:
    """A warm-started net only adapts: a quarter of the iterations (at least 50, at most all)."""
    return min(max_iters, max(max_iters // 4, 50))


def _warm_config(cfg: ZSSRConfig, prev: TrainedModel) -> ZSSRConfig:
    """The run that continues from `prev`: a quarter of the iterations the first one trained
    (its schedule: from random weights or from the prior)."""
    return cfg.replace(max_iters=_warm_iters(prev.config.max_iters), learning_rate=prev.config.learning_rate,
                       warmup_iters=prev.config.warmup_iters)


def _apply_chunks(model: TrainedModel, batch: np.ndarray, cfg: ZSSRConfig, cancel, chunk: int = 8) -> np.ndarray:
    """Apply to (N, C, H, W) in chunks, keeping memory bounded."""
    outs = []
    for i in range(0, batch.shape[0], chunk):
        check_cancel(cancel)
        outs.append(apply(model, batch[i:i + chunk], cancel=cancel, config=cfg).cpu().numpy())
    return np.concatenate(outs)


def _train(sources, sf, cfg, kernel, prog, cancel, init=None) -> TrainedModel:
    return train(sources, sf, cfg, kernel=kernel, progress=prog, cancel=cancel, init=init)


def _lateral(vols: np.ndarray, sf, cfg: ZSSRConfig, kernel, planes: str, prog: _Progress, cancel,
             model: Optional[TrainedModel]):
    """vols: (P, C, H, W) normalised planes of one channel group -> (P, C, H', W')."""
    p = vols.shape[0]
    stack_cfg = cfg if p == 1 else cfg.replace(ensemble=cfg.ensemble and cfg.stack_ensemble)
    if model is not None:
        return _apply_chunks(model, vols, stack_cfg, cancel), [model]
    if planes == "shared" or p == 1:
        m = _train(list(vols), sf, cfg, kernel, prog, cancel)
        prog(ProgressEvent(stage="infer", message=f"inference on {p} plane(s)"))
        return _apply_chunks(m, vols, stack_cfg, cancel), [m]
    outs, models, prev = [], [], None
    for i in range(p):
        # warm start: later planes start from the previous net and need fewer iterations
        c = cfg if (planes == "per-plane" or prev is None) else _warm_config(cfg, prev)
        m = _train([vols[i]], sf, c, kernel, prog, cancel, init=prev if planes == "warm-start" else None)
        outs.append(apply(m, vols[i], cancel=cancel, config=c).cpu().numpy())
        models.append(m)
        prev = m
        prog.next()
    return np.stack(outs), models


def fuse(a: np.ndarray, b: np.ndarray, how: str) -> np.ndarray:
    if how == "arithmetic":
        return 0.5 * (a + b)
    # geometric mean of values shifted to be positive (shift-invariant, no clipping of negatives)
    m = min(float(a.min()), float(b.min())) - 1e-3
    return (np.sqrt((a - m) * (b - m)) + m).astype(np.float32)


def _axial(vol: np.ndarray, f: float, cfg: ZSSRConfig, kernel, method: str, fusion: str, prog: _Progress,
           cancel, model: Optional[TrainedModel] = None, init: Optional[TrainedModel] = None):
    """vol: (C, Z, Y, X) normalised -> (C, Z', Y, X); a given model is applied without training."""
    sf = (f, 1.0)
    xz = np.ascontiguousarray(np.moveaxis(vol, 2, 0))          # (Y, C, Z, X)
    yz = np.ascontiguousarray(np.moveaxis(vol, 3, 0))          # (X, C, Z, Y)
    if model is None:
        if method == "isotropic":
            # xy planes degraded along one lateral axis teach the net what z lost; xy is isotropic,
            # so rotated fathers are valid examples
            sources = [vol[:, z] for z in range(vol.shape[1])]
            c = cfg.replace(allow_rotation=True)
        else:
            # pure ZSSR on the slices themselves: z is the only degraded axis, no rotation
            sources = list(xz) + list(yz)
            c = cfg.replace(allow_rotation=False)
        model = _train(sources, sf, c, kernel, prog, cancel, init=init)
    prog(ProgressEvent(stage="infer", message="inference on xz and yz slices"))
    icfg = cfg.replace(ensemble=cfg.ensemble and cfg.stack_ensemble)    # slices are a stack
    out_xz = np.moveaxis(_apply_chunks(model, xz, icfg, cancel), 0, 2)    # (C, Z', Y, X)
    out_yz = np.moveaxis(_apply_chunks(model, yz, icfg, cancel), 0, 3)
    return fuse(out_xz, out_yz, fusion), model


def super_resolve_nd(data: np.ndarray, axes: str, *, mode: str = "lateral", scale=None,
                     pixel_sizes: Optional[dict] = None, config: Optional[ZSSRConfig] = None, kernel=None,
                     z_fwhm: Optional[float] = None, z_fwhm_unit: str = "steps", axial_method: str = "isotropic",
                     fusion: str = "geometric", planes: str = "shared", channels: str = "independent",
                     out_dtype: Optional[str] = None, tile: Optional[int] = None,
                     progress: Optional[ProgressCallback] = None, cancel: CancelFlag = None,
                     model=None) -> NDResult:
    """Super-resolve an N-D array (see the package docstring for the contract)."""
    data = np.asarray(data)
    check_values(data)
    axes = validate_axes(axes, data.ndim)
    _choice("mode", mode, MODES)
    _choice("planes", planes, PLANES)
    _choice("channels", channels, CHANNELS)
    _choice("axial_method", axial_method, AXIAL_METHODS)
    _choice("fusion", fusion, FUSIONS)
    if out_dtype not in (None, "float32", "input"):
        raise ValueError(f"out_dtype must be None, 'float32' or 'input'; got {out_dtype!r}")
    cfg = (config or ZSSRConfig())
    if tile is not None:
        cfg = cfg.replace(tile=int(tile))
    pixel_sizes = {k.lower(): float(v) for k, v in (pixel_sizes or {}).items() if v}

    order = canonical_order(axes)
    work = np.transpose(data, [axes.index(a) for a in order])
    sizes = dict(zip(order, work.shape))
    if sizes["Y"] < 2 or sizes["X"] < 2:
        raise ValueError(f"the image is {sizes['Y']}x{sizes['X']} pixels; too small to super-resolve")

    if mode == "axial":
        if "Z" not in order:
            raise ValueError("axial mode needs a Z axis")
        f = axial_factor(scale, pixel_sizes)
        factors = {"Z": f}
        akernel = axial_kernel(f, z_fwhm, z_fwhm_unit, pixel_sizes, kernel)
        if sizes["Z"] < 4:
            raise ValueError(f"the volume has {sizes['Z']} z planes; axial mode needs at least 4")
    else:
        sf = lateral_factors(scale, pixel_sizes)
        factors = {"Y": sf[0], "X": sf[1]}

    # bring to (T, Z, C, Y, X, S) with singleton axes, then group channels
    full = work
    for a in "TZCYXS":
        if a not in order:
            full = np.expand_dims(full, "TZCYXS".index(a))
    t_n, z_n, c_n = full.shape[:3]
    joint_c = channels == "joint"
    groups = [slice(None)] if joint_c else [slice(c, c + 1) for c in range(c_n)]

    given = _given_models(model, mode, factors, groups, full, sizes, cfg)
    per_plane = mode == "lateral" and planes != "shared" and model is None and t_n * z_n > 1
    n_jobs = len(groups) * (t_n if mode == "axial" else (t_n * z_n if per_plane else 1))
    prog = _Progress(progress, n_jobs)
    outs, models = [], []
    norms = [Normalizer.fit(full[:, :, g]) for g in groups]     # every error before any work
    for gi, g in enumerate(groups):
        block = full[:, :, g]                                   # (T, Z, Cg, Y, X, S)
        norm = norms[gi]
        gcfg = cfg.replace(clip=norm.valid_range())
        nb = norm.forward(block)
        # engine channels: Cg * S (RGB jointly; C jointly only when asked)
        t, z, cg, h, w, s = nb.shape
        eng = np.moveaxis(nb, 5, 3).reshape(t, z, cg * s, h, w)  # (T, Z, Ce, Y, X)
        gmodel = None if given is None else given[gi if len(given) > 1 else 0]
        if mode == "lateral":
            res, ms = _lateral(eng.reshape(t * z, cg * s, h, w), sf, gcfg, kernel, planes, prog, cancel, gmodel)
            res = res.reshape(t, z, cg * s, *res.shape[-2:])
            models += ms
            if not per_plane:                                     # per-plane jobs advance themselves
                prog.next()
        else:
            vols, prev = [], None
            for ti in range(t):
                check_cancel(cancel)
                # time series of volumes: later time points warm-start from the previous one
                vcfg = gcfg if prev is None else _warm_config(gcfg, prev)
                out, m = _axial(np.moveaxis(eng[ti], 0, 1), f, vcfg, akernel, axial_method, fusion, prog,
                                cancel, model=gmodel, init=prev)
                vols.append(np.moveaxis(out, 0, 1))              # (Z', Ce, Y, X)
                prev = m
                models.append(m)
                prog.next()
            res = np.stack(vols)                                 # (T, Z', Ce, Y, X)
        out = res.reshape(t, res.shape[1], cg, s, *res.shape[-2:])
        out = np.moveaxis(out, 3, 5)                             # (T, Z', Cg, Y', X', S)
        outs.append(norm.inverse(out))
    result = np.concatenate(outs, axis=2)

    # drop the singleton axes we added and restore the caller's axis order
    squeeze = tuple(i for i, a in enumerate("TZCYXS") if a not in order)
    result = np.squeeze(result, axis=squeeze) if squeeze else result
    result = np.transpose(result, [order.index(a) for a in axes])

    clipped = 0
    if out_dtype == "input":
        result, clipped = cast_output(result, data.dtype)
    else:
        result = result.astype(np.float32, copy=False)

    new_sizes = dict(pixel_sizes)
    for a, fct in factors.items():
        if a.lower() in new_sizes:
            new_sizes[a.lower()] = new_sizes[a.lower()] / fct
    params = {
        "method": "ZSSR (Shocher, Cohen & Irani, CVPR 2018)",
        "mode": mode, "axes": axes, "factors": {k.lower(): v for k, v in factors.items()},
        "planes": planes, "channels": channels, "out_dtype": out_dtype or "float32",
        "kernel": _kernel_repr(kernel), "normalisation": [n.to_dict() for n in norms],
        "config": {k: v for k, v in cfg.to_dict().items() if k != "clip"},
        "iterations": [m.iterations for m in models],
        "rec_error": [m.rec_error for m in models], "cubic_rec_error": [m.cubic_rec_error for m in models],
        "clipped_values": clipped,
    }
    if mode == "axial":
        params.update(z_fwhm=z_fwhm, z_fwhm_unit=z_fwhm_unit, axial_method=axial_method, fusion=fusion)
    if progress:
        progress(ProgressEvent(stage="done", fraction=1.0, job=n_jobs, n_jobs=n_jobs))
    return NDResult(result, axes, new_sizes, {k.lower(): v for k, v in factors.items()}, params, clipped, models)


def _given_models(model, mode, factors, groups, full, sizes, cfg):
    """A saved model (path) or trained model(s) to apply without training, checked against the run."""
    if model is None:
        return None
    per_group = (full.shape[2] // len(groups)) * full.shape[5]
    fac = {k.lower(): v for k, v in factors.items()}
    if isinstance(model, (str, os.PathLike)):
        models, _ = load_for_run(model, mode, fac, len(groups), per_group, device=cfg.device)
        return models
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    want = (fac["z"], 1.0) if mode == "axial" else (fac["y"], fac["x"])
    for m in models:
        if tuple(round(v, 4) for v in m.sf) != tuple(round(v, 4) for v in want):
            raise ValueError(f"the model was trained for factors {m.sf}, not {want}")
        if m.channels != per_group:
            raise ValueError(f"the model expects {m.channels} channel(s); this data gives {per_group}")
    if len(models) not in (1, len(groups)):
        raise ValueError(f"{len(models)} models given for {len(groups)} channel group(s)")
    return models


def _kernel_repr(kernel):
    if kernel is None or isinstance(kernel, str):
        return kernel or "bicubic"
    if isinstance(kernel, (tuple, list)):
        return [k if isinstance(k, str) else float(k) for k in kernel]
    return {"array_shape": list(np.shape(kernel))}
