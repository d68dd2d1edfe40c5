"""Held-out parts of the image: what every run measures its expected gain over cubic on.

A stack (or a volume's xy planes, in axial mode) keeps a few evenly spaced interior planes out of
training; a single image (or fewer than five planes) keeps a band at its far end instead. Those
parts, degraded exactly as the input was (`quality.gain.held_out_gain`), tell without ground
truth how much the network beats cubic interpolation -- and whether back-projection helps or
hurts on this data, so that it is used only where it helps.

Their edges are shaved off (mirror padding, not image content), except along an axial run's z:
a volume has few planes, and its first and last ones, which every method extrapolates, are a real
part of the result (8 % of 96 planes at x4); there the held-out parts' own edge rows count with
that share (`edge_share`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..engine.config import ZSSRConfig
from ..engine.examples import central_crop
from ..engine.noise import NoiseModel, fit_noise_model
from .gain import (MESSAGE, WARNING, GainEstimate, fused_estimate, held_out_gain, measurable,
                              noise_gain)
from .deaverage import deaverage, slice_sigma
from .profile_estimate import WIDE_FIT_MAX, noise_variance

MAX_FRACTION = 0.5         # more held out than this leaves too little to learn from
HOLDOUT_MAX = 4            # planes held out at most, at least one, never the outermost planes
MIN_PLANES = 5             # fewer planes than this: hold out a band of each instead
MIN_BAND = 16              # a band keeps at least this many rows (and 8x the factor)
# the check runs the network (with its ensemble) four times per held-out part: a central crop of
# this many pixels measures as well as a 2048^2 plane, at 1/16 of the cost (the real network on
# four such planes took more than the rest of a 16-plane chunked run's first six minutes on a CPU)
MAX_FATHER_PIXELS = 512 * 512


def holdout_planes(n_planes: int, fraction: float, most: int = HOLDOUT_MAX) -> list:
    """Evenly spaced interior planes to keep out of training (empty when fewer than 5 planes)."""
    if n_planes < MIN_PLANES or fraction <= 0:
        return []
    k = int(min(most, max(1, round(fraction * n_planes))))
    return [int(i) for i in np.linspace(0, n_planes - 1, k + 2)[1:-1].round()]


def band_size(length: int, sf: float, fraction: float) -> int:
    """Rows of a band held out across an axis of `length` pixels (0: the image is too small, since
    what is left must stay at least four bands long)."""
    if fraction <= 0:
        return 0
    b = max(int(round(fraction * length)), MIN_BAND, int(math.ceil(8 * sf)))
    return b if length >= 5 * b else 0


@dataclass
class Holdout:
    train: list                     # sources to train on, (C, H, W) each
    held: list                      # the held-out parts, (C, h, w) each
    both_axes: bool = False         # fathers: the held-out parts, and also transposed
    where: dict = field(default_factory=dict)   # recorded: {"planes": [...]} or {"band": {...}}

    @property
    def fathers(self) -> list:
        flipped = [np.ascontiguousarray(np.swapaxes(f, -1, -2)) for f in self.held] if self.both_axes else []
        return list(self.held) + flipped

    def noise_variance(self) -> float:
        """White-noise variance of the held-out parts (from the corner of their spectra)."""
        return noise_variance(self._planes())

    def noise_model(self, mean_variance: float) -> NoiseModel:
        """How that variance follows the signal in the held-out parts (Poisson-Gaussian)."""
        return fit_noise_model(self._planes(), mean_variance)

    def _planes(self) -> np.ndarray:
        return np.concatenate([f.reshape(-1, *f.shape[-2:]) for f in self.held])


def split(planes, sf, fraction: float, *, both_axes: bool = False) -> Holdout:
    """Split (C, H, W) planes into training sources and held-out fathers.

    both_axes: the held-out fathers also come transposed (axial: xy planes stand for xz and yz
    slices, degraded along y and along x as z was)."""
    planes = list(planes)
    held = holdout_planes(len(planes), fraction)
    if held:
        fathers = [planes[i] for i in held]
        train = [p for i, p in enumerate(planes) if i not in held]
        where = {"planes": held}
    else:
        # a band across the longer lateral axis, at its far end, of every plane
        h, w = planes[0].shape[-2:]
        axis = -2 if h >= w else -1
        b = band_size(planes[0].shape[axis], max(sf), fraction)
        if not b:
            return Holdout(planes, [])
        cut = planes[0].shape[axis] - b
        if axis == -2:
            train, fathers = [p[:, :cut] for p in planes], [p[:, cut:] for p in planes]
        else:
            train, fathers = [p[:, :, :cut] for p in planes], [p[:, :, cut:] for p in planes]
        where = {"band": {"axis": "y" if axis == -2 else "x", "start": int(cut), "size": int(b)}}
    cropped = [np.ascontiguousarray(central_crop(f, MAX_FATHER_PIXELS)) for f in fathers]
    if cropped[0].shape != fathers[0].shape:
        where["cropped_to"] = [int(n) for n in cropped[0].shape[-2:]]
    return Holdout(train, cropped, both_axes, where)


# The true gain minus the held-out estimate of an axial run, as far as real volumes showed it
# (benchmarks/axial_real.py, results/real/axial_real.md: the NEUBIAS nucleus and the brainreg brain,
# x2-x4, slice profiles 0.7-1.5 steps: -1.8 to +2.5 dB; rounded outwards): the held-out parts are xy
# planes, and real z lines differ from them (the axial PSF, objects not isotropic) in ways no test on
# xy planes can see, in either direction.
AXIAL_ERROR_DB = (-2.0, 2.5)
# When the slice profile was assumed (one z step: none given, and the data's estimate unreliable or
# not taken), a profile that differs leaves less to gain than the test -- which degrades with the
# assumed profile -- can see: on real rows whose profile was 0.7 or 1.5 steps, taken for one, the truth
# was up to 7.5 dB below the estimate (results/real/axial_real.md: conf x2 p0.7 +1.40 vs +8.94 expected);
# rounded outwards. The message says the figure holds only if the assumption does, and the range then
# reaches below 0 unless the estimate is very high: such a run always says to compare with cubic.
AXIAL_ASSUMED_ERROR_DB = (-8.0, 2.5)
# The same for a lateral run (one image, a stack's planes): the truth minus the held-out estimate was
# -1.6 to +0.2 dB on real microscopy planes (results/real/lateral_real.md) and -1.6 to +3.4 dB on Set5
# and simulated planes (results/holdout_lateral_fast.md); rounded outwards. A held-out band or plane
# is not the rest of the image, and an image's parts differ.
LATERAL_ERROR_DB = (-2.0, 3.5)
# Where the held-out test cannot speak for z (held_out_untrusted), the truth minus the estimate on such
# real rows (NEUBIAS confocal and widefield, brainreg a; results/real/axial_real.md, session 14) was
# -7.0 to +3.2 dB (the confocal nucleus as acquired, x2: +4.79 true, +1.57 estimated); rounded outwards.
AXIAL_UNTRUSTED_ERROR_DB = (-8.0, 3.5)
# Fusing two results A, B removes |A-B|^2/4 of their mean error; for errors that are independent it
# removes exactly half, and less when they are correlated (two passes of one network share its bias:
# 0.01-0.16 on the simulated and the trusted real volumes). A larger share of the held-out error means
# that error is below what this volume's two results show: the test does not speak for it (the
# NEUBIAS confocal nucleus at x2-x3: 0.5-2.6, its fused figure up to 7 dB too high). Not fitted: the bound.
FUSION_MAX_SHARE = 0.5
# Back-projection in an axial run is dropped only when the held-out planes say it costs more than
# this: on every real row with the right profile it did better than without (by 0.03-0.4 dB, results/real/), while on
# a real volume we lack the held-out choice dropped it for a -0.55 dB loss; on simulated noisy
# volumes it costs 1.5-2.7 dB (archive/axial_realistic_notes.md), far beyond this margin.
AXIAL_BP_MARGIN_DB = 0.5
AXIAL_MESSAGE = ("expected gain over cubic: {gain:+.1f} dB, likely {lo:+.1f} to {hi:+.1f} dB (measured on held-out "
                 "xy planes of this volume; on real volumes z differs from xy by more than the test can see)")
ASSUMED_MESSAGE = ("expected gain over cubic: {gain:+.1f} dB if the slice profile is one z step, as assumed (none "
                   "was given and the data could not tell); likely {lo:+.1f} to {hi:+.1f} dB: give the z FWHM to "
                   "narrow this")
MAY_LOSE_UNTRUSTED = ("the result may be no better than cubic interpolation: on these data the expected gain cannot "
                      "be measured; compare with cubic before relying on it")
FUSION_UNTRUSTED_MESSAGE = ("no expected gain to trust: the xz and yz results disagree by more than the error "
                            "measured on held-out xy planes allows, so that test does not speak for this volume's z; "
                            "likely {lo:+.1f} to {hi:+.1f} dB over cubic")
UNTRUSTED_MESSAGE = ("no expected gain to trust: the z lines differ from the xy planes by more than a slice profile "
                     "explains, and the held-out test sees only xy planes (on such real volumes it was up to 7.5 dB "
                     "too high); likely {lo:+.1f} to {hi:+.1f} dB over cubic")
LATERAL_MESSAGE = ("expected gain over cubic: {gain:+.1f} dB, likely {lo:+.1f} to {hi:+.1f} dB (measured on a held-out "
                   "part of this image; the rest of an image can differ from it)")
MAY_LOSE = ("the result may be no better than cubic interpolation: the expected gain ({gain:+.1f} dB) is within "
            "what the estimate missed by on real data (as low as {lo:+.1f} dB); compare with cubic before "
            "relying on it, and check the kernel (or z FWHM) and the factor")


def edge_share(length_out: int, factor: float) -> float:
    """Share of an axis of `length_out` output pixels, upscaled by `factor`, that lies within
    ceil(factor) of its ends: planes that every method extrapolates from mirror padding. An axial
    volume has few z planes, so they weigh in its result (noise-free old-x4 row, 96 planes: the
    gain is +5.39 dB with them, +5.88 without; the held-out planes, shaved, read +6.07)."""
    return min(1.0, 2 * math.ceil(factor) / max(int(length_out), 1))


def measure(model, hold: Holdout, icfg: ZSSRConfig, *, noisy: bool = False, deaverage_planes: bool | None = None,
            edge: float | None = None):
    """The gain over cubic on the held-out fathers with the run's inference settings, and those
    settings with back-projection kept only if it does better there (back_projection_auto).

    noisy: correct for the data's noise, measured on the held-out parts. Right where the planes
    are optically oversampled (a volume's xy planes); a lateral input is the undersampled image
    itself, whose finest detail is not noise.
    deaverage_planes: first give the held-out planes the spectrum of planes not averaged over the
    slice profile (quality/deaverage.py); default: in axial mode (both_axes), where they stand for z
    lines of an isotropic volume. edge: the output's `edge_share` along the upscaled axis (axial:
    z), with which the held-out parts' own edge rows count (None: shaved off).
    Returns (record dict or None, inference config)."""
    sf = getattr(model, "sf", None)
    if not hold.held or (sf is not None and not all(measurable(f.shape[-2:], sf) for f in hold.fathers)):
        return None, icfg             # too small to measure on: no estimate rather than a crash
    fathers = hold.fathers
    noise_var = hold.noise_variance() if noisy else 0.0
    nm = hold.noise_model(noise_var) if noise_var > 0 else None
    record = {"noise_model": nm.to_dict()} if nm else {}
    sharpen = hold.both_axes if deaverage_planes is None else deaverage_planes
    sigma = slice_sigma(model.kernel, axis=0) if sharpen else 0.0
    filt = None
    if sigma > 0:
        held, filt = deaverage(hold.held, sigma, noise_var)
        fathers = Holdout([], held, hold.both_axes).fathers
        record["deaveraged"] = {"slice_sigma_px": round(sigma, 3),
                                "noise_gain": round(noise_gain(filt, held[0].shape[-2:]), 3)}
    est = held_out_gain(model, fathers, noise_var=noise_var, config=icfg, noise_model=nm, noise_filter=filt,
                        edge_share=edge)
    if icfg.back_projection_auto and icfg.back_projection_iters > 0:
        off_cfg = icfg.replace(back_projection_iters=0)
        off = held_out_gain(model, fathers, noise_var=noise_var, config=off_cfg, noise_model=nm, noise_filter=filt,
                            edge_share=edge)
        # axial: dropped only for a clear loss on the held-out planes (noisy data), not for a near tie
        # that real z lines do not bear out
        margin = AXIAL_BP_MARGIN_DB if hold.both_axes else 0.0
        drop = off.gain_db > est.gain_db + margin
        record["back_projection"] = {"gain_with_db": round(est.gain_db, 3), "gain_without_db": round(off.gain_db, 3),
                                     "used": not drop}
        if drop:
            est, icfg = off, off_cfg
    if edge is not None:
        record["edge_share"] = round(float(edge), 4)
    if not hold.both_axes:      # axial records get theirs after the fusion correction (with_fusion)
        record["expected_gain_range_db"] = gain_range(est.gain_db, LATERAL_ERROR_DB)
        record["range_of"] = "lateral"
    return est.to_dict() | {"held_out": hold.where} | record, icfg


def gain_range(gain_db: float, error_db: tuple) -> list:
    """[low, high]: where the true gain fell, given the estimate, on the real data measured."""
    return [round(gain_db + error_db[0], 2), round(gain_db + error_db[1], 2)]


def fusion_sums(a: np.ndarray, b: np.ndarray, fused: np.ndarray, z_range: tuple) -> tuple:
    """(sum (A-B)^2, sum (F-(A+B)/2)^2, count) over output planes z_range of the xz and yz results
    A, B and their fusion F (each (C, Z', Y, X), normalised), plane by plane (no full-size temporaries)."""
    d = e = 0.0
    for i in range(*z_range):
        ai, bi = a[:, i].astype(np.float64), b[:, i].astype(np.float64)
        d += float(np.sum((ai - bi) ** 2))
        e += float(np.sum((fused[:, i] - 0.5 * (ai + bi)) ** 2))
    return d, e, int(max(0, z_range[1] - z_range[0]) * a[:, 0].size)


def fusion_z_range(z_out: int, factor: float) -> tuple:
    """Output planes the fusion correction is measured on: all but ceil(factor) at each end (their
    mirror padding is no image content, as the held-out measure shaves its borders)."""
    s = math.ceil(factor)
    return (s, z_out - s) if z_out > 2 * s + 1 else (0, z_out)


def with_fusion(record: dict | None, sums, how: str) -> dict | None:
    """An axial record corrected for the fusion of the xz and yz results: the held-out planes
    measure one direction at a time, while fusing two results whose errors differ cancels part of
    them (most of the noise, on noisy data). sums: fusion_sums(...), or several added up."""
    if not record or record.get("mse_model") is None or not sums[2]:
        return record
    d, e = sums[0] / sums[2], (sums[1] / sums[2] if how != "arithmetic" else 0.0)
    est = fused_estimate(GainEstimate.from_dict(record), d, e)
    share = d / 4.0 / record["mse_model"] if record["mse_model"] > 0 else None     # None: a flawless test
    inconsistent = share > FUSION_MAX_SHARE if share is not None else d > 0
    out = {**record, **est.to_dict(), "single_direction_gain_db": record["expected_gain_db"],
           "fusion": {"how": how, "disagreement_mse": float(f"{d:.6g}"), "excess_mse": float(f"{e:.6g}"),
                      "share": None if share is None else float(f"{share:.4g}")},
           "expected_gain_range_db": gain_range(est.gain_db, AXIAL_UNTRUSTED_ERROR_DB if inconsistent
                                                else AXIAL_ERROR_DB), "range_of": "axial"}
    return out | ({"held_out_trusted": False, "fusion_inconsistent": True} if inconsistent else {})


def profile_assumed(profile: dict | None) -> bool:
    """An axial run's slice-profile record says one z step was assumed, not given, measured or confirmed."""
    return bool(profile) and not profile.get("used") and not profile.get("near_one_step") \
        and "given_steps" not in profile


def held_out_untrusted(profile: dict | None) -> bool:
    """The z lines differ from the xy planes by more than a Gaussian slice profile explains (the
    profile estimate's level-matched fit costs more than WIDE_FIT_MAX): the held-out test, made on xy
    planes, cannot speak for z. On the real rows (results/real/axial_real.md) such volumes (the NEUBIAS
    nucleus, confocal and widefield, and one brainreg half, fit costs 0.09-4.9) had the estimate off by
    -2.3 to +7.5 dB, mostly too high; the one whose fit held (brainreg b, 0.02-0.05) by -1.4 to +0.8."""
    return bool(profile) and float(profile.get("fit_cost", 0.0)) > WIDE_FIT_MAX


def with_profile(quals: list, profile: dict | None) -> list:
    """Axial records with the wider range of an assumed slice profile (AXIAL_ASSUMED_ERROR_DB), or of
    a held-out test that cannot speak for z (held_out_untrusted, AXIAL_UNTRUSTED_ERROR_DB: then no
    figure is reported, only the range)."""
    untrusted, assumed = held_out_untrusted(profile), profile_assumed(profile)
    if not (untrusted or assumed):
        return quals
    extra = ({"profile_assumed": True} if assumed else {}) | \
        ({"held_out_trusted": False, "z_differs_from_xy": True} if untrusted else {})

    def error(q):           # a record the fusion check already distrusts keeps the untrusted range
        return AXIAL_UNTRUSTED_ERROR_DB if untrusted or q.get("held_out_trusted") is False else AXIAL_ASSUMED_ERROR_DB
    return [q | {"expected_gain_range_db": gain_range(q["expected_gain_db"], error(q))} | extra
            if q and q.get("range_of") == "axial" else q for q in quals]


def summary(params: dict):
    """(message, warning or None) for a run's record; (None, None) when nothing was measured.

    Several networks (channels, time points): the lowest estimate speaks for the result. A record
    carries the range the true gain fell in on real data (`expected_gain_range_db`; axial: real
    volumes, lateral: real planes and images): the message gives it, and a range that reaches below
    0 dB says the result may lose to cubic."""
    qs = [q for q in (params.get("quality") or []) if q]
    if not qs:
        return None, None
    untrusted = [q for q in qs if q.get("held_out_trusted") is False]
    worst = min(untrusted or qs, key=lambda q: q["expected_gain_db"])     # a withheld figure speaks first
    est = GainEstimate.from_dict(worst)
    span = worst.get("expected_gain_range_db")
    msg = MESSAGE.format(gain=est.gain_db)
    if span:
        text = (LATERAL_MESSAGE if worst.get("range_of") == "lateral" else
                FUSION_UNTRUSTED_MESSAGE if worst.get("fusion_inconsistent") and not worst.get("z_differs_from_xy")
                else UNTRUSTED_MESSAGE if worst.get("held_out_trusted") is False else
                ASSUMED_MESSAGE if worst.get("profile_assumed") else AXIAL_MESSAGE)
        msg = text.format(gain=est.gain_db, lo=span[0], hi=span[1])
    if len(qs) > 1:
        msg += f"; lowest of {len(qs)} networks"
    if est.below_cubic:
        return msg, WARNING.format(loss=-est.gain_db)
    if not (span and span[0] < 0):
        return msg, None
    if worst.get("held_out_trusted") is False:
        return msg, MAY_LOSE_UNTRUSTED
    return msg, MAY_LOSE.format(gain=est.gain_db, lo=span[0])


def expected_gain(params: dict):
    """The run's expected gain over cubic in dB (the lowest over its networks), or None: nothing
    measured, or a held-out test that cannot speak for z (its measurement stays in "quality")."""
    qs = [q for q in (params.get("quality") or []) if q]
    if not qs or any(q.get("held_out_trusted") is False for q in qs):
        return None
    return min(q["expected_gain_db"] for q in qs)
