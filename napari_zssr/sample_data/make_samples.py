"""Write the sample TIFFs next to this file (deterministic: same bytes on every run).

    python -m napari_zssr.sample_data.make_samples [OUT_DIR]

Each builder returns a Sample (with the noise-free ground truth, which is not shipped
because of its size) so benchmarks can regenerate exactly what the files hold.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

if __package__ in (None, ""):  # run as a file: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from napari_zssr.io import write_image
from napari_zssr.testing.simulate import add_noise, degrade, simulate_image_2d, simulate_timeseries, simulate_volume

HERE = Path(__file__).resolve().parent
CAMERA_OFFSET = 100  # counts; real cameras add a baseline so that noise is not clipped at 0


class Sample(NamedTuple):
    name: str
    data: np.ndarray  # uint16 camera counts, as written
    axes: str
    pixel_sizes: dict
    ground_truth: np.ndarray  # float32 in [0, 1]; isotropic for the z-stack


def _counts(noisy: np.ndarray, photons: float) -> np.ndarray:
    """Noisy intensities (photons at 1.0) -> uint16 counts on a camera offset."""
    return np.clip(np.round(CAMERA_OFFSET + noisy * photons), 0, 65535).astype(np.uint16)


def fluorescence_2d() -> Sample:
    """256 x 256 nuclei + filaments, 0.1 um pixels, 400 photons at peak, read noise 2 e-."""
    truth = simulate_image_2d((256, 256), seed=1)
    data = _counts(add_noise(truth, photons=400, read_noise=2.0, seed=1), 400)
    return Sample("fluorescence_2d", data, "YX", {"y": 0.1, "x": 0.1}, truth)


def anisotropic_zstack() -> Sample:
    """2 channels (nuclei, filaments), 24 z x 192 x 192, voxels 0.8 x 0.2 x 0.2 um.

    Ground truth: isotropic 96 x 192 x 192 at 0.2 um (seed 2, one scene, one kind per
    channel). Acquisition: Gaussian slice profile of FWHM 0.8 um (one z step), extra
    lateral blur sigma 0.5 px, every 4th plane (pixel-centre convention), Poisson noise
    at 300 (nuclei) / 250 (filaments) photons at peak, read noise 2 e-.
    """
    channels, truths = [], []
    for c, (kind, photons) in enumerate((("nuclei", 300), ("filaments", 250))):
        truth = simulate_volume((96, 192, 192), seed=2, kind=kind)
        noisy = degrade(truth, z_step=4, xy_sigma=0.5, photons=photons, read_noise=2.0, seed=10 + c)
        channels.append(_counts(noisy, photons))
        truths.append(truth)
    return Sample("anisotropic_zstack", np.stack(channels), "CZYX",
                  {"z": 0.8, "y": 0.2, "x": 0.2}, np.stack(truths))


def timeseries() -> Sample:
    """8 frames of 128 x 128, 0.16 um pixels, slow drift (0.5 px/frame), 300 photons."""
    truth = simulate_timeseries(8, (128, 128), seed=3, speed=0.5)
    data = _counts(add_noise(truth, photons=300, read_noise=2.0, seed=3), 300)
    return Sample("timeseries", data, "TYX", {"y": 0.16, "x": 0.16}, truth)


BUILDERS = (fluorescence_2d, anisotropic_zstack, timeseries)


def main(out_dir: Path = HERE) -> list[Path]:
    out_dir = Path(out_dir)
    written = []
    for build in BUILDERS:
        sample = build()
        path = write_image(out_dir / f"{sample.name}.tif", sample.data, sample.axes,
                           sample.pixel_sizes, unit="um", overwrite=True)
        print(f"{path}  {sample.axes} {sample.data.shape} {sample.data.dtype}  {sample.pixel_sizes}")
        written.append(path)
    return written


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
