"""Signal-dependent (Poisson-Gaussian) noise: its model, its fit to the data, and noise for sons.

A camera's noise variance grows with the signal (shot noise) on top of a floor (read noise):
variance = slope * signal + intercept, in the data's normalised units. Giving a son back the noise
its downscaling removed at one global level (the mean variance) gives dim parts too much and bright
ones too little; a network trained and checked on such sons meets, on the real input, more noise
where the signal is: on the realistic axial benchmark (x2, 1000 photons) the held-out estimate read
+3.3 dB where the network gained +1.35 on the volume itself, and with the signal-dependent model
+1.36 (benchmarks/results/archive/holdout_noise_model.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from .kernels import downscale

# high-pass with unit gain for white noise: the corner of the spectrum, where an optically
# oversampled image holds only noise
_CHECKER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64) / 6.0
SIGNAL_SIGMA = 2.0          # the local signal level: the image smoothed by this Gaussian (pixels)
BINS = 20                   # intensity bins of the fit (equally populated)


@dataclass(frozen=True)
class NoiseModel:
    """variance = slope * signal + intercept (normalised units; floored at 0)."""
    slope: float
    intercept: float

    def variance(self, signal):
        v = self.slope * signal + self.intercept
        return v.clamp(min=0) if isinstance(v, torch.Tensor) else np.clip(v, 0, None)

    def scaled(self, k: float) -> "NoiseModel":
        return NoiseModel(self.slope * k, self.intercept * k)

    def to_dict(self) -> dict:
        return {"slope": float(f"{self.slope:.6g}"), "intercept": float(f"{self.intercept:.6g}")}


def son_variance(father_variance: torch.Tensor, sf, kernel) -> torch.Tensor:
    """(N, C, H, W) per-pixel noise variance of fathers -> the variance where each pixel of their
    sons comes from (downscaled as the sons are)."""
    return downscale(father_variance, (1.0 / sf[0], 1.0 / sf[1]), kernel=kernel).clamp(min=0)


def local_signal(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> the signal level the noise variance follows: x smoothed by a Gaussian of
    SIGNAL_SIGMA (separable, edges replicated), as the fit measured it."""
    r = int(np.ceil(3 * SIGNAL_SIGMA))
    t = torch.arange(-r, r + 1, dtype=torch.float32, device=x.device)
    k = torch.exp(-0.5 * (t / SIGNAL_SIGMA) ** 2)
    k = (k / k.sum()).to(x.dtype)
    n, c, h, w = x.shape
    y = x.reshape(n * c, 1, h, w)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return y.reshape(n, c, h, w)


def fit_noise_model(planes, mean_variance: float | None = None) -> NoiseModel:
    """Fit variance = slope * signal + intercept to (P, Y, X) planes (or a list of (Y, X)): the
    squared high-pass residual against the smoothed image, averaged in equally populated intensity
    bins. mean_variance: rescale the model so that its mean over the planes is this (the white-noise
    variance measured otherwise, e.g. from the spectrum), keeping its shape."""
    signals, squares = [], []
    for p in planes:
        p = np.asarray(p, np.float64)
        if p.ndim != 2 or min(p.shape) < 8:
            continue
        r = ndimage.convolve(p, _CHECKER, mode="reflect")
        s = ndimage.gaussian_filter(p, SIGNAL_SIGMA, mode="reflect")
        signals.append(s[2:-2, 2:-2].ravel())
        squares.append((r * r)[2:-2, 2:-2].ravel())
    if not signals:
        v = float(mean_variance or 0.0)
        return NoiseModel(0.0, v)
    s, r2 = np.concatenate(signals), np.concatenate(squares)
    edges = np.unique(np.quantile(s, np.linspace(0, 1, BINS + 1)))
    which = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, max(len(edges) - 2, 0))
    xs = np.array([s[which == i].mean() for i in range(len(edges) - 1) if np.any(which == i)])
    ys = np.array([r2[which == i].mean() for i in range(len(edges) - 1) if np.any(which == i)])
    if len(xs) >= 2 and np.ptp(xs) > 0:
        slope, intercept = np.polyfit(xs, ys, 1)
    else:
        slope, intercept = 0.0, float(np.mean(r2))
    if slope < 0:                       # noise that falls with the signal: no camera does that
        slope, intercept = 0.0, float(np.mean(r2))
    model = NoiseModel(float(slope), float(intercept))
    if mean_variance is not None:
        m = float(np.mean(model.variance(s)))
        model = model.scaled(float(mean_variance) / m) if m > 0 else NoiseModel(0.0, float(mean_variance))
    return model
