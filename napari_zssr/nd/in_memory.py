"""The in-memory runner: an N-D array into engine jobs (lateral planes or axial slices) and back.

The steps it shares with the block-by-block runner (nd.chunked) live in nd.pipeline; what is its
own is the array in memory: the working order, constant channel groups, per-plane and warm-start
networks, time series of volumes, and applying the networks to whole arrays.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..engine.config import ZSSRConfig
from ..engine.progress import CancelFlag, ProgressCallback, ProgressEvent, check_cancel
from ..engine.zssr import TrainedModel, apply
from ..quality import holdout
from ..axes import AXES, canonical_order
from .intensity import Normalizer, cast_output, check_values
from .memory import API_WAY_OUT, check_fits
from ..quality.profile_estimate import profile_notice, profile_record
from .pipeline import (channel_groups, engine_config, estimate_profile, given_models, group_model, inference_config,
                       model_notices, output_geometry, output_size, per_plane, profile_config, run_record,
                       train_checked)
from .spec import Resolved, RunSpec

@dataclass
class NDResult:
    data: np.ndarray
    axes: str
    pixel_sizes: Dict[str, float]
    factors: Dict[str, float]
    params: dict
    clipped: int = 0
    models: List[TrainedModel] = field(default_factory=list, repr=False)
    notices: List[str] = field(default_factory=list)     # one line each, e.g. a constant channel


PRE_STAGES = ("read", "prepare", "profile", "noise")     # before a job's training: nothing done yet


class _Progress:
    """Turns engine events of job k of n into overall fraction and ETA."""

    def __init__(self, cb: Optional[ProgressCallback], n_jobs: int):
        self.cb, self.n, self.job, self.t0 = cb, max(n_jobs, 1), 0, time.perf_counter()

    def __call__(self, ev: ProgressEvent) -> None:
        if self.cb is None:
            return
        within = 0.85 * min(ev.iteration / ev.total, 1.0) if ev.stage.startswith("train") and ev.total else \
            0.0 if ev.stage in PRE_STAGES else 0.9
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


def _lateral(vols: np.ndarray, run: Resolved, cfg: ZSSRConfig, prog: _Progress, cancel,
             model: Optional[TrainedModel]):
    """vols: (P, C, H, W) normalised planes of one channel group -> (P, C, H', W')."""
    p, planes = vols.shape[0], run.spec.planes
    if model is not None or planes == "shared" or p == 1:
        m, icfg, q = train_checked(list(vols), run, cfg, inference_config(cfg, many=p > 1), prog, cancel,
                                   model=model)
        prog(ProgressEvent(stage="infer", message=f"inference on {p} plane(s)"))
        return _apply_chunks(m, vols, icfg, cancel), [m], [q]
    outs, models, quals, prev = [], [], [], None
    for i in range(p):
        # warm start: later planes start from the previous net and need fewer iterations
        c = cfg if (planes == "per-plane" or prev is None) else _warm_config(cfg, prev)
        m, icfg, q = train_checked([vols[i]], run, c, c, prog, cancel, init=prev if planes == "warm-start" else None)
        outs.append(apply(m, vols[i], cancel=cancel, config=icfg).cpu().numpy())
        models.append(m)
        quals.append(q)
        prev = m
        prog.next()
    return np.stack(outs), models, quals


def fuse(a: np.ndarray, b: np.ndarray, how: str) -> np.ndarray:
    if how == "arithmetic":
        return 0.5 * (a + b)
    # geometric mean of values shifted to be positive (shift-invariant, no clipping of negatives)
    m = min(float(a.min()), float(b.min())) - 1e-3
    return (np.sqrt((a - m) * (b - m)) + m).astype(np.float32)


def _axial(vol: np.ndarray, run: Resolved, cfg: ZSSRConfig, prog: _Progress, cancel,
           model: Optional[TrainedModel] = None, init: Optional[TrainedModel] = None):
    """vol: (C, Z, Y, X) normalised -> (C, Z', Y, X); a given model is applied without training."""
    f, fusion = run.sf[0], run.spec.fusion
    xz = np.ascontiguousarray(np.moveaxis(vol, 2, 0))          # (Y, C, Z, X)
    yz = np.ascontiguousarray(np.moveaxis(vol, 3, 0))          # (X, C, Z, Y)
    planes = [vol[:, z] for z in range(vol.shape[1])]
    # isotropic: xy planes degraded along one lateral axis teach the net what z lost; zssr: pure
    # ZSSR on the slices themselves. Both are checked on held-out xy planes (nd.pipeline)
    sources = list(xz) + list(yz) if run.spec.axial_method == "zssr" else None
    model, icfg, quality = train_checked(planes, run, cfg, inference_config(cfg, many=True), prog, cancel,
                                         model=model, init=init, sources=sources)
    prog(ProgressEvent(stage="infer", message="inference on xz and yz slices"))
    out_xz = np.moveaxis(_apply_chunks(model, xz, icfg, cancel), 0, 2)    # (C, Z', Y, X)
    out_yz = np.moveaxis(_apply_chunks(model, yz, icfg, cancel), 0, 3)
    out = fuse(out_xz, out_yz, fusion)
    # the held-out planes measured one direction; fusing both cancels part of their errors
    if quality:
        sums = holdout.fusion_sums(out_xz, out_yz, out, holdout.fusion_z_range(out.shape[1], f))
        quality = holdout.with_fusion(quality, sums, fusion)
    return out, model, quality


def super_resolve_nd(data: np.ndarray, axes: str, spec: Optional[RunSpec] = None, *,
                     pixel_sizes: Optional[dict] = None, config: Optional[ZSSRConfig] = None,
                     progress: Optional[ProgressCallback] = None, cancel: CancelFlag = None,
                     allow_constant: bool = False, **options) -> NDResult:
    """Super-resolve an N-D array (see the package docstring for the contract).

    `spec` is the run's RunSpec; without one, `options` are its fields (`scale` is accepted for
    `factors`). `allow_constant`: a constant array is returned upscaled as it is, with a notice,
    instead of refused (batch uses it for one channel of a multi-channel file).
    """
    if spec is None:
        if "scale" in options:
            options["factors"] = options.pop("scale")
        spec = RunSpec(**options)
    elif options:
        raise TypeError(f"give either a spec or its options, not both ({', '.join(options)})")
    data = np.asarray(data)
    check_values(data)
    run = spec.resolve(data.shape, axes, pixel_sizes)
    # the peak of the copies below, planned before any of them (the input is already here)
    check_fits(data.shape, data.dtype, spec.mode, run.factors, way_out=API_WAY_OUT, resident=True)
    cfg = engine_config(spec, config)
    order = canonical_order(run.axes)
    full = to_work(data, run.axes, order)                       # (T, Z, C, Y, X, S)
    t_n, z_n, c_n = full.shape[:3]
    groups = channel_groups(c_n, spec.channels)
    constant = _constant_groups(full, groups, allow_constant)   # every error before any work
    norms = [None if constant[gi] else Normalizer.fit(full[:, :, g]) for gi, g in enumerate(groups)]
    given = given_models(spec.model, run, len(groups), (c_n // len(groups)) * full.shape[5], cfg.device)
    if progress:                    # every check passed: a stage from the first seconds (issue 28)
        progress(ProgressEvent(stage="prepare", message="input checked and its intensities measured"))
    profile = None
    if given is None:
        profile, spec, run = estimate_profile(spec, run, lambda f: _estimate_profile(full, groups, constant, norms, f),
                                              lambda s: s.resolve(data.shape, axes, pixel_sizes), progress)
        cfg = profile_config(cfg, profile)

    one_per_plane = per_plane(spec, t_n * z_n)
    n_jobs = max(1, sum(1 for c in constant if not c)) * (t_n if spec.mode == "axial" else
                                                          (t_n * z_n if one_per_plane else 1))
    prog = _Progress(progress, n_jobs)
    outs, models, quals, notices = [], [], [], []
    for gi, g in enumerate(groups):
        block = full[:, :, g]                                    # (T, Z, Cg, Y, X, S)
        if constant[gi]:
            outs.append(_constant_output(block, run))
            notices.append(f"channel {gi} is constant ({float(block.flat[0]):g}); upscaled as it is, "
                           f"no network trained" if len(groups) > 1 else
                           f"the image is constant ({float(block.flat[0]):g}); upscaled as it is")
            continue
        out, ms, qs = _run_group(block, norms[gi], run, cfg, group_model(given, gi), one_per_plane, prog, cancel)
        outs.append(out)
        models += ms
        quals += qs
    result = from_work(np.concatenate(outs, axis=2), order, run.axes)

    clipped = 0
    if spec.out_dtype == "input":
        result, clipped = cast_output(result, data.dtype)
    else:
        result = result.astype(np.float32, copy=False)
    new_sizes, _ = output_geometry(run.pixel_sizes, None, run.factors)
    notices = model_notices(models, notices)          # e.g. "no learned prior for ...; random weights"
    notice = profile_notice(profile) if profile is not None else None
    if notice:
        notices.append(notice)
    normalisation = [n.to_dict() if n is not None else _constant_record(full, i) for i, n in enumerate(norms)]
    params = run_record(run, cfg, models, holdout.with_profile(quals, profile), axes=run.axes,
                        normalisation=normalisation, notices=notices, clipped=clipped)
    if profile is not None:
        params["z_fwhm_estimate"] = profile
    if progress:
        progress(ProgressEvent(stage="done", fraction=1.0, job=n_jobs, n_jobs=n_jobs))
    return NDResult(result, run.axes, new_sizes, dict(run.factors), params, clipped, models, notices)


def _estimate_profile(full: np.ndarray, groups, constant, norms, factor: float) -> Optional[dict]:
    """The slice-profile record from the first time point of the first channel group with data."""
    gi = next(i for i, c in enumerate(constant) if not c)
    return profile_record(norms[gi].forward(full[0, :, groups[gi]]).mean(axis=(1, 4)), factor)   # (Z, Y, X)


_MERGED = ("normalisation", "iterations", "rec_error", "cubic_rec_error", "quality")


def merge_channel_results(results: Sequence[NDResult]) -> NDResult:
    """Results of one-channel runs (batch: one task per channel) as one run's result: data along C,
    per-network records as lists in channel order, clipped counts and notices summed."""
    first = results[0]
    if len(results) == 1:
        return first
    axes = first.axes
    data = np.concatenate([r.data for r in results], axis=axes.index("C"))
    params = dict(first.params)
    for k in _MERGED:
        params[k] = [v for r in results for v in (r.params.get(k) or [])]
    params["expected_gain_db"] = holdout.expected_gain(params)
    clipped = int(sum(r.clipped for r in results))
    notices = [n for r in results for n in r.notices]
    params["clipped_values"] = clipped
    params.pop("notices", None)
    if notices:
        params["notices"] = notices
    return NDResult(data, axes, dict(first.pixel_sizes), dict(first.factors), params, clipped,
                    [m for r in results for m in r.models], notices)


def to_work(data: np.ndarray, axes: str, order: str) -> np.ndarray:
    """The data in TZCYXS order with singleton axes for those it lacks (the working order)."""
    full = np.transpose(data, [axes.index(a) for a in order])
    for a in AXES:
        if a not in order:
            full = np.expand_dims(full, AXES.index(a))
    return full


def from_work(result: np.ndarray, order: str, axes: str) -> np.ndarray:
    """Drop the singleton axes to_work added and restore the caller's axis order."""
    squeeze = tuple(i for i, a in enumerate(AXES) if a not in order)
    result = np.squeeze(result, axis=squeeze) if squeeze else result
    return np.transpose(result, [order.index(a) for a in axes])


def _constant_groups(full: np.ndarray, groups, allow_constant: bool) -> List[bool]:
    """Which channel groups are constant; refused when nothing else is there (or not allowed)."""
    flags = [bool(full[:, :, g].min() == full[:, :, g].max()) for g in groups]
    if all(flags) and not allow_constant:
        raise ValueError("the image is constant; there is nothing to super-resolve")
    return flags


def _constant_output(block: np.ndarray, run: Resolved) -> np.ndarray:
    """A constant block upsampled: the same constant on the output grid (float32)."""
    t, z, cg, h, w, s = block.shape
    z, h, w = output_size(run, z, h, w)
    return np.full((t, z, cg, h, w, s), block.flat[0], dtype=np.float32)


def _run_group(block: np.ndarray, norm: Normalizer, run: Resolved, cfg: ZSSRConfig, model, one_per_plane: bool,
               prog: _Progress, cancel):
    """One channel group (T, Z, Cg, Y, X, S) through the engine, normalised and restored."""
    spec = run.spec
    gcfg = cfg.replace(clip=norm.valid_range())
    nb = norm.forward(block)
    # engine channels: Cg * S (RGB jointly; C jointly only when asked)
    t, z, cg, h, w, s = nb.shape
    eng = np.moveaxis(nb, 5, 3).reshape(t, z, cg * s, h, w)     # (T, Z, Ce, Y, X)
    models, quals = [], []
    if spec.mode == "lateral":
        res, models, quals = _lateral(eng.reshape(t * z, cg * s, h, w), run, gcfg, prog, cancel, model)
        res = res.reshape(t, z, cg * s, *res.shape[-2:])
        if not one_per_plane:                                      # per-plane jobs advance themselves
            prog.next()
    else:
        vols, prev = [], None
        for ti in range(t):
            check_cancel(cancel)
            # time series of volumes: later time points warm-start from the previous one
            vcfg = gcfg if prev is None else _warm_config(gcfg, prev)
            out, m, q = _axial(np.moveaxis(eng[ti], 0, 1), run, vcfg, prog, cancel, model=model, init=prev)
            vols.append(np.moveaxis(out, 0, 1))                 # (Z', Ce, Y, X)
            prev = m
            models.append(m)
            quals.append(q)
            prog.next()
        res = np.stack(vols)                                     # (T, Z', Ce, Y, X)
    out = res.reshape(t, res.shape[1], cg, s, *res.shape[-2:])
    return norm.inverse(np.moveaxis(out, 3, 5)), models, quals  # (T, Z', Cg, Y', X', S)


def _constant_record(full: np.ndarray, group: int) -> dict:
    v = float(full[:, :, group].flat[0])
    return {"lo": v, "hi": v, "dtype": str(full.dtype), "constant": True}
