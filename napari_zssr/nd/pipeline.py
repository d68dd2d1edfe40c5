"""The steps every N-D run takes, written once: the in-memory runner (nd.in_memory) and the
block-by-block one (nd.chunked) both call them.

    config = engine_config(spec, config)             # the tile and init rules
    groups = channel_groups(n_channels, spec.channels)
    profile, spec, run = estimate_profile(spec, run, sample, resolve, progress)   # axial, no profile given
    given = given_models(spec.model, run, len(groups), per_group, config.device)
    icfg = inference_config(gcfg, many=...)          # stacks and slices: no self-ensemble
    model, icfg, quality = train_checked(planes, run, gcfg, icfg, progress, cancel, ...)
    z, y, x = output_size(run, n_z, n_y, n_x);  sizes, translate = output_geometry(...)
    params = run_record(run, cfg, models, quals, axes=..., normalisation=...)

What stays in each runner is its own: how it reads its data (an array in memory; planes, slices
and a column read lazily), how it applies the networks (whole arrays; blocks on a cluster) and
where the result goes.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..engine.config import ZSSRConfig
from ..engine.examples import central_crop, evenly_spaced
from ..engine.infer import InferenceOptions, ensemble_passes, output_shape
from ..engine.noise import NoiseModel, fit_noise_model
from ..engine.progress import ProgressEvent, check_cancel
from ..engine.zssr import TrainedModel, train
from ..quality import holdout
from ..quality.gain import noise_kept
from ..quality.profile_estimate import back_projection_off, noise_variance, slice_profile
from .models import check_models, load_for_run
from .spec import Resolved, RunSpec, kernel_record

METHOD = "ZSSR (Shocher, Cohen & Irani, CVPR 2018)"


# --- settings --------------------------------------------------------------------------------------
def engine_config(spec: RunSpec, config: Optional[ZSSRConfig], default_tile: Optional[int] = None) -> ZSSRConfig:
    """The engine settings of a run: the spec's tile and init win over the config's; a config
    that leaves the tile to free memory gets `default_tile` (the chunked runner's bounded tile)."""
    cfg = config or ZSSRConfig()
    if spec.tile is not None:
        cfg = cfg.replace(tile=int(spec.tile))
    elif cfg.tile is None and default_tile is not None:
        cfg = cfg.replace(tile=int(default_tile))
    if spec.init is not None:
        cfg = cfg.replace(init=spec.init)
    return cfg


def channel_groups(n_channels: int, channels: str) -> List[slice]:
    """One network per channel, or one for all of them when they are processed jointly."""
    return [slice(None)] if channels == "joint" else [slice(c, c + 1) for c in range(n_channels)]


def inference_config(cfg: ZSSRConfig, many: bool) -> ZSSRConfig:
    """Many planes or slices (a stack, axial slices) are inferred without the self-ensemble unless
    stack_ensemble asks for it: it costs 8x and neighbouring planes average the same noise out."""
    return cfg.replace(ensemble=cfg.ensemble and cfg.stack_ensemble) if many else cfg


def per_plane(spec: RunSpec, n_planes: int) -> bool:
    """An in-memory lateral run that trains one network per plane (and applies it to that plane alone)."""
    return spec.mode == "lateral" and spec.planes != "shared" and spec.model is None and n_planes > 1


def ensemble_passes_of(run: Resolved, cfg: ZSSRConfig) -> int:
    """The self-ensemble passes each image of the run got (engine/infer.ensemble_passes on one
    output plane or axial slice): stacks and slices as inference_config decides, per-plane runs
    as single images."""
    s, spec = run.sizes, run.spec
    planes = s.get("T", 1) * s.get("Z", 1)
    many = spec.mode == "axial" or (planes > 1 and not per_plane(spec, planes))
    icfg = inference_config(cfg, many)
    image = (s["Z"], s["X"]) if spec.mode == "axial" else (s["Y"], s["X"])
    return ensemble_passes(InferenceOptions(ensemble=icfg.ensemble), run.sf, output_shape(image, run.sf))


def given_models(model, run: Resolved, n_groups: int, per_group: int, device: str):
    """A saved model (path) or trained model(s) to apply without training, checked against the
    run (mode, factor, channel groups, channels per group); None when the run trains its own."""
    if model is None:
        return None
    if isinstance(model, (str, os.PathLike)):
        models, _ = load_for_run(model, run.spec.mode, run.factors, n_groups, per_group, device=device)
        return models
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    check_models(models, run.sf, n_groups, per_group)
    return models


def group_model(given, gi: int):
    """Channel group gi's given network (one network serves every group)."""
    return None if given is None else given[gi if len(given) > 1 else 0]


# --- the slice profile -----------------------------------------------------------------------------
def estimate_profile(spec: RunSpec, run: Resolved, sample: Callable[[float], Optional[dict]],
                     resolve: Callable[[RunSpec], Resolved], progress=None, where: str = "from the data"):
    """Axial runs without a given slice profile estimate it from `sample(factor)` (each runner
    reads its own sample) and use it when reliable; a given one wins but is checked against the
    estimate. -> (profile record or None, spec, run), re-resolved when the estimate is used."""
    if progress and spec.mode == "axial":
        progress(ProgressEvent(stage="profile", message=f"estimating the slice profile {where}"))
    profile, spec = slice_profile(spec, run, sample)
    if profile is not None and profile["used"]:
        run = resolve(spec)
    return profile, spec, run


def profile_config(cfg: ZSSRConfig, profile: Optional[dict]) -> ZSSRConfig:
    """The engine settings after the slice-profile estimate: no back-projection where one z step is
    assumed but the z lines read sharper (quality.profile_estimate.back_projection_off)."""
    return cfg.replace(back_projection_iters=0) if back_projection_off(profile, cfg.back_projection_auto) else cfg


# --- training and the held-out check ---------------------------------------------------------------
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


def train_checked(planes, run: Resolved, cfg: ZSSRConfig, icfg: ZSSRConfig, progress, cancel, *,
                  model: Optional[TrainedModel] = None, init: Optional[TrainedModel] = None, sources=None):
    """Train on `planes` less a held-out part (or on `sources`, which never include the planes; or
    not at all when a model is given), then measure the gain over cubic on the held-out part with
    the inference settings `icfg`, which come back with back-projection kept only if it helps.

    Axial runs: the xy planes stand for the xz and yz slices, degraded along y and along x as z
    was; rotated fathers only for the isotropic method (xy is isotropic, z is not); the noise the
    sons lost is measured in the data.

    -> (model, inference config, quality record or None)"""
    axial = run.spec.mode == "axial"
    sf, kernel = run.sf, run.kernel
    if axial:
        cfg = cfg.replace(allow_rotation=run.spec.axial_method != "zssr")
    hold = holdout.split(planes, sf, cfg.holdout_fraction, both_axes=axial)
    if model is None:
        if axial and cfg.noise_aware and cfg.noise_std == 0 and not (cfg.noise_slope or cfg.noise_intercept):
            if progress is not None:
                progress(ProgressEvent(stage="noise", message="measuring the noise (for the training sons)"))
            nm = noise_on_sons(planes, sf, kernel)
            cfg = cfg.replace(noise_slope=nm.slope, noise_intercept=nm.intercept)
        model = train(hold.train if sources is None else sources, sf, cfg, kernel=kernel, progress=progress,
                      cancel=cancel, init=init)
    if not hold.fathers:
        return model, icfg, None
    check_cancel(cancel)
    if progress is not None:
        progress(ProgressEvent(stage="check", message="measuring the gain over cubic on held-out parts"))
    edge = holdout.edge_share(output_size(run, run.sizes["Z"], 1, 1)[0], sf[0]) if axial else None
    record, icfg = holdout.measure(model, hold, icfg, noisy=axial, edge=edge)
    return model, icfg, record


# --- the output's geometry -------------------------------------------------------------------------
def output_size(run: Resolved, n_z: int, n_y: int, n_x: int) -> Tuple[int, int, int]:
    """(Z, Y, X) lengths of the result: z upscaled in axial runs, y and x in lateral ones."""
    if "z" in run.factors:
        return output_shape((n_z, 1), run.sf)[0], n_y, n_x
    n_y, n_x = output_shape((n_y, n_x), run.sf)
    return n_z, n_y, n_x


def output_scale_translate(scale: Sequence[float], translate: Sequence[float], factors: Sequence[float]):
    """napari layer scale/translate of a result upscaled by `factors` per dim (1 = unchanged).

    Pixel centres of input and output coincide: scale d/s, translate t + (d/s - d)/2.
    """
    new_scale = [d / s for d, s in zip(scale, factors)]
    new_translate = [t + (d / s - d) / 2 for d, s, t in zip(scale, factors, translate)]
    return new_scale, new_translate


def output_geometry(pixel_sizes: Dict[str, float], translate: Optional[Dict[str, float]],
                    factors: Dict[str, float]) -> Tuple[Dict[str, float], Dict[str, float]]:
    """(pixel sizes, translate) of the result by axis letter, as output_scale_translate: an axis
    without a size keeps its translate (there is no physical shift to apply)."""
    sizes, shift = dict(pixel_sizes), dict(translate or {})
    for a, f in factors.items():
        if a in pixel_sizes:
            (new,), (moved,) = output_scale_translate([pixel_sizes[a]], [shift.get(a, 0.0)], [f])
            sizes[a] = new
            if translate is not None:
                shift[a] = moved
    return sizes, shift


# --- the record ------------------------------------------------------------------------------------
def run_record(run: Resolved, cfg: ZSSRConfig, models: Sequence[TrainedModel], quals, *, axes: str,
               normalisation: list, notices: Sequence[str] = (), clipped: int = 0) -> dict:
    """The JSON-serialisable record of a run (layer metadata, TIFF description, OME-Zarr
    attributes, manifests): its settings, what each network started from and did, the held-out
    quality and the notices."""
    spec = run.spec
    params = {
        "method": METHOD,
        "mode": spec.mode, "axes": axes, "factors": dict(run.factors),
        "planes": spec.planes, "channels": spec.channels, "out_dtype": spec.out_dtype,
        "kernel": kernel_record(spec.kernel), "init": cfg.init,
        "started_from": [m.init for m in models],     # "prior", "random" (no prior fits) or "model"
        "normalisation": list(normalisation),
        "config": {k: v for k, v in cfg.to_dict().items() if k != "clip"},
        "ensemble_passes": ensemble_passes_of(run, cfg),      # per image: 1, or 8 / 4 by its size
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


def model_notices(models: Sequence[TrainedModel], notices: List[str]) -> List[str]:
    """`notices` with each network's own (e.g. "no learned prior for ...; random weights") once."""
    for m in models:
        notices += [n for n in m.notices if n not in notices]
    return notices
