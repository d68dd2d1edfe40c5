"""Synthetic fluorescence microscopy for tests, samples and benchmarks (numpy + scipy only).

A scene (textured nuclei, thin curvilinear filaments, point-like beads) is drawn from a
seed, rendered on an isotropic pixel grid, blurred by a small isotropic PSF and put on a
smooth uneven background: that is the ground truth. `degrade` turns a ground-truth volume
into an anisotropic acquisition (axial slice profile, every z_step-th plane, noise).
Everything is deterministic for a given seed; each structure kind has its own random
stream, so kind="nuclei" and kind="filaments" with one seed are two channels of the scene
kind="nuclei+filaments" draws.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

KINDS = ("nuclei", "filaments", "beads")
PSF_SIGMA = 1.0  # isotropic ground-truth PSF, in pixels
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
_STEP = 0.5  # filament sampling step (pixels): dense enough for a smooth rasterised line
_STREAM = {"background": 0, "nuclei": 1, "filaments": 2, "beads": 3, "motion": 4}


@dataclass(frozen=True)
class _Nucleus:
    centre: np.ndarray  # (ndim,) pixels
    radii: np.ndarray  # (ndim,) semi-axes in the nucleus' own frame
    rotation: np.ndarray  # (ndim, ndim) orthonormal; local = rotation.T @ (x - centre)
    brightness: float
    texture: np.ndarray  # chromatin texture on a local grid; moves and turns with the nucleus


@dataclass(frozen=True)
class _Filament:
    points: np.ndarray  # (n, ndim), _STEP apart along the curve
    brightness: float


# --- public API ------------------------------------------------------------------------

def simulate_volume(shape=(64, 256, 256), seed: int = 0, kind: str = "nuclei+filaments",
                    psf_sigma: float = PSF_SIGMA) -> np.ndarray:
    """Isotropic ground-truth volume (Z, Y, X), float32 in [0, 1].

    kind: "+"-joined parts from KINDS, e.g. "nuclei+filaments", "filaments", "beads".
    """
    if len(shape) != 3:
        raise ValueError(f"simulate_volume needs a 3-D shape, got {shape}")
    return _normalise(_render(shape, _scene(shape, seed, kind), psf_sigma, seed))


def simulate_image_2d(shape=(256, 256), seed: int = 0, kind: str = "nuclei+filaments",
                      psf_sigma: float = PSF_SIGMA) -> np.ndarray:
    """2-D ground-truth image (Y, X), float32 in [0, 1] (nuclei seen as textured ellipses)."""
    if len(shape) != 2:
        raise ValueError(f"simulate_image_2d needs a 2-D shape, got {shape}")
    return _normalise(_render(shape, _scene(shape, seed, kind), psf_sigma, seed))


def simulate_timeseries(t: int = 8, shape=(128, 128), seed: int = 0,
                        kind: str = "nuclei+filaments", speed: float = 0.5,
                        psf_sigma: float = PSF_SIGMA) -> np.ndarray:
    """Time series (T, *shape), float32 in [0, 1]: the scene drifts and flexes slightly.

    speed: typical displacement per frame in pixels (each object has its own velocity;
    filaments also bend a little). shape may be 2-D (TYX) or 3-D (TZYX).
    """
    scene = _scene(shape, seed, kind)
    rng = _rng(seed, "motion")
    nd = len(shape)
    nuc_v = rng.normal(0.0, speed, (len(scene["nuclei"]), nd))
    fil_motion = [(rng.normal(0.0, speed, nd), rng.normal(0.0, speed, (3, nd)),
                   rng.uniform(20.0, 80.0, 3), rng.uniform(0, 2 * np.pi, 3))
                  for _ in scene["filaments"]]
    bead_v = rng.normal(0.0, speed, scene["beads"][0].shape)
    frames = []
    for ti in range(t):
        moved = {
            "nuclei": [replace(n, centre=n.centre + ti * v) for n, v in zip(scene["nuclei"], nuc_v)],
            "filaments": [replace(f, points=f.points + _flex(f.points, ti, *m))
                          for f, m in zip(scene["filaments"], fil_motion)],
            "beads": (scene["beads"][0] + ti * bead_v, scene["beads"][1]),
        }
        frames.append(_render(shape, moved, psf_sigma, seed))
    return _normalise(np.stack(frames))  # one scale for all frames: no flicker


def degrade(volume: np.ndarray, z_step: int = 4, z_sigma_px: float | None = None,
            xy_sigma: float = 1.0, photons: float | None = 200.0, read_noise: float = 2.0,
            z_offset: float | None = None, seed: int = 0) -> np.ndarray:
    """Anisotropic acquisition of an isotropic (Z, Y, X) volume, float32.

    Each acquired plane k is the volume seen through a Gaussian slice profile of
    z_sigma_px (default: FWHM = z_step) centred at z = z_offset + k * z_step, then blurred
    laterally by xy_sigma and made noisy (add_noise; photons=None and read_noise=0 give
    a clean result). z_offset defaults to (z_step - 1) / 2, the pixel-centre convention
    of design.md: upscaling the result by z_step with output translate t + (d/s - d)/2
    puts plane j exactly on ground-truth plane j. Pass z_offset=0 to keep planes
    0, z_step, 2 z_step, ... The matching isotropic reference for a restoration is the
    volume blurred by xy_sigma along all three axes.
    """
    vol = np.asarray(volume, dtype=np.float32)
    if vol.ndim != 3:
        raise ValueError(f"degrade needs a (Z, Y, X) volume, got shape {vol.shape}")
    if z_step < 1:
        raise ValueError(f"z_step must be >= 1, got {z_step}")
    sigma = z_step / FWHM_PER_SIGMA if z_sigma_px is None else float(z_sigma_px)
    offset = (z_step - 1) / 2.0 if z_offset is None else float(z_offset)
    nz = vol.shape[0]
    centres = offset + z_step * np.arange(int((nz - 1 - offset) // z_step) + 1)
    planes = np.tensordot(_slice_weights(centres, nz, sigma), vol, axes=(1, 0))
    if xy_sigma > 0:  # separable, so blurring after z sampling is the same and cheaper
        planes = ndimage.gaussian_filter(planes, (0, xy_sigma, xy_sigma), mode="reflect")
    return add_noise(planes.astype(np.float32), photons, read_noise, seed)


def add_noise(image: np.ndarray, photons: float | None = 200.0, read_noise: float = 2.0,
              seed: int = 0) -> np.ndarray:
    """Camera noise, float32 on the input's intensity scale.

    photons: expected photon count at intensity 1 (Poisson shot noise); None: no shot
    noise. read_noise: Gaussian std in photons (in intensity units when photons is None).
    """
    rng = np.random.default_rng([seed, 7])
    scale = float(photons) if photons else 1.0
    counts = np.clip(np.asarray(image, dtype=np.float64), 0.0, None) * scale
    if photons:
        counts = rng.poisson(counts).astype(np.float64)
    if read_noise:
        counts += rng.normal(0.0, read_noise, counts.shape)
    return (counts / scale).astype(np.float32)


# --- a realistic acquisition (issue 16) ---------------------------------------------------

# Photon counts at the brightest structure for the benchmark's SNR levels. With 2 e- read
# noise, the brightest voxels have a shot-noise SNR of about 32, 14 and 7; dim nuclei
# (35 % of the peak) about half that, like a fast live-cell confocal at the low end.
SNR_PHOTONS = {"high": 1000.0, "mid": 200.0, "low": 50.0}
_REALISTIC_STREAM = {"texture": 11, "camera": 12}


@dataclass(frozen=True)
class Acquisition:
    """A simulated anisotropic 16-bit acquisition and the isotropic volume it should restore to.

    raw: (ceil(Z / z_step), Y, X) uint16 camera values (ADU). reference: (Z, Y, X) float32,
    the noise-free scene seen through the isotropic part of the PSF, in the same ADU (offset
    included), pixel centres aligned with an axial upscale of raw by z_step (design.md).
    z_fwhm_px: the slice profile a restoration must undo, in xy pixels: the z blur on top of
    the lateral blur (the total z PSF has sigma sqrt(xy_sigma**2 + (z_fwhm_px / 2.355)**2)).
    """
    raw: np.ndarray
    reference: np.ndarray
    z_step: int
    z_fwhm_px: float
    params: dict


@dataclass(frozen=True)
class Detector:
    """The camera of `simulate_acquisition`: Gaussian read noise (electrons), `gain` ADU per
    electron and an `offset` in ADU (`camera` applies them)."""
    read_noise: float = 2.0
    gain: float = 2.0
    offset: float = 100.0


def simulate_acquisition(shape=(64, 256, 256), z_step: int = 4, seed: int = 0,
                         photons: float | None = 200.0, z_fwhm_px: float | None = None,
                         xy_sigma: float = 1.0, kind: str = "nuclei", detector: Detector = Detector(),
                         haze: float = 0.15, fine_texture: float = 0.25) -> Acquisition:
    """A confocal-like z-stack of a simulated scene: harder and more honest than `degrade`.

    - the scene (`simulate_volume` with a sharp 0.5 px object blur) gets a fine multiplicative
      chromatin grain (`fine_texture`, relative std) and out-of-focus haze (`haze` x the scene
      blurred by 6 px), so nuclei are not smooth blobs on a black background;
    - a 3-D Gaussian PSF: xy_sigma along y and x, and along z the same plus a slice profile of
      FWHM z_fwhm_px (default: one z step), so the PSF is elongated in z; every z_step-th plane
      is kept (centred as `degrade` does);
    - a camera: Poisson shot noise with `photons` expected photo-electrons at the brightest
      voxel (see SNR_PHOTONS; None: no noise at all), then the `detector`'s Gaussian read noise
      (electrons), gain (ADU per electron) and offset (ADU), rounded and clipped to uint16.
    """
    read_noise, gain, offset = detector.read_noise, detector.gain, detector.offset
    if len(shape) != 3:
        raise ValueError(f"simulate_acquisition needs a 3-D shape, got {shape}")
    if z_step < 1:
        raise ValueError(f"z_step must be >= 1, got {z_step}")
    fwhm = float(z_step if z_fwhm_px is None else z_fwhm_px)
    if fwhm < 0 or xy_sigma < 0:
        raise ValueError("z_fwhm_px and xy_sigma must be >= 0")
    scene = simulate_volume(shape, seed=seed, kind=kind, psf_sigma=0.5)
    if fine_texture:
        grain = ndimage.gaussian_filter(
            np.random.default_rng([seed, _REALISTIC_STREAM["texture"]]).normal(size=scene.shape), 0.8)
        scene = scene * np.clip(1.0 + fine_texture * grain / (grain.std() + 1e-12), 0.0, None)
    if haze:
        scene = scene + haze * ndimage.gaussian_filter(scene, 6.0, mode="reflect")
    reference = ndimage.gaussian_filter(scene, xy_sigma, mode="reflect") if xy_sigma > 0 else scene
    reference = _normalise(reference)  # 1 = the brightest voxel, which gets `photons`
    planes = degrade(reference, z_step=z_step, z_sigma_px=fwhm / FWHM_PER_SIGMA, xy_sigma=0.0,
                     photons=None, read_noise=0.0)
    scale = float(photons) if photons else 1000.0  # noise-free: still a 16-bit image
    raw = camera(planes * scale, gain, offset, read_noise if photons else 0.0,
                 _rng_camera(seed) if photons else None)
    params = {"shape": list(shape), "z_step": z_step, "seed": seed, "photons": photons,
              "z_fwhm_px": fwhm, "xy_sigma": xy_sigma, "kind": kind, "read_noise": read_noise,
              "gain": gain, "offset": offset, "haze": haze, "fine_texture": fine_texture}
    return Acquisition(raw, (offset + gain * scale * reference).astype(np.float32), z_step, fwhm, params)


def camera(electrons: np.ndarray, gain: float = 2.0, offset: float = 100.0, read_noise: float = 2.0,
           rng: np.random.Generator | None = None) -> np.ndarray:
    """Expected photo-electrons -> uint16 ADU: Poisson shot noise and Gaussian read noise (when
    rng is given), then gain, offset, rounding and clipping to the 16-bit range."""
    e = np.clip(np.asarray(electrons, dtype=np.float64), 0.0, None)
    if rng is not None:
        e = rng.poisson(e).astype(np.float64)
        if read_noise:
            e += rng.normal(0.0, read_noise, e.shape)
    return np.clip(np.rint(offset + gain * e), 0, 65535).astype(np.uint16)


def _rng_camera(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, _REALISTIC_STREAM["camera"]])


# --- the scene --------------------------------------------------------------------------

def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM[stream]])


def _parts(kind: str) -> list[str]:
    parts = [p.strip() for p in kind.split("+") if p.strip()]
    unknown = [p for p in parts if p not in KINDS]
    if not parts or unknown:
        raise ValueError(f"kind {kind!r}: use '+'-joined parts from {KINDS}")
    return parts


def _scene(shape, seed: int, kind: str) -> dict:
    parts = _parts(kind)
    shape = tuple(int(s) for s in shape)
    nd = len(shape)
    return {
        "nuclei": _nuclei(shape, _rng(seed, "nuclei")) if "nuclei" in parts else [],
        "filaments": _filaments(shape, _rng(seed, "filaments")) if "filaments" in parts else [],
        "beads": (_beads(shape, _rng(seed, "beads")) if "beads" in parts
                  else (np.zeros((0, nd)), np.zeros(0))),
    }


def _random_rotation(rng, nd: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(nd, nd)))
    return q * np.sign(np.diag(r))  # uniform over orthogonal matrices


def _nuclei(shape, rng) -> list[_Nucleus]:
    nd = len(shape)
    # sized by the smallest axis, unless it is a thin slab (a few planes): then by the plane, or
    # a (1, 256, 256) volume would ask for ~10^5 sub-pixel nuclei and take minutes
    small = min(shape) if min(shape) >= 8 else min(shape[-2:])
    r_max = min(16.0, 0.4 * small)
    r_min = min(5.0, 0.5 * r_max)
    mean_r = 0.5 * (r_min + r_max)
    fill = 0.22 if nd == 3 else 0.3  # fraction of the field covered by nuclei
    unit_ball = np.pi if nd == 2 else 4.0 / 3.0 * np.pi
    count = max(1, int(fill * np.prod(shape) / (unit_ball * mean_r**nd)))
    nuclei, centres, sizes = [], np.zeros((0, nd)), np.zeros(0)
    for _ in range(count):
        radius = float(np.exp(rng.uniform(np.log(r_min), np.log(r_max))))  # many small, few large
        for _try in range(20):  # keep nuclei mostly apart, as cells do
            centre = rng.uniform(0, shape)
            if np.all(np.linalg.norm(centres - centre, axis=1) > 0.8 * (sizes + radius)):
                break
        centres, sizes = np.vstack([centres, centre]), np.append(sizes, radius)
        radii = radius * rng.uniform(0.75, 1.25, nd)
        nuclei.append(_Nucleus(centre, radii, _random_rotation(rng, nd),
                               float(rng.uniform(0.35, 1.0)), _texture(radii, rng)))
    return nuclei


def _texture(radii, rng) -> np.ndarray:
    """Chromatin-like speckle plus a few nucleoli, zero-mean, on a local grid."""
    size = tuple(int(2 * np.ceil(radii.max()) + 5) for _ in radii)
    tex = ndimage.gaussian_filter(rng.normal(size=size), 1.2)
    tex /= tex.std() + 1e-12
    grid = np.indices(size, dtype=np.float32)
    centre = (np.array(size) - 1) / 2.0
    for _ in range(rng.integers(1, 4)):  # nucleoli: dark or bright round bodies
        where = centre + rng.uniform(-0.4, 0.4, len(size)) * radii
        width = max(1.0, rng.uniform(0.1, 0.2) * radii.min())
        dist2 = sum((g - w) ** 2 for g, w in zip(grid, where))
        tex += rng.choice([-2.0, 2.5]) * np.exp(-0.5 * dist2 / width**2)
    return tex.astype(np.float32)


def _filaments(shape, rng) -> list[_Filament]:
    """Persistent random walks: smooth curves with a bending length of ~100 px."""
    nd = len(shape)
    count = max(1, int(np.prod(shape) ** (1.0 / nd) * (0.25 if nd == 3 else 0.1)))
    extent = max(shape[-2:])
    damp = np.ones(nd)
    if nd == 3:
        damp[0] = 0.35  # cells are flatter than wide: filaments run mostly in-plane
    filaments = []
    for _ in range(count):
        steps = int(rng.uniform(0.4, 1.2) * extent / _STEP)
        direction = rng.normal(size=nd) * damp
        points = np.empty((steps, nd))
        points[0] = rng.uniform(0, shape)
        kicks = rng.normal(0.0, 0.07 * np.sqrt(_STEP), (steps, nd)) * damp
        for i in range(1, steps):
            direction = direction / np.linalg.norm(direction) + kicks[i]
            points[i] = points[i - 1] + _STEP * direction / np.linalg.norm(direction)
        filaments.append(_Filament(points, float(rng.uniform(0.3, 0.9))))
    return filaments


def _beads(shape, rng) -> tuple[np.ndarray, np.ndarray]:
    count = max(1, int(np.prod(shape) / 4000))
    return rng.uniform(0, shape, (count, len(shape))), rng.uniform(0.5, 1.0, count)


def _flex(points, ti, velocity, amplitude, wavelength, phase) -> np.ndarray:
    """Displacement of a filament at frame ti: drift plus a slow bending wave along it."""
    s = np.arange(len(points))[:, None] * _STEP
    wave = sum(a * np.sin(2 * np.pi * s / w + p + 0.3 * ti) - a * np.sin(p)
               for a, w, p in zip(amplitude, wavelength, phase))
    return ti * velocity + 0.5 * wave


# --- rendering --------------------------------------------------------------------------

def _render(shape, scene: dict, psf_sigma: float, seed: int) -> np.ndarray:
    shape = tuple(int(s) for s in shape)
    nd = len(shape)
    image = np.zeros(shape, np.float32)
    for nucleus in scene["nuclei"]:
        _draw_nucleus(image, nucleus)
    # lines and points are splatted as densities; the gains make their peak height after
    # the PSF about equal to their brightness
    gauss = np.sqrt(2 * np.pi) * max(psf_sigma, 0.5)
    points = [f.points for f in scene["filaments"]] + [scene["beads"][0]]
    weights = [np.full(len(f.points), f.brightness * _STEP * gauss ** (nd - 1))
               for f in scene["filaments"]] + [scene["beads"][1] * gauss**nd]
    _splat(image, np.concatenate(points), np.concatenate(weights))  # one pass: bincount is per call
    if psf_sigma > 0:
        image = ndimage.gaussian_filter(image, psf_sigma, mode="constant")
    return image + _background(shape, _rng(seed, "background"))


def _draw_nucleus(image: np.ndarray, n: _Nucleus) -> None:
    reach = np.abs(n.rotation) @ n.radii + 3  # bounding box half-size of the ellipsoid
    lo = np.maximum(np.floor(n.centre - reach).astype(int), 0)
    hi = np.minimum(np.ceil(n.centre + reach).astype(int) + 1, image.shape)
    if np.any(hi <= lo):
        return
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    grid = np.indices(hi - lo, dtype=np.float32).reshape(len(lo), -1) + lo[:, None]
    local = n.rotation.T @ (grid - n.centre[:, None])
    q = np.sqrt(((local / n.radii[:, None]) ** 2).sum(0))
    edge = (1.0 - q) * n.radii.mean()  # signed distance to the surface, ~pixels
    near = edge > -5.0  # the box corners are dark: skip their texture lookups
    edge = edge[near]
    body = 1.0 / (1.0 + np.exp(-edge / 0.7))  # soft, ~1 px wide boundary
    rim = 0.35 * np.exp(-0.5 * edge**2)  # nuclear envelope/lamina
    tex_centre = (np.array(n.texture.shape) - 1) / 2.0
    tex = ndimage.map_coordinates(n.texture, local[:, near] + tex_centre[:, None], order=1,
                                  mode="nearest")
    value = np.zeros(q.shape, np.float32)
    value[near] = n.brightness * body * (np.clip(1.0 + 0.3 * tex, 0.0, None) + rim)
    np.maximum(image[box], value.reshape(hi - lo), out=image[box])


def _splat(image: np.ndarray, points: np.ndarray, weights) -> None:
    """Add point masses with linear (tent) weights to the 2**ndim nearest pixels."""
    nd = image.ndim
    weights = np.broadcast_to(np.asarray(weights, np.float64), (len(points),))
    base = np.floor(points).astype(np.int64)
    frac = points - base
    flat = np.zeros(image.size)
    for corner in np.ndindex(*(2,) * nd):
        idx = base + corner
        w = weights * np.prod(np.where(corner, frac, 1.0 - frac), axis=1)
        inside = np.all((idx >= 0) & (idx < image.shape), axis=1)
        flat += np.bincount(np.ravel_multi_index(idx[inside].T, image.shape),
                            w[inside], minlength=image.size)
    image += flat.reshape(image.shape).astype(np.float32)


def _background(shape, rng) -> np.ndarray:
    """Uneven illumination and out-of-focus haze: a smooth separable field ~0.02-0.08."""
    field = np.zeros(shape, np.float32)
    for _ in range(2):
        term = np.float32(1.0)
        for axis, size in enumerate(shape):
            x = np.arange(size) / max(size, 1)
            wave = 0.5 + 0.5 * np.cos(2 * np.pi * rng.uniform(0.3, 1.0) * x + rng.uniform(0, 2 * np.pi))
            term = term * wave.reshape((-1,) + (1,) * (len(shape) - axis - 1)).astype(np.float32)
        field += term
    return 0.02 + 0.03 * field


def _slice_weights(centres: np.ndarray, nz: int, sigma: float) -> np.ndarray:
    """Rows: weights of the nz planes seen by a slice centred at each of `centres`."""
    z = np.arange(nz)
    if sigma > 0:
        w = np.exp(-0.5 * ((z[None, :] - centres[:, None]) / sigma) ** 2)
    else:  # no slice profile: linear interpolation between the two nearest planes
        w = np.clip(1.0 - np.abs(z[None, :] - centres[:, None]), 0.0, None)
    return w / w.sum(axis=1, keepdims=True)  # renormalised where the profile leaves the stack


def _normalise(image: np.ndarray) -> np.ndarray:
    peak = float(image.max())
    return (image / peak if peak > 0 else image).astype(np.float32)
