"""Axial runs of one volume with the slice-profile estimate and the held-out quality estimate at hand.

Every `super_resolve_nd` run keeps a few xy planes out of training and measures on them how much
the network beats cubic interpolation (`quality.holdout`), and an axial run without a given z FWHM
estimates the slice profile from the data (`quality.profile_estimate`, recorded in
`params["z_fwhm_estimate"]`). `axial_with_estimate` is that run for one (Z, Y, X) volume, returning
both; the benchmarks use it to put the estimates beside the truth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.config import ZSSRConfig
from ..quality.gain import GainEstimate
from ..nd.intensity import check_values
from ..nd.in_memory import NDResult, super_resolve_nd

HOLDOUT_FRACTION = ZSSRConfig.holdout_fraction


@dataclass
class AxialRun:
    result: NDResult
    quality: GainEstimate | None
    profile: dict | None          # the slice-profile estimate's record, when it was estimated


def axial_with_estimate(volume: np.ndarray, *, scale=None, pixel_sizes: dict | None = None,
                        config: ZSSRConfig | None = None, z_fwhm=None, z_fwhm_unit: str = "steps",
                        holdout_fraction: float = HOLDOUT_FRACTION, fusion: str = "geometric",
                        noise_aware: bool | None = None) -> AxialRun:
    """Axial restoration of one (Z, Y, X) volume, with its held-out quality estimate.

    z_fwhm: the slice-profile FWHM (a user value always wins), or None (or "estimate") to estimate
    it from the data, used when the estimate is reliable, else one z step (as every axial run;
    params["z_fwhm_estimate"]["used"] says which). holdout_fraction 0: train on every plane and
    measure nothing. noise_aware: sons get back the noise their downscaling removed, at the level
    measured in the data (ZSSR's noise on sons); None: the config's (on by default). No progress
    or cancel: the benchmarks and tests that call this watch neither (super_resolve_nd has both).
    """
    data = np.asarray(volume)
    check_values(data)
    if data.ndim != 3:
        raise ValueError(f"axial_with_estimate needs a (Z, Y, X) volume, got shape {data.shape}")
    if isinstance(z_fwhm, str):
        if z_fwhm != "estimate":
            raise ValueError(f"z_fwhm must be a number, None or 'estimate'; got {z_fwhm!r}")
        z_fwhm = None
    cfg = (config or ZSSRConfig()).replace(holdout_fraction=holdout_fraction)
    if noise_aware is not None:
        cfg = cfg.replace(noise_aware=bool(noise_aware))
    result = super_resolve_nd(data, "ZYX", mode="axial", scale=scale, pixel_sizes=pixel_sizes, config=cfg,
                              z_fwhm=z_fwhm, z_fwhm_unit=z_fwhm_unit, fusion=fusion)
    q = (result.params.get("quality") or [None])[0]
    return AxialRun(result, None if q is None else GainEstimate.from_dict(q), result.params.get("z_fwhm_estimate"))
