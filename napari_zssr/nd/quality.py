"""Axial runs of one volume with the slice-profile estimate and the held-out quality estimate at hand.

Every `super_resolve_nd` run keeps a few xy planes out of training and measures on them how much
the network beats cubic interpolation (`nd.holdout`); `axial_with_estimate` is that run for one
(Z, Y, X) volume, returning the estimate as a `GainEstimate`, and, when no z FWHM is given, it can
estimate the slice profile from the data first (`profile_estimate`, recorded in
`params["z_fwhm_estimate"]`). The benchmarks use it to put the estimate beside the true gain.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.config import ZSSRConfig
from ..engine.kernels import fwhm_to_sigma, gaussian_kernel
from ..engine.quality import GainEstimate, noise_kept
from .intensity import Normalizer, check_values
from .plan import NDResult, super_resolve_nd
from .profile_estimate import ProfileEstimate, estimate_z_fwhm, noise_variance

HOLDOUT_FRACTION = ZSSRConfig.holdout_fraction


def _axial_factor_and_kernel(scale, ps: dict, z_fwhm, unit: str):
    """The z factor and the Gaussian slice-profile kernel (K, 1) in xy pixels: the same rule as the
    axial plan's (kept local so this module does not depend on how plan/spec spell it; the test
    comparing with super_resolve_nd bit for bit guards that they agree)."""
    if scale is not None:
        f = float(scale if np.isscalar(scale) else scale[0])
    else:
        xy = [ps[a] for a in "yx" if ps.get(a)]
        if not ps.get("z") or not xy:
            raise ValueError("axial mode needs a z factor, or z and xy pixel sizes to derive it from")
        f = ps["z"] / float(np.mean(xy))
    if not np.isfinite(f) or f <= 1:
        raise ValueError(f"axial factor must be > 1 (z step coarser than xy); got {f:g}")
    if z_fwhm is None:
        fwhm_px = f                                   # unknown profile: as wide as one z step
    elif unit == "steps":
        fwhm_px = float(z_fwhm) * f
    else:
        xy = [ps[a] for a in "yx" if ps.get(a)]
        if unit != "um" or not xy:
            raise ValueError("z FWHM in um needs the xy pixel size")
        fwhm_px = float(z_fwhm) / float(np.mean(xy))
    if not np.isfinite(fwhm_px) or fwhm_px <= 0 or fwhm_px > 64 * f:
        raise ValueError(f"z FWHM of {fwhm_px:g} xy pixels is not plausible")
    return f, gaussian_kernel(fwhm_to_sigma(fwhm_px), 0.0)


@dataclass
class AxialRun:
    result: NDResult
    quality: GainEstimate | None
    profile: ProfileEstimate | None


def axial_with_estimate(volume: np.ndarray, *, scale=None, pixel_sizes: dict | None = None,
                        config: ZSSRConfig | None = None, z_fwhm=None, z_fwhm_unit: str = "steps",
                        holdout_fraction: float = HOLDOUT_FRACTION, fusion: str = "geometric",
                        noise_aware: bool = False, progress=None, cancel=None) -> AxialRun:
    """Axial restoration of one (Z, Y, X) volume, with a held-out quality estimate.

    z_fwhm: the slice-profile FWHM (a user value always wins), None for the default of one z
    step, or "estimate" to estimate it from the data (used when the estimate is reliable, else
    the default; params["z_fwhm_estimate"]["used"] says which). holdout_fraction 0: train on every plane
    (exactly `super_resolve_nd`'s training) and measure nothing. noise_aware (experimental, off
    by default): sons get back the noise their downscaling removed (ZSSR's noise on sons, at the
    level measured in the data), so the network sees inputs as noisy as the real z lines.
    """
    data = np.asarray(volume)
    check_values(data)
    if data.ndim != 3:
        raise ValueError(f"axial_with_estimate needs a (Z, Y, X) volume, got shape {data.shape}")
    cfg = config or ZSSRConfig()
    ps = {k.lower(): float(v) for k, v in (pixel_sizes or {}).items() if v}
    f, _ = _axial_factor_and_kernel(scale, ps, None, "steps")
    norm = Normalizer.fit(data)
    vol = norm.forward(data)                                           # (Z, Y, X), as plan normalises
    profile = None
    if isinstance(z_fwhm, str):
        if z_fwhm != "estimate":
            raise ValueError(f"z_fwhm must be a number, None or 'estimate'; got {z_fwhm!r}")
        profile = estimate_z_fwhm(vol, f)
        # an unreliable estimate (flat cost curve: weak z detail or strong noise, seen at x2 and
        # <= 200 photons) is reported but not used: the default of one z step is the safer guess
        z_fwhm, z_fwhm_unit = (profile.fwhm_steps if profile.reliable else None), "steps"
    _, kernel = _axial_factor_and_kernel(f, ps, z_fwhm, z_fwhm_unit)
    # the ordinary axial run: it holds out planes, measures and picks back-projection itself
    tcfg = cfg.replace(holdout_fraction=holdout_fraction)
    if noise_aware:
        kept = noise_kept((64, 64), (f, 1.0), kernel)
        tcfg = tcfg.replace(noise_std=float(np.sqrt(noise_variance(vol) * max(0.0, 1.0 - kept))))
    result = super_resolve_nd(data, "ZYX", mode="axial", scale=f, pixel_sizes=pixel_sizes, config=tcfg,
                              z_fwhm=z_fwhm, z_fwhm_unit=z_fwhm_unit, fusion=fusion,
                              progress=progress, cancel=cancel)
    q = (result.params.get("quality") or [None])[0]
    quality = None if q is None else GainEstimate.from_dict(q)
    if profile is not None:
        result.params["z_fwhm_estimate"] = profile.to_dict() | {"used": profile.reliable}
    result.params["z_fwhm"], result.params["z_fwhm_unit"] = z_fwhm, z_fwhm_unit
    if noise_aware:
        result.params["noise_on_sons_std"] = tcfg.noise_std
    return AxialRun(result, quality, profile)
