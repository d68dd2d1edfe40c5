"""Split an N-D array into engine jobs (lateral planes or axial slices) and assemble the result."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..engine.config import ZSSRConfig
from ..engine.infer import output_shape
from ..engine.noise import NoiseModel, fit_noise_model
from ..quality.gain import noise_kept
from ..engine.progress import CancelFlag, ProgressCallback, ProgressEvent, check_cancel
from ..engine.examples import central_crop, evenly_spaced
from ..engine.zssr import TrainedModel, apply, train
from ..quality import holdout
from ..axes import AXES, canonical_order
from .intensity import Normalizer, cast_output, check_values
from .memory import API_WAY_OUT, check_fits
from .models import check_models, load_for_run
from ..quality.profile_estimate import noise_variance, profile_notice, profile_record, slice_profile
from .spec import Resolved, RunSpec, kernel_record

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


def output_scale_translate(scale: Sequence[float], translate: Sequence[float], factors: Sequence[float]):
    """napari layer scale/translate of a result upscaled by `factors` per dim (1 = unchanged).

    Pixel centres of input and output coincide: scale d/s, translate t + (d/s - d)/2.
    """
    new_scale = [d / s for d, s in zip(scale, factors)]
    new_translate = [t + (d / s - d) / 2 for d, s, t in zip(scale, factors, translate)]
    return new_scale, new_translate


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


def _train(sources, sf, cfg, kernel, prog, cancel, init=None) -> TrainedModel:
    return train(sources, sf, cfg, kernel=kernel, progress=prog, cancel=cancel, init=init)


NOISE_SAMPLE_PIXELS = 512 * 512


def noise_on_sons(planes, sf, kernel) -> NoiseModel:
    """The noise a son lost to its downscaling, as a signal-dependent model: the data's noise
    (white-noise variance from the corner of the xy spectra, where an oversampled PSF leaves only
    noise; how it grows with the signal from the high-pass residual) times the share the kernel
    removes. A real input line has all of it; a son without it teaches to sharpen noise."""
    # a central 512x512 of each: the noise is the same everywhere, and 16 whole 2048^2 planes in
    # float64 took the client of a chunked run to 2.9 GB
    crops = [central_crop(np.asarray(p), NOISE_SAMPLE_PIXELS) for p in evenly_spaced(planes, 16)]
    sample = np.concatenate([np.reshape(c, (-1,) + c.shape[-2:]) for c in crops])
    return lost_to_son(data_noise(sample), sf, kernel)


def data_noise(planes) -> NoiseModel:
    """The noise of (P, Y, X) planes: its white-noise level from the corner of the xy spectra, its
    growth with the signal from the high-pass residual."""
    return fit_noise_model(planes, noise_variance(planes))


def lost_to_son(model: NoiseModel, sf, kernel) -> NoiseModel:
    """The share of the data's noise that a son's downscaling (sf, kernel) removes."""
    return model.scaled(max(0.0, 1.0 - noise_kept((64, 64), sf, kernel)))


def _train_checked(planes, sf, cfg: ZSSRConfig, icfg: ZSSRConfig, kernel, prog, cancel, *, model=None, init=None,
                   sources=None, both_axes=False, noisy=False, edge=None):
    """Train on `planes` less a held-out part (or on `sources`, which never include the planes; or
    not at all when a model is given), then measure the gain over cubic on the held-out part with
    the inference settings `icfg`, which come back with back-projection kept only if it helps.

    -> (model, inference config, quality record or None)"""
    hold = holdout.split(planes, sf, cfg.holdout_fraction, both_axes=both_axes)
    if model is None:
        if noisy and cfg.noise_aware and cfg.noise_std == 0 and not (cfg.noise_slope or cfg.noise_intercept):
            if prog is not None:
                prog(ProgressEvent(stage="noise", message="measuring the noise (for the training sons)"))
            nm = noise_on_sons(planes, sf, kernel)
            cfg = cfg.replace(noise_slope=nm.slope, noise_intercept=nm.intercept)
        model = _train(hold.train if sources is None else sources, sf, cfg, kernel, prog, cancel, init=init)
    if not hold.fathers:
        return model, icfg, None
    check_cancel(cancel)
    if prog is not None:
        prog(ProgressEvent(stage="check", message="measuring the gain over cubic on held-out parts"))
    record, icfg = holdout.measure(model, hold, icfg, noisy=noisy, edge=edge)
    return model, icfg, record


def _lateral(vols: np.ndarray, sf, cfg: ZSSRConfig, kernel, planes: str, prog: _Progress, cancel,
             model: Optional[TrainedModel]):
    """vols: (P, C, H, W) normalised planes of one channel group -> (P, C, H', W')."""
    p = vols.shape[0]
    stack_cfg = cfg if p == 1 else cfg.replace(ensemble=cfg.ensemble and cfg.stack_ensemble)
    if model is not None or planes == "shared" or p == 1:
        m, icfg, q = _train_checked(list(vols), sf, cfg, stack_cfg, kernel, prog, cancel, model=model)
        prog(ProgressEvent(stage="infer", message=f"inference on {p} plane(s)"))
        return _apply_chunks(m, vols, icfg, cancel), [m], [q]
    outs, models, quals, prev = [], [], [], None
    for i in range(p):
        # warm start: later planes start from the previous net and need fewer iterations
        c = cfg if (planes == "per-plane" or prev is None) else _warm_config(cfg, prev)
        m, icfg, q = _train_checked([vols[i]], sf, c, c, kernel, prog, cancel,
                                    init=prev if planes == "warm-start" else None)
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


def _axial(vol: np.ndarray, f: float, cfg: ZSSRConfig, kernel, method: str, fusion: str, prog: _Progress,
           cancel, model: Optional[TrainedModel] = None, init: Optional[TrainedModel] = None):
    """vol: (C, Z, Y, X) normalised -> (C, Z', Y, X); a given model is applied without training."""
    sf = (f, 1.0)
    xz = np.ascontiguousarray(np.moveaxis(vol, 2, 0))          # (Y, C, Z, X)
    yz = np.ascontiguousarray(np.moveaxis(vol, 3, 0))          # (X, C, Z, Y)
    planes = [vol[:, z] for z in range(vol.shape[1])]
    icfg = cfg.replace(ensemble=cfg.ensemble and cfg.stack_ensemble)    # slices are a stack
    if method == "isotropic":
        # xy planes degraded along one lateral axis teach the net what z lost; xy is isotropic,
        # so rotated fathers are valid examples
        c, sources = cfg.replace(allow_rotation=True), None
    else:
        # pure ZSSR on the slices themselves: z is the only degraded axis, no rotation (the xy
        # planes it is checked on are then never trained on anyway)
        c, sources = cfg.replace(allow_rotation=False), list(xz) + list(yz)
    # checked on held-out xy planes degraded along y and along x, as the xz and yz slices were
    model, icfg, quality = _train_checked(planes, sf, c, icfg, kernel, prog, cancel, model=model, init=init,
                                          sources=sources, both_axes=True, noisy=True,
                                          edge=holdout.edge_share(output_shape((vol.shape[1], 1), sf)[0], f))
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
    cfg = _engine_config(spec, config)
    order = canonical_order(run.axes)
    full = _to_work(data, run.axes, order)                       # (T, Z, C, Y, X, S)
    t_n, z_n, c_n = full.shape[:3]
    groups = [slice(None)] if spec.channels == "joint" else [slice(c, c + 1) for c in range(c_n)]
    constant = _constant_groups(full, groups, allow_constant)   # every error before any work
    norms = [None if constant[gi] else Normalizer.fit(full[:, :, g]) for gi, g in enumerate(groups)]
    given = _given_models(spec.model, run, groups, full, cfg)
    if progress:                    # every check passed: a stage from the first seconds (issue 28)
        progress(ProgressEvent(stage="prepare", message="input checked and its intensities measured"))
    profile = None
    if given is None:
        if progress and spec.mode == "axial":
            progress(ProgressEvent(stage="profile", message="estimating the slice profile from the data"))
        # axial: no slice profile given -> estimated from the data, used when reliable; a given one
        # wins but is checked against that estimate
        profile, spec = slice_profile(spec, run, lambda f: _estimate_profile(full, groups, constant, norms, f))
        if profile is not None and profile["used"]:
            run = spec.resolve(data.shape, axes, pixel_sizes)

    per_plane = spec.mode == "lateral" and spec.planes != "shared" and spec.model is None and t_n * z_n > 1
    n_jobs = max(1, sum(1 for c in constant if not c)) * (t_n if spec.mode == "axial" else
                                                          (t_n * z_n if per_plane else 1))
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
        gmodel = None if given is None else given[gi if len(given) > 1 else 0]
        out, ms, qs = _run_group(block, norms[gi], run, cfg, gmodel, per_plane, prog, cancel)
        outs.append(out)
        models += ms
        quals += qs
    result = _from_work(np.concatenate(outs, axis=2), order, run.axes)

    clipped = 0
    if spec.out_dtype == "input":
        result, clipped = cast_output(result, data.dtype)
    else:
        result = result.astype(np.float32, copy=False)
    new_sizes = dict(run.pixel_sizes)
    for a, fct in run.factors.items():
        if a in new_sizes:
            new_sizes[a] = new_sizes[a] / fct
    for m in models:                                  # e.g. "no learned prior for ...; random weights"
        notices += [n for n in m.notices if n not in notices]
    notice = profile_notice(profile) if profile is not None else None
    if notice:
        notices.append(notice)
    params = _record(run, cfg, norms, models, quals, clipped, notices, full)
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


def _engine_config(spec: RunSpec, config: Optional[ZSSRConfig]) -> ZSSRConfig:
    cfg = config or ZSSRConfig()
    if spec.tile is not None:
        cfg = cfg.replace(tile=int(spec.tile))
    if spec.init is not None:
        cfg = cfg.replace(init=spec.init)
    return cfg


def _to_work(data: np.ndarray, axes: str, order: str) -> np.ndarray:
    """The data in TZCYXS order with singleton axes for those it lacks."""
    full = np.transpose(data, [axes.index(a) for a in order])
    for a in AXES:
        if a not in order:
            full = np.expand_dims(full, AXES.index(a))
    return full


def _from_work(result: np.ndarray, order: str, axes: str) -> np.ndarray:
    """Drop the singleton axes _to_work added and restore the caller's axis order."""
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
    if "z" in run.factors:
        z = output_shape((z, 1), run.sf)[0]
    else:
        h, w = output_shape((h, w), run.sf)
    return np.full((t, z, cg, h, w, s), block.flat[0], dtype=np.float32)


def _run_group(block: np.ndarray, norm: Normalizer, run: Resolved, cfg: ZSSRConfig, model, per_plane: bool,
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
        res, models, quals = _lateral(eng.reshape(t * z, cg * s, h, w), run.sf, gcfg, run.kernel, spec.planes, prog,
                               cancel, model)
        res = res.reshape(t, z, cg * s, *res.shape[-2:])
        if not per_plane:                                        # per-plane jobs advance themselves
            prog.next()
    else:
        vols, prev = [], None
        for ti in range(t):
            check_cancel(cancel)
            # time series of volumes: later time points warm-start from the previous one
            vcfg = gcfg if prev is None else _warm_config(gcfg, prev)
            out, m, q = _axial(np.moveaxis(eng[ti], 0, 1), run.sf[0], vcfg, run.kernel, spec.axial_method,
                               spec.fusion, prog, cancel, model=model, init=prev)
            vols.append(np.moveaxis(out, 0, 1))                 # (Z', Ce, Y, X)
            prev = m
            models.append(m)
            quals.append(q)
            prog.next()
        res = np.stack(vols)                                     # (T, Z', Ce, Y, X)
    out = res.reshape(t, res.shape[1], cg, s, *res.shape[-2:])
    return norm.inverse(np.moveaxis(out, 3, 5)), models, quals  # (T, Z', Cg, Y', X', S)


def _record(run: Resolved, cfg: ZSSRConfig, norms, models, quals, clipped: int, notices, full) -> dict:
    """The JSON-serialisable record of the run (layer metadata, TIFF description, manifests)."""
    spec = run.spec
    params = {
        "method": "ZSSR (Shocher, Cohen & Irani, CVPR 2018)",
        "mode": spec.mode, "axes": run.axes, "factors": dict(run.factors),
        "planes": spec.planes, "channels": spec.channels, "out_dtype": spec.out_dtype,
        "kernel": kernel_record(spec.kernel), "init": cfg.init,
        "started_from": [m.init for m in models],     # "prior", "random" (no prior fits) or "model"
        "normalisation": [n.to_dict() if n is not None else _constant_record(full, i)
                          for i, n in enumerate(norms)],
        "config": {k: v for k, v in cfg.to_dict().items() if k != "clip"},
        "iterations": [m.iterations for m in models],
        "network": [f"{m.net.depth}x{m.net.width}" for m in models],   # layers x channels
        "rec_error": [m.rec_error for m in models], "cubic_rec_error": [m.cubic_rec_error for m in models],
        # per network: the gain over cubic on held-out parts (None: too small to hold any out)
        "quality": list(quals),
        # normalised units: noise_std, and the signal-dependent part noise-aware axial runs measure
        "noise_on_sons_std": [m.config.noise_std for m in models],
        "noise_on_sons_model": [{"slope": m.config.noise_slope, "intercept": m.config.noise_intercept} for m in models],
        "clipped_values": clipped,
    }
    params["expected_gain_db"] = holdout.expected_gain(params)
    if notices:
        params["notices"] = list(notices)
    if spec.mode == "axial":
        params.update(z_fwhm=spec.z_fwhm, z_fwhm_unit=spec.z_fwhm_unit, axial_method=spec.axial_method,
                      fusion=spec.fusion)
    return params


def _constant_record(full: np.ndarray, group: int) -> dict:
    v = float(full[:, :, group].flat[0])
    return {"lo": v, "hi": v, "dtype": str(full.dtype), "constant": True}


def _given_models(model, run: Resolved, groups, full, cfg):
    """A saved model (path) or trained model(s) to apply without training, checked against the run."""
    if model is None:
        return None
    per_group = (full.shape[2] // len(groups)) * full.shape[5]
    if isinstance(model, (str, os.PathLike)):
        models, _ = load_for_run(model, run.spec.mode, run.factors, len(groups), per_group, device=cfg.device)
        return models
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    check_models(models, run.sf, len(groups), per_group)
    return models
