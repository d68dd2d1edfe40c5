"""Estimate the axial slice profile (z FWHM) of an anisotropic volume from the volume itself.

The idea: a sample is statistically the same in every direction (the assumption axial mode rests
on), so a line along z looks like a line along y or x that was blurred by the slice profile and
sampled every z step. For each candidate FWHM, xy planes are blurred along y (and along x) with a
Gaussian of that FWHM and resampled at the z step; the power spectrum of those lines is compared
with the power spectrum of the real z lines, over the same length, window and frequencies. The
candidate whose spectrum matches best is the estimate.

Noise is white in all three directions, but blurring the lateral lines removes some of theirs: the
model adds back the noise that the blur removed (the noise variance is read off the corner of the xy
spectrum, where the lateral PSF has left only noise), so noisy data do not look sharper along z.

The result is the FWHM on top of the lateral blur, in xy pixels: exactly the axial kernel that the
training examples apply to xy planes (`plan.axial_kernel`). Pure numpy/scipy.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
MAX_Z_LINES = 1 << 16          # z lines used for the z spectrum (a strided subset of big volumes)
MAX_PLANES = 12                # xy planes used for the lateral model spectra
MIN_RELIABLE_LENGTH = 16       # z samples per line below which an estimate is never called reliable
NEAR_ONE_STEP = 1.25          # a reliable estimate within x/÷ this of one z step keeps one z step
GIVEN_MISMATCH = 1.5          # a given profile x/÷ this far from a reliable estimate gets a notice
# a profile wider than one z step is taken from the data only when a Gaussian slice profile explains
# the z spectrum this closely (the estimate's best cost): real volumes whose z blur came from the
# microscope (NEUBIAS widefield, 1.3-2.2 steps estimated where 0.7-1.5 were added) fit at 0.12-0.13,
# and simulated widefield-like haze at 0.16; an added Gaussian profile at 0.02-0.03 (brainreg), 0.006-0.009
# (simulated, 96x128x128) and up to 0.067 on small simulated volumes (64x96x96); results/real/
WIDE_FIT_MAX = 0.08           # (the level-matched fit's cost, as measured there)
# the shape and level fits within x/÷ this for a reliable estimate: on the real rows every reading off
# by more than 25 % that the shape fit alone called reliable had its level fit at a bound; on the
# simulator at 0.5 steps the shape fit was right and the level fit 1.4x wider
FITS_AGREE = 1.5
CANDIDATES = np.geomspace(0.15, 4.0, 41)   # candidate FWHMs, in z steps (refined by a parabola)


@dataclass
class ProfileEstimate:
    fwhm_px: float                # slice-profile FWHM in xy pixels
    factor: float                 # z step in xy pixels
    noise_var: float              # white-noise variance used by the model (data units squared)
    candidates_px: np.ndarray = field(repr=False)
    costs: np.ndarray = field(repr=False)
    # the same fit with the spectra's levels matched too (no free offset): where z lines and xy
    # lines differ in more than blur (the sample is not isotropic), the two fits disagree
    level_costs: np.ndarray = field(repr=False)
    line_length: int = 0          # z samples per compared line (the spectra's resolution)

    @property
    def fwhm_steps(self) -> float:
        """The FWHM in z steps (the `z_fwhm_unit="steps"` convention)."""
        return self.fwhm_px / self.factor

    @property
    def at_bound(self) -> bool:
        """True when the best candidate is the smallest or largest tried: the estimate is a bound."""
        i = int(np.argmin(self.costs))
        return i in (0, len(self.costs) - 1)

    def interval_px(self, tolerance: float = 0.25):
        """The candidates whose cost is within `tolerance` (relative) of the best: a flat cost
        curve (weak z detail, strong noise) gives a wide interval -- trust the estimate less."""
        ok = self.candidates_px[self.costs <= self.costs.min() * (1 + tolerance) + 1e-12]
        return float(ok.min()), float(ok.max())

    @property
    def level_fwhm_px(self) -> float:
        """The level-matched fit's FWHM (xy pixels)."""
        return float(np.exp(_refine(np.log(self.candidates_px), self.level_costs)))

    @property
    def fit_cost(self) -> float:
        """The level-matched fit's best cost: how closely a Gaussian slice profile explains z (WIDE_FIT_MAX)."""
        return float(self.level_costs.min())

    @property
    def fits_agree(self) -> bool:
        """The level-matched fit is not at a bound and within x/÷ FITS_AGREE of the shape fit. Where
        they disagree, z lines differ from xy lines by more than a slice profile would make them."""
        i = int(np.argmin(self.level_costs))
        ratio = self.level_fwhm_px / self.fwhm_px
        return i not in (0, len(self.level_costs) - 1) and 1 / FITS_AGREE <= ratio <= FITS_AGREE

    @property
    def reliable(self) -> bool:
        """Lines of at least MIN_RELIABLE_LENGTH z samples, not at a bound of the candidates, a
        plausible interval narrower than 2x (on a 64x64x12 volume the estimate was off by 2x), and the
        level-matched fit agreeing."""
        lo, hi = self.interval_px()
        return (self.line_length >= MIN_RELIABLE_LENGTH and not self.at_bound and hi / lo < 2.0
                and self.fits_agree)

    def to_dict(self) -> dict:
        lo, hi = self.interval_px()
        return {"z_fwhm_px": round(self.fwhm_px, 3), "z_fwhm_steps": round(self.fwhm_steps, 3),
                "interval_px": [round(lo, 3), round(hi, 3)], "reliable": self.reliable,
                "level_fit_steps": round(self.level_fwhm_px / self.factor, 3),
                "noise_var": float(self.noise_var), "fit_cost": round(self.fit_cost, 5)}


