"""Held-out xy planes made as sharp as the volume an axial result is judged against.

An axial run's quality estimate degrades held-out xy planes along y (or x) as z was and asks the
network to restore them. But every xy plane of the data is itself an average over the slice
profile along z: fine 3-D structure is weaker in it than in the isotropic volume that the
restored z lines are compared with (a truth with un-averaged planes), and the part of it that no
method recovers is missing from the held-out test. The estimate then reads too high, the more so
the wider the slice profile (on the realistic benchmark: ~0 dB at FWHM 2 px, +0.4 at 4, up to
+1.1 at 6).

If the object's structure is statistically isotropic (no preferred direction, as for nuclei and
chromatin), the planes' lateral power spectrum fixes the object's 3-D spectrum: a plane's spectrum
at lateral frequency rho is the 3-D spectrum on the line (rho, kz) weighted by the slice profile's
transfer |P(kz)|^2. Fitted (non-negative, on radial bins), the same 3-D spectrum without the
weight gives the spectrum an un-averaged plane would have. The held-out planes are then filtered
by the square root of the ratio (normalised to 1 at the lowest frequencies; in full only where
the signal stands above the noise, tapering to none where the noise is all there is), so that
their spectrum is that of an un-averaged plane, and the test is as hard as the real one. The
filter colours their noise too; the measure knows it (`held_out_gain(noise_filter=...)`): a son
still gets the data's own noise, and the noise correction perturbs along the coloured noise.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import nnls

N_BINS = 32
RHO_MAX = 0.5 * math.sqrt(2.0)     # the corner of a 2-D spectrum (cycles per pixel)
MAX_BOOST = 8.0                    # amplitude gain at most (a badly fitted spectrum must not explode)
PAD = 16                           # mirror padding against the filter's wrap-around


def slice_sigma(kernel: np.ndarray | None, axis: int = 0) -> float:
    """Standard deviation (pixels) of a kernel along `axis`: the slice profile's width."""
    if kernel is None:
        return 0.0
    k = np.asarray(kernel, np.float64)
    p = k.sum(axis=1 - axis)
    p = p / p.sum()
    x = np.arange(p.size, dtype=np.float64)
    mu = float(np.sum(p * x))
    return float(math.sqrt(max(np.sum(p * (x - mu) ** 2), 0.0)))


def _radius(shape) -> np.ndarray:
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    return np.sqrt(fy * fy + fx * fx)


def radial_spectrum(planes, edges: np.ndarray) -> np.ndarray:
    """Mean power per radial bin of the planes' (Hann-windowed) 2-D periodograms, normalised so that
    white noise of variance v reads v."""
    acc = np.zeros(len(edges) - 1)
    cnt = np.zeros(len(edges) - 1)
    for p in planes:
        p = np.asarray(p, np.float64)
        p = p.reshape(-1, *p.shape[-2:])
        h, w = p.shape[-2:]
        win = np.outer(np.hanning(h), np.hanning(w))
        idx = np.digitize(_radius((h, w)).ravel(), edges) - 1
        ok = (idx >= 0) & (idx < len(acc))
        for c in p:
            f = np.abs(np.fft.fft2((c - c.mean()) * win)) ** 2 / np.sum(win * win)
            acc += np.bincount(idx[ok], f.ravel()[ok], minlength=len(acc))
            cnt += np.bincount(idx[ok], minlength=len(acc))
    return acc / np.maximum(cnt, 1)


def _line_matrix(rho: np.ndarray, edges: np.ndarray, weight) -> np.ndarray:
    """M[i, j] = integral over kz of weight(kz) * [sqrt(rho_i^2 + kz^2) in bin j]."""
    kz = np.linspace(-RHO_MAX, RHO_MAX, 1441)
    dk = kz[1] - kz[0]
    w = weight(kz) * dk
    k = np.sqrt(rho[:, None] ** 2 + kz[None, :] ** 2)
    j = np.digitize(k, edges) - 1
    m = np.zeros((rho.size, len(edges) - 1))
    for i in range(rho.size):
        ok = (j[i] >= 0) & (j[i] < m.shape[1])
        m[i] = np.bincount(j[i][ok], w[ok], minlength=m.shape[1])
    return m


def deaveraging_gain(planes, sigma: float, noise_var: float = 0.0, n_bins: int = N_BINS):
    """(bin centres, amplitude gain per radial frequency) that turns the planes' spectrum into
    that of planes not averaged over a Gaussian slice profile of `sigma` pixels along z."""
    edges = np.linspace(0.0, RHO_MAX, n_bins + 1)
    rho = 0.5 * (edges[:-1] + edges[1:])
    if sigma <= 0:
        return rho, np.ones_like(rho)
    power = radial_spectrum(planes, edges)
    signal = np.clip(power - noise_var, 0.0, None)

    def profile(kz):                       # |P(kz)|^2 of the Gaussian slice profile
        return np.exp(-4.0 * math.pi ** 2 * sigma ** 2 * kz ** 2)

    averaged = _line_matrix(rho, edges, profile)
    # relative errors count alike at every frequency (the spectrum spans decades)
    scale = 1.0 / np.maximum(signal, 1e-12 * max(signal.max(), 1e-30))
    fit, _ = nnls(averaged * scale[:, None], signal * scale, maxiter=50 * n_bins)
    # an isotropic truth sampled on the lateral grid: every kz up to its Nyquist frequency
    plain = _line_matrix(rho, edges, lambda kz: (np.abs(kz) <= 0.5).astype(np.float64)) @ fit
    model = averaged @ fit
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(model > 0, plain / model, 1.0)
    ratio = ratio / ratio[0] if ratio[0] > 0 else np.ones_like(ratio)
    amp = np.clip(np.sqrt(np.clip(ratio, 1.0, None)), 1.0, MAX_BOOST)
    # only where the signal stands above the noise (full boost from a signal-to-noise ratio of 1):
    # beyond, the fit has nothing to go on and a boost would only add noise to take out again
    snr = signal / noise_var if noise_var > 0 else np.inf
    return rho, 1.0 + (amp - 1.0) * np.clip(snr, 0.0, 1.0)


class RadialFilter:
    """A zero-phase filter by radial frequency on (N, C, H, W) tensors, mirror-padded against
    wrap-around. Linear: the noise of filtered planes is the data's noise through it."""

    def __init__(self, rho: np.ndarray, gain: np.ndarray):
        self.rho, self.gain = np.asarray(rho, np.float64), np.asarray(gain, np.float64)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad = max(0, min(PAD, h - 1, w - 1))
        q = F.pad(x.double(), (pad, pad, pad, pad), mode="reflect") if pad else x.double()
        resp = torch.from_numpy(np.interp(_radius(q.shape[-2:]), self.rho, self.gain)).to(q.device)
        y = torch.fft.ifft2(torch.fft.fft2(q) * resp).real
        return y[..., pad:pad + h, pad:pad + w].to(x.dtype)


def deaverage(planes, sigma: float, noise_var: float = 0.0):
    """(the planes ((C, H, W) each) filtered to the spectrum of un-averaged planes, the filter)."""
    filt = RadialFilter(*deaveraging_gain(planes, sigma, noise_var))
    out = [np.ascontiguousarray(filt(torch.from_numpy(np.asarray(p, np.float32))[None])[0].numpy()) for p in planes]
    return out, filt
