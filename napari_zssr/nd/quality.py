"""Axial runs that come with a quality estimate measured on held-out parts of the image itself.

`axial_with_estimate` trains the axial network exactly as `super_resolve_nd(mode="axial")` does,
except that a few evenly spaced xy planes are kept out of the training set; those planes, degraded
along y and along x as z was (slice profile, z step, and the noise the data has), measure how much
the network beats cubic interpolation (`engine.quality.held_out_gain`). When no z FWHM is given
it can also be estimated from the data (`profile_estimate`). The restoration itself is the
ordinary `super_resolve_nd` inference with the trained model, so the result has the usual record;
the estimate is added to `params["quality"]` (and the profile estimate to `params["z_fwhm_estimate"]`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.config import ZSSRConfig
from ..engine.kernels import fwhm_to_sigma, gaussian_kernel
from ..engine.quality import GainEstimate, held_out_gain, noise_kept
from ..engine.zssr import train
from .intensity import Normalizer, check_values
from .plan import NDResult, super_resolve_nd
from .profile_estimate import ProfileEstimate, estimate_z_fwhm, noise_variance

HOLDOUT_FRACTION = 0.1     # of the xy planes...
HOLDOUT_MAX = 4            # ...at most this many, at least one, and never the outermost planes


def holdout_planes(n_planes: int, fraction: float = HOLDOUT_FRACTION, most: int = HOLDOUT_MAX) -> list:
    """Evenly spaced interior planes to keep out of training (empty when fewer than 5 planes)."""
    if n_planes < 5 or fraction <= 0:
        return []
    k = int(min(most, max(1, round(fraction * n_planes))))
    return [int(i) for i in np.linspace(0, n_planes - 1, k + 2)[1:-1].round()]


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
    held = holdout_planes(vol.shape[0], holdout_fraction)
    trained = [vol[z][None] for z in range(vol.shape[0]) if z not in held]
    # as plan._axial: xy planes (rotations allowed: xy is isotropic), clipped to the dtype's range
    tcfg = cfg.replace(clip=norm.valid_range(), allow_rotation=True)
    if noise_aware:
        kept = noise_kept((64, 64), (f, 1.0), kernel)
        tcfg = tcfg.replace(noise_std=float(np.sqrt(noise_variance(vol) * max(0.0, 1.0 - kept))))
    model = train(trained, (f, 1.0), tcfg, kernel=kernel, progress=progress, cancel=cancel)
    result = super_resolve_nd(data, "ZYX", mode="axial", scale=f, pixel_sizes=pixel_sizes, config=cfg,
                              z_fwhm=z_fwhm, z_fwhm_unit=z_fwhm_unit, fusion=fusion, model=model,
                              progress=progress, cancel=cancel)
    quality = None
    if held:
        # each held-out plane degraded along y and (transposed) along x, as the xz and yz slices were
        fathers = [vol[z][None] for z in held] + [np.ascontiguousarray(vol[z].T)[None] for z in held]
        nv = noise_variance(vol[held])
        # inferred as plan._axial infers the slices: a stack, self-ensemble only with stack_ensemble
        icfg = tcfg.replace(ensemble=cfg.ensemble and cfg.stack_ensemble)
        quality = held_out_gain(model, fathers, noise_var=nv, config=icfg)
        result.params["quality"] = quality.to_dict() | {"held_out_planes": held}
    if profile is not None:
        result.params["z_fwhm_estimate"] = profile.to_dict() | {"used": profile.reliable}
    result.params["z_fwhm"], result.params["z_fwhm_unit"] = z_fwhm, z_fwhm_unit
    if noise_aware:
        result.params["noise_on_sons_std"] = tcfg.noise_std
    return AxialRun(result, quality, profile)
