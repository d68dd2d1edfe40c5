"""How much better than cubic interpolation a trained network is, measured without ground truth.

The image's own examples stand in for the missing ground truth: held-out fathers (planes or crops
the network never trained on) are degraded exactly as the training sons were -- downscaled by the
factor with the kernel -- and both the network (with the run's ensemble and back-projection) and
plain cubic interpolation upscale them back; the PSNR of each against the father gives the gain.

Noisy data: the real low-resolution input has the full noise of the data, while a downscaled father
has less (the kernel averaged some away). So the sons get back the noise the downscaling removed,
and the PSNRs are corrected for the noise of the father itself (which neither method can predict),
so that the estimate speaks about the noise-free structure, as a ground-truth comparison would.
That correction needs, for each method, how much of the father's own noise its output carries
along (a son is made from its father). Stein's lemma turns that into the divergence of the whole
pipeline (downscale, network, ensemble, back-projection) with respect to the father, measured by
one extra pass on a slightly perturbed father (Monte-Carlo SURE, Ramani et al. 2008). A network
that denoises carries along less noise than cubic does; taking cubic's share for both (as before)
read 2-3 dB low on noisy volumes.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..engine.config import ZSSRConfig
from ..engine.infer import super_resolve_tensor
from ..engine.kernels import aligned_length, downscale
from ..engine.noise import NoiseModel, local_signal, son_variance
from ..engine.resize import imresize

MESSAGE = "expected gain over cubic: {gain:+.1f} dB (measured on held-out parts of this image)"
WARNING = ("the result is expected to be {loss:.1f} dB WORSE than cubic interpolation (measured on held-out "
           "parts of this image); check the kernel / slice profile (z FWHM) and the scale factor")


@dataclass
class GainEstimate:
    gain_db: float          # PSNR(network) - PSNR(cubic) on the held-out examples
    psnr_model: float
    psnr_cubic: float
    n_examples: int
    noise_var: float        # noise variance assumed for the data (normalised units), 0 = clean
    mse_model: float | None = None   # the errors behind the PSNRs (normalised units, noise taken out)
    mse_cubic: float | None = None
    # share of the father's noise each method carries along (divergence per pixel; noisy data only)
    noise_share_model: float | None = None
    noise_share_cubic: float | None = None

    @property
    def below_cubic(self) -> bool:
        return self.gain_db < 0

    def message(self) -> str:
        return MESSAGE.format(gain=self.gain_db)

    def warning(self) -> str | None:
        """A plain warning when the network is expected to do worse than cubic, else None."""
        return WARNING.format(loss=-self.gain_db) if self.below_cubic else None

    @classmethod
    def from_dict(cls, d: dict) -> "GainEstimate":
        return cls(d["expected_gain_db"], d["psnr_model_db"], d["psnr_cubic_db"], d["held_out_examples"],
                   d["noise_var"], d.get("mse_model"), d.get("mse_cubic"), d.get("noise_share_model"),
                   d.get("noise_share_cubic"))

    def to_dict(self) -> dict:
        return {"expected_gain_db": round(self.gain_db, 3), "psnr_model_db": round(self.psnr_model, 3),
                "psnr_cubic_db": round(self.psnr_cubic, 3), "held_out_examples": self.n_examples,
                "noise_var": float(self.noise_var), "mse_model": _sig(self.mse_model),
                "mse_cubic": _sig(self.mse_cubic), "noise_share_model": _sig(self.noise_share_model),
                "noise_share_cubic": _sig(self.noise_share_cubic), "message": self.message()}


def _sig(x):
    return None if x is None else float(f"{x:.6g}")


def fused_estimate(est: GainEstimate, disagreement: float, excess: float = 0.0) -> GainEstimate:
    """The estimate for the fusion of two results A, B (axial: the xz and yz slices) when `est`
    measured their mean single-direction error: |(A+B)/2 - T|^2 = (|A-T|^2 + |B-T|^2)/2 - |A-B|^2/4
    holds exactly, and mean((A-B)^2) (`disagreement`) needs no ground truth. `excess`: the mean
    squared distance of another fusion (geometric) from the arithmetic one, added (its cross term
    with the error is neglected). The gain fusion adds is capped at 6 dB (a quarter of the error)."""
    if est.mse_model is None or est.mse_cubic is None:
        raise ValueError("the estimate carries no errors to correct for fusion")
    mse = max(est.mse_model - disagreement / 4.0 + excess, est.mse_model / 4.0)
    gain = 10 * math.log10(est.mse_cubic / mse)
    return GainEstimate(gain, est.psnr_cubic + gain, est.psnr_cubic, est.n_examples, est.noise_var, mse, est.mse_cubic,
                        est.noise_share_model, est.noise_share_cubic)


def noise_kept(shape, sf, kernel, device="cpu", noise_filter=None) -> float:
    """Fraction of a father's white-noise variance that its downscaled son keeps (noise_filter:
    the father's noise is that white noise through this linear filter)."""
    g = torch.Generator(device="cpu").manual_seed(1234)
    n = torch.randn((1, 1) + tuple(shape), generator=g).to(torch.device(device))
    if noise_filter is not None:
        n = noise_filter(n)
    return float(torch.mean(downscale(n, (1.0 / sf[0], 1.0 / sf[1]), kernel=kernel) ** 2))


