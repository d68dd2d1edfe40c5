"""The rows of the realistic axial benchmark (issue 16), shared by axial_realistic.py and
profile_estimate.py so both report on exactly the same volumes.

Each row is a simulated acquisition (`napari_zssr.testing.simulate.simulate_acquisition`): confocal-like
nuclei, 3-D Gaussian PSF (xy sigma 1 px, elongated in z by the slice profile), Poisson shot noise
with the stated photon count at the brightest voxel, 2 e- read noise, gain 2 ADU/e-, offset 100 ADU,
uint16. The restoration assumes a slice profile of FWHM = one z step (the default when a user gives
none); "profile" is the true FWHM in units of that assumption. The "old" row is the original
benchmarks/axial.py case (noise-free float volume, nuclei + filaments, FWHM = one step).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_zssr.testing.simulate import SNR_PHOTONS


@dataclass(frozen=True)
class Row:
    name: str
    factor: int
    snr: str | None          # key of SNR_PHOTONS; None: noise-free
    profile: float = 1.0        # true FWHM / assumed FWHM (one z step)
    old: bool = False

    @property
    def photons(self):
        return None if self.snr is None else SNR_PHOTONS[self.snr]

    @property
    def true_fwhm_px(self) -> float:
        return self.profile * self.factor


ROWS = ([Row(f"x{f}-{snr}", f, snr) for snr in SNR_PHOTONS for f in (2, 4, 6)]
        + [Row(f"x4-mid-profile{p}", 4, "mid", p) for p in (0.7, 1.5)]
        + [Row("old-x4", 4, None, 1.0, old=True)]
        # x5: a factor that 96-pixel training crops do not divide (whole low-resolution pixels matter)
        + [Row(f"x5-{snr}", 5, snr) for snr in SNR_PHOTONS])


def select(names: str):
    """'all', or comma-separated row names (or name prefixes, e.g. 'x4')."""
    if names in ("", "all"):
        return list(ROWS)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    exact = {r.name for r in ROWS}
    # a full row name means that row; anything else is a prefix ("x4" = every x4 row)
    rows = [r for r in ROWS if any(r.name == w if w in exact else r.name.startswith(w + "-") for w in wanted)]
    if not rows:
        raise SystemExit(f"no benchmark row matches {names!r}; rows: {', '.join(r.name for r in ROWS)}")
    return rows


def make_row(row: Row, size: int = 256, depth: int = 96, seed: int = 0):
    """(raw (Z', Y, X), reference (Z, Y, X) float32) for a row; the old row keeps its own recipe."""
    from napari_zssr.testing.simulate import degrade, simulate_acquisition, simulate_volume
    if row.old:
        gt = simulate_volume((depth, size, size), seed=seed)
        return degrade(gt, z_step=row.factor, xy_sigma=0.0, photons=None, read_noise=0.0, seed=seed), gt
    acq = simulate_acquisition((depth, size, size), z_step=row.factor, seed=seed, photons=row.photons,
                               z_fwhm_px=row.true_fwhm_px)
    return acq.raw, acq.reference


def metrics(ref: np.ndarray, out: np.ndarray):
    """PSNR over the reference's range and SSIM, on the planes both have."""
    from skimage.metrics import structural_similarity
    n = min(ref.shape[0], out.shape[0])
    ref, out = ref[:n].astype(np.float64), out[:n].astype(np.float64)
    rng = float(ref.max() - ref.min())
    psnr = 10 * np.log10(rng ** 2 / float(np.mean((ref - out) ** 2)))
    return float(psnr), float(structural_similarity(ref, out, data_range=rng))