def _periodogram(lines: np.ndarray) -> np.ndarray:
    """Mean power spectrum of rows (N, L): mean removed, Hann window scaled so white noise of
    variance v gives v at every frequency."""
    n = lines.shape[-1]
    w = np.hanning(n + 2)[1:-1]
    w = w / math.sqrt(np.mean(w ** 2))
    x = (lines - lines.mean(axis=-1, keepdims=True)) * w
    return np.mean(np.abs(np.fft.rfft(x, axis=-1)) ** 2, axis=0) / n


def noise_variance(planes: np.ndarray) -> float:
    """White-noise variance of (P, Y, X) planes from the corner of their 2-D spectra (|ky|, |kx| >
    0.35 cycles/pixel), where an optical PSF sampled at or above Nyquist leaves only noise."""
    planes = np.asarray(planes, dtype=np.float64)
    h, w = planes.shape[-2:]
    ky = np.abs(np.fft.fftfreq(h))[:, None]
    kx = np.abs(np.fft.rfftfreq(w))[None, :]
    corner = (ky > 0.35) & (kx > 0.35)
    if not corner.any():
        return 0.0
    vals = []
    for p in planes:
        spec = np.abs(np.fft.rfft2(p - p.mean())) ** 2 / (h * w)
        vals.append(float(np.mean(spec[corner])))
    return float(np.mean(vals))