DIV_EPS = 0.1      # the perturbation of the divergence pass, in the noise's standard deviations


def measurable(shape, sf) -> bool:
    """Whether a held-out example of `shape` (H, W) keeps an interior once cut to whole low-resolution
    pixels and shaved by ceil(sf) at each end (a 9-pixel plane at x2.5 keeps none)."""
    return all(aligned_length(int(n), float(s)) > 2 * math.ceil(float(s)) for n, s in zip(shape, sf))


def noise_gain(noise_filter, shape, device="cpu") -> float:
    """Factor by which a linear filter multiplies white noise's variance (measured)."""
    g = torch.Generator(device="cpu").manual_seed(4321)
    n = torch.randn((1, 1) + tuple(shape), generator=g).to(torch.device(device))
    return float(torch.mean(noise_filter(n) ** 2) / torch.mean(n ** 2))


@torch.no_grad()
def held_out_gain(model, fathers: Sequence, *, noise_var: float = 0.0, config: ZSSRConfig | None = None,
                  seed: int = 0, noise_model: NoiseModel | None = None, noise_filter=None,
                  edge_share: float | None = None) -> GainEstimate:
    """Gain over cubic of a TrainedModel on held-out fathers (each (C, H, W), normalised like the
    training data). noise_var: the data's white-noise variance in the same units (0: clean);
    noise_model: how that variance follows the signal (None: the same everywhere); noise_filter:
    the fathers were filtered by this linear map ((N, C, H, W) tensors in and out), so their noise
    is the data's through it, while a son must still carry the data's own noise.
    edge_share: the share of the real output within ceil(sf) pixels of the ends of its upscaled axes
    (an axial run's first and last planes, which every method extrapolates from mirror padding):
    the fathers' own edge rows then count with that weight, beside their interior, instead of
    being shaved off. None: shaved (a lateral image's edges are a sliver of it)."""
    if not fathers:
        raise ValueError("no held-out examples to measure the quality on")
    cfg = config or model.config
    sf, kernel, dev = model.sf, model.kernel, model.device
    shave = [math.ceil(s) for s in sf]                 # borders: mirror padding, not image content
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    # sums over the interior and over the edges of the upscaled axes: se_model, se_cubic,
    # div_model, div_cubic, var_sum, count
    sums = {"in": np.zeros(6), "edge": np.zeros(6)}
    lo, hi = math.inf, -math.inf
    if noise_var > 0 and noise_model is None:
        noise_model = NoiseModel(0.0, float(noise_var))

    def restore(father, extra):
        """(network, cubic) restorations of a father degraded as the input was."""
        lr = downscale(father[None], (1.0 / sf[0], 1.0 / sf[1]), kernel=kernel)
        if extra is not None:
            lr = lr + extra
        if cfg.clip is not None:
            lr = lr.clamp(*cfg.clip)
        shape = tuple(father.shape[-2:])
        cubic = imresize(lr, sf, output_shape=shape)[0]
        out = super_resolve_tensor(model.net, lr, sf, kernel, model.precision, ensemble=cfg.ensemble,
                                   bp_iters=cfg.back_projection_iters, clip=cfg.clip, tile=cfg.tile,
                                   channels_last=cfg.channels_last)[0][..., :shape[0], :shape[1]]
        return out.float(), cubic.float()

    for f in fathers:
        father = torch.as_tensor(np.ascontiguousarray(f, dtype=np.float32)).to(dev)
        if father.ndim != 3 or father.shape[0] != model.channels:
            raise ValueError(f"held-out examples must be (C, H, W) with C = {model.channels}; "
                             f"got {tuple(father.shape)}")
        # whole low-resolution pixels only: a father of 256 rows at x6 would give a son of 42.67,
        # whose grid no longer lines up with the father's (held-out x6 read 2-5 dB too low)
        father = father[:, :aligned_length(father.shape[1], sf[0]), :aligned_length(father.shape[2], sf[1])]
        shape = tuple(father.shape[-2:])
        extra = var = None
        if noise_var > 0:
            # the noise the downscaling averaged away, at the level the signal there has
            kept = noise_kept(shape, sf, kernel, dev, noise_filter)
            var = noise_model.variance(local_signal(father[None]))[0]      # the data's, per pixel
            lr_var = max(0.0, 1.0 - kept) * son_variance(var[None], sf, kernel)
            extra = torch.sqrt(lr_var) * torch.randn(lr_var.shape, generator=g).to(dev)
        out, cubic = restore(father, extra)
        inner = (slice(None), slice(shave[0], shape[0] - shave[0] or None),
                 slice(shave[1], shape[1] - shave[1] or None))
        regions = {"in": inner}
        if edge_share is not None:
            # the edges of the upscaled axes, within the interior of the others
            edge = torch.zeros(shape, dtype=torch.bool, device=dev)
            edge[tuple(slice(None) if s > 1 else sl for s, sl in zip(sf, inner[1:]))] = True
            edge[inner[1:]] = False
            regions["edge"] = (slice(None), edge)
        t = father[inner]
        for r, m in regions.items():
            sums[r][0] += float(torch.sum((out[m] - father[m]) ** 2))
            sums[r][1] += float(torch.sum((cubic[m] - father[m]) ** 2))
            sums[r][5] += father[m].numel()
        if noise_var > 0:
            # the noise each pipeline carries over from its father: sum_i var_i d out_i / d father_i,
            # by one pass on the father perturbed along b with Cov(b) = diag(var):
            # E[b.(out(f + e b) - out(f))] / e (Monte-Carlo SURE)
            eps = DIV_EPS                                   # b is already in noise units
            b = torch.randn(father.shape, generator=g).to(dev) * torch.sqrt(var)
            if noise_filter is not None:
                # coloured noise: perturbing along it keeps Stein's identity exact
                # (E[b.(out(f + e b) - out(f))] / e = sum_ij Cov_ij d out_i / d f_j)
                b = noise_filter(b[None])[0]
                var = var * noise_gain(noise_filter, shape, dev)
            out_b, cubic_b = restore(father + eps * b, extra)
            for r, m in regions.items():
                sums[r][2] += float(torch.sum(b[m] * (out_b - out)[m])) / eps
                sums[r][3] += float(torch.sum(b[m] * (cubic_b - cubic)[m])) / eps
                sums[r][4] += float(torch.sum(var[m]))
        lo, hi = min(lo, float(t.min())), max(hi, float(t.max()))

    def errors(r):
        se_model, se_cubic, div_model, div_cubic, var_sum, count = sums[r]
        mse_model, mse_cubic = se_model / count, se_cubic / count
        if noise_var > 0:
            # |out - father|^2 = |out - clean|^2 + |noise|^2 - 2 out.noise, and (Stein)
            # E[out_i noise_i] = var_i d out_i / d father_i: each method is cleared of the father's
            # noise with its own share of it
            mse_model = max(mse_model - (var_sum - 2.0 * div_model) / count, 1e-3 * mse_model)
            mse_cubic = max(mse_cubic - (var_sum - 2.0 * div_cubic) / count, 1e-3 * mse_cubic)
        return mse_model, mse_cubic

    mse_model, mse_cubic = errors("in")
    if edge_share is not None and sums["edge"][5] > 0:
        w = min(max(float(edge_share), 0.0), 1.0)
        e_model, e_cubic = errors("edge")
        mse_model, mse_cubic = (1 - w) * mse_model + w * e_model, (1 - w) * mse_cubic + w * e_cubic
    s_all = sums["in"] + sums["edge"]
    shares = (s_all[2] / max(s_all[4], 1e-30), s_all[3] / max(s_all[4], 1e-30)) if noise_var > 0 else (None, None)
    peak = max(hi - lo, 1e-12) ** 2
    p_model, p_cubic = 10 * math.log10(peak / max(mse_model, 1e-30)), 10 * math.log10(peak / max(mse_cubic, 1e-30))
    return GainEstimate(p_model - p_cubic, p_model, p_cubic, len(fathers), float(noise_var), mse_model, mse_cubic,
                        *shares)