def _lateral_lines(planes: np.ndarray, sigma: float, factor: float, length: int) -> np.ndarray:
    """Blur (P, Y, X) planes along y, resample every `factor` pixels, cut into rows of `length`;
    the same along x. Returns (N, length)."""
    out = []
    for axis in (1, 2):
        blurred = ndimage.gaussian_filter1d(planes, sigma, axis=axis, mode="reflect") if sigma > 0 else planes
        n = planes.shape[axis]
        pos = (factor - 1) / 2.0 + factor * np.arange(int((n - 1 - (factor - 1) / 2.0) // factor) + 1)
        if np.allclose(pos, np.round(pos)):
            sampled = np.take(blurred, np.round(pos).astype(int), axis=axis)
        else:   # cubic spline: exact at integer positions, smooth in between (the lines are blurred)
            sampled = _resample(blurred, pos, axis)
        lines = np.moveaxis(sampled, axis, -1).reshape(-1, sampled.shape[axis])
        segs = lines.shape[1] // length
        if segs:
            out.append(lines[:, :segs * length].reshape(-1, length))
    if not out:
        raise ValueError("the xy planes are too small for the z profile estimate")
    return np.concatenate(out)


def _resample(planes: np.ndarray, pos: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(planes, axis, -1)
    flat = moved.reshape(-1, moved.shape[-1])
    coeffs = ndimage.spline_filter1d(flat, order=3, axis=-1, mode="mirror")
    lo = np.floor(pos).astype(int)
    t = pos - lo
    # cubic B-spline basis on the prefiltered coefficients
    idx = [np.clip(lo + d, 0, flat.shape[-1] - 1) for d in (-1, 0, 1, 2)]
    b = [(1 - t) ** 3 / 6, (3 * t ** 3 - 6 * t ** 2 + 4) / 6, (-3 * t ** 3 + 3 * t ** 2 + 3 * t + 1) / 6, t ** 3 / 6]
    res = sum(bi * coeffs[:, ii] for bi, ii in zip(b, idx))
    return np.moveaxis(res.reshape(moved.shape[:-1] + (len(pos),)), -1, axis)


def _gauss_taps(sigma: float) -> np.ndarray:
    """The taps scipy's gaussian_filter1d uses (truncate 4), normalised."""
    if sigma <= 0:
        return np.ones(1)
    r = int(4.0 * sigma + 0.5)
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return g / g.sum()


def _z_spectrum(vol: np.ndarray, sigma: float, axis: int, length: int, segs: int) -> np.ndarray:
    blurred = ndimage.gaussian_filter1d(vol, sigma, axis=axis, mode="reflect") if sigma > 0 else vol
    lines = np.moveaxis(blurred, 0, -1).reshape(-1, vol.shape[0])
    return _periodogram(lines[:, :segs * length].reshape(-1, length))


def _evenly(n: int, k: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(int))


def estimate_z_fwhm(volume: np.ndarray, factor: float, *, candidates_steps: Sequence[float] | None = None,
                    noise_var: float | None = None) -> ProfileEstimate:
    """Slice-profile FWHM of a (Z, Y, X) volume whose z step is `factor` xy pixels.

    Returns a ProfileEstimate (fwhm_px in xy pixels, fwhm_steps in z steps). Raises ValueError on
    volumes too small to tell (fewer than 6 planes, or planes smaller than 6 z steps).
    """
    vol = np.asarray(volume, dtype=np.float64)
    if vol.ndim != 3:
        raise ValueError(f"the z profile estimate needs a (Z, Y, X) volume, got shape {vol.shape}")
    factor = float(factor)
    if not math.isfinite(factor) or factor <= 1:
        raise ValueError(f"the z step must be coarser than the xy pixels (factor > 1); got {factor:g}")
    nz, ny, nx = vol.shape
    if nz < 6:
        raise ValueError(f"the volume has {nz} z planes; the z profile estimate needs at least 6")
    if max(ny, nx) < 6 * factor:
        raise ValueError("the xy planes are too small for the z profile estimate")
    if not np.all(np.isfinite(vol)):
        raise ValueError("the volume contains NaN or Inf values")
    length = min(nz, int(max(ny, nx) // factor))
    segs = nz // length
    # z lines blurred along x (or y) by the candidate: then a z line and a lateral line see the same
    # blurs -- the slice profile along the line and one lateral blur across it -- and only then are
    # their spectra equal (xy planes are z-blurred by the true profile across their lines)
    step = max(1, math.ceil(ny * nx / MAX_Z_LINES))      # every step-th row: at most MAX_Z_LINES lines
    zsub = (vol[:, ::step, :], vol[:, :, ::step])       # blurred along x, along y
    planes = vol[_evenly(nz, MAX_PLANES)]
    nv = noise_variance(planes) if noise_var is None else float(noise_var)
    white = np.random.default_rng(0).normal(size=(min(len(planes), 4),) + planes.shape[1:])

    cands = np.asarray(CANDIDATES if candidates_steps is None else candidates_steps, dtype=np.float64) * factor
    k = slice(1, None)                      # every frequency but the (removed) mean
    costs, level_costs = [], []
    for fwhm in cands:
        sigma = fwhm / FWHM_PER_SIGMA
        p_z = np.mean([_z_spectrum(sub, sigma, axis, length, segs) for sub, axis in zip(zsub, (2, 1))], axis=0)
        p_lat = _periodogram(_lateral_lines(planes, sigma, factor, length))
        # noise: the across-line blur leaves sum(g^2) of it on the z lines (white); the along-line
        # blur and resampling leave a coloured part on the lateral lines (measured on white noise)
        kept_z = float(np.sum(_gauss_taps(sigma) ** 2))
        kept_lat = _periodogram(_lateral_lines(white, sigma, factor, length))
        model = np.clip(p_lat + nv * (kept_z - kept_lat), 1e-3 * p_lat, None)
        # frequencies weighted by their signal share: where noise dominates, the spectra say nothing
        signal = np.clip(p_z - nv * kept_z, 0.0, None)
        w = (signal / (signal + nv * kept_z + 1e-30))[k]
        r = np.log(model[k] + 1e-30) - np.log(p_z[k] + 1e-30)
        wsum = max(float(np.sum(w)), 1e-12)
        level_costs.append(float(np.sum(w * r ** 2) / wsum))
        # shape only: the log spectra may differ by a constant (z lines through a flat cell or a
        # nucleus carry less variance than xy lines through it); the blur is in how the ratio changes
        # with frequency. On the real rows: 30 of 48 within 25 %, against 13 with the level fit alone
        costs.append(float(np.sum(w * (r - np.sum(w * r) / wsum) ** 2) / wsum))
    costs, level_costs = np.asarray(costs), np.asarray(level_costs)
    best = _refine(np.log(cands), costs)
    return ProfileEstimate(float(np.exp(best)), factor, nv, cands, costs, level_costs, length)


def profile_record(volume: np.ndarray, factor: float) -> dict | None:
    """The estimate as a run records it, with "used": True when reliable and not within NEAR_ONE_STEP
    of one z step (an unreliable estimate -- flat cost curve: weak z detail or strong noise -- is
    reported, not used; "near_one_step": reliable, but one z step is kept); None when the volume is
    too small to tell."""
    try:
        est = estimate_z_fwhm(volume, factor)
    except ValueError:
        return None
    # within the estimator's accuracy of one z step (the usual sectioning, and the default), the
    # estimate is no evidence against it: moving by a near-miss costs (-0.12 dB measured) and gains little
    near = est.reliable and 1 / NEAR_ONE_STEP <= est.fwhm_steps <= NEAR_ONE_STEP
    # z blurrier than one step is what the microscope's axial PSF does too: on real volumes a wide
    # estimate (1.4-1.9 steps where one step was added) made the run restore the PSF as well and lose
    # to cubic (benchmarks/results/real/). A wider profile is taken from the data only when a Gaussian
    # slice profile fits the z spectrum closely (WIDE_FIT_MAX); else it is reported, one step is used
    wider = est.reliable and est.fwhm_steps > NEAR_ONE_STEP and est.fit_cost > WIDE_FIT_MAX
    used = est.reliable and not near and not wider
    # one z step is assumed, but the z lines read sharper than that (reliable or not): back-projection
    # would force the assumed, too wide profile onto the result. On the real rows it cost 0.4-0.6 dB
    # where the truth was 0.7 steps, and dropping it cost at most 0.07 where one step was right
    # (results/real/axial_real.md); the simulator's noisy rows read narrow too, and there it costs
    # more (results/real/sim_reference_noise.md)
    return est.to_dict() | {"used": used, "near_one_step": bool(near), "wider_than_one_step": bool(wider),
                            "narrower_than_one_step": bool(not used and est.fwhm_steps < 1.0)}


def slice_profile(spec, run, estimate):
    """(the slice-profile record of an axial run, the spec to run with). No profile given: the
    data's estimate, whose FWHM (in z steps) the spec takes when it is used; a given z FWHM: the
    estimate beside it (`check_given`). (None, spec) otherwise (lateral, a kernel or cubic).
    spec / run: nd.spec's RunSpec and its Resolved; estimate(factor) -> profile_record of the data."""
    if spec.mode != "axial":
        return None, spec
    if spec.z_fwhm is None and spec.kernel is None:
        record = estimate(run.sf[0])
        if record is not None and record.get("used"):
            spec = replace(spec, z_fwhm=record["z_fwhm_steps"], z_fwhm_unit="steps")
        return record, spec
    if spec.z_fwhm is not None and run.kernel is not None:
        given_steps = spec.axial_fwhm_px(run.sf[0], run.pixel_sizes) / run.sf[0]
        return check_given(estimate(run.sf[0]), given_steps), spec
    return None, spec


def check_given(record: dict | None, given_steps: float) -> dict | None:
    """A slice profile the user gave (in z steps) beside the data's own estimate: the given one is
    used either way; "disagrees" when a reliable estimate is more than GIVEN_MISMATCH times wider or
    narrower (the held-out quality estimate cannot see a wrong profile: its test degrades with the
    same one). None when the volume is too small to tell."""
    if record is None:
        return None
    ratio = record["z_fwhm_steps"] / float(given_steps)
    disagrees = bool(record["reliable"]) and not (1 / GIVEN_MISMATCH <= ratio <= GIVEN_MISMATCH)
    return record | {"used": False, "near_one_step": False, "narrower_than_one_step": False,
                     "given_steps": round(float(given_steps), 3), "disagrees": disagrees}


def back_projection_off(record: dict | None, back_projection_auto: bool = True) -> bool:
    """True when a run that assumes one z step should not back-project (`narrower_than_one_step`);
    never for a given or used profile, nor where the user asked to always back-project."""
    return bool(back_projection_auto and record and record.get("narrower_than_one_step"))


def profile_notice(record: dict) -> str | None:
    """One line for the user: the estimate and whether the run used it (None: a given profile that
    the data do not contradict, nothing to say)."""
    fwhm = f"FWHM {record['z_fwhm_steps']:.2f} z steps"
    if "given_steps" in record:
        if not record["disagrees"]:
            return None
        return (f"the z FWHM given ({record['given_steps']:.2f} z steps) is far from the data's own estimate "
                f"({fwhm}); the given value was used: check it, a wrong slice profile costs quality that the "
                f"expected gain cannot show")
    if record["used"]:
        return f"slice profile estimated from the data: {fwhm} (give a z FWHM to override)"
    if record.get("wider_than_one_step"):
        return (f"the z lines look blurrier than one z step ({fwhm}), but not as a slice profile would blur "
                f"them: likely the microscope's axial blur, which the data cannot tell apart from it; assumed one "
                f"z step (give the z FWHM if the slice profile really is that wide)")
    if record.get("near_one_step"):
        return (f"slice profile estimated from the data: {fwhm}, within {NEAR_ONE_STEP - 1:.0%} of one z step; "
                f"assumed one z step (give a z FWHM to override)"
                + ("; not back-projected onto it, as the z lines read sharper" if
                   record.get("narrower_than_one_step") else ""))
    text = (f"the slice-profile estimate ({fwhm}) is unreliable on these data; assumed one z step "
            f"(give a z FWHM if you know it)")
    if record.get("narrower_than_one_step"):
        text += ("; the z lines read sharper than one step, so the result is not back-projected onto the "
                 "assumed profile")
    return text


def _refine(x: np.ndarray, y: np.ndarray) -> float:
    """Minimum of a parabola through the best point and its neighbours (the best point at an end)."""
    i = int(np.argmin(y))
    if i == 0 or i == len(y) - 1:
        return float(x[i])
    x0, x1, x2 = x[i - 1:i + 2]
    y0, y1, y2 = y[i - 1:i + 2]
    denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
    b = (x2 ** 2 * (y0 - y1) + x1 ** 2 * (y2 - y0) + x0 ** 2 * (y1 - y2)) / denom
    if a <= 0:
        return float(x1)
    return float(np.clip(-b / (2 * a), x0, x2))
