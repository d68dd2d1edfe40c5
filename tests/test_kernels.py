"""Downscaling kernels: shift (centre of mass), alignment with MATLAB's pixel centres, validation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_zssr.engine.kernels import (correlate, downscale, fwhm_to_sigma, gaussian_kernel, is_symmetric,
                                        resolve_kernel, shift_kernel, validate_kernel)
from napari_zssr.engine.resize import imresize


def delta(k: int) -> np.ndarray:
    d = np.zeros((k, k))
    d[k // 2, k // 2] = 1.0
    return d


def blob(k: int, cy: float, cx: float, sy: float = 1.1, sx: float = 0.8) -> np.ndarray:
    """An off-centre anisotropic Gaussian in a k x k window (not normalised)."""
    yy, xx = np.mgrid[0:k, 0:k]
    return np.exp(-0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2))


def t64(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


# ---- delta kernels ------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 3, 5, 4])
def test_delta_at_sf1_is_identity(k):
    x = t64(np.random.default_rng(0).random((2, 13, 17)))
    y = downscale(x, 1.0, kernel=delta(k))
    assert tuple(y.shape) == (2, 13, 17)
    np.testing.assert_allclose(y.numpy(), x.numpy(), atol=1e-12)


@pytest.mark.parametrize("k", [3, 5, 7])
def test_delta_at_sf3_picks_the_centre_pixels(k):
    """sf = 3: the centre of mass moves by 0.5 * (3 - 1) = 1 pixel; LR pixel m is HR pixel 3m + 1."""
    x = t64(np.random.default_rng(1).random((15, 21)))
    y = downscale(x, 1 / 3, kernel=delta(k))
    assert tuple(y.shape) == (5, 7)
    np.testing.assert_allclose(y.numpy(), x.numpy()[1::3, 1::3], atol=1e-9)


def test_delta_at_sf2_samples_between_pixels():
    """sf = 2: the shifted delta interpolates at 2m + 0.5, the centre of LR pixel m (MATLAB map)."""
    n = 32
    ramp = t64(np.add.outer(0.5 * np.arange(n), 0.25 * np.arange(n)))
    y = downscale(ramp, 0.5, kernel=delta(5)).numpy()
    c = 2 * np.arange(n // 2) + 0.5
    expected = np.add.outer(0.5 * c, 0.25 * c)
    np.testing.assert_allclose(y[2:-2, 2:-2], expected[2:-2, 2:-2], atol=1e-9)
    # the reference: correlate with the shifted kernel (mirror edges), subsample at round(linspace)
    x = np.random.default_rng(2).random((n, n))
    ref = ndimage.correlate(x, shift_kernel(delta(5), (2, 2)), mode="reflect")[0::2, 0::2]
    np.testing.assert_allclose(downscale(t64(x), 0.5, kernel=delta(5)).numpy(), ref, atol=1e-12)


# ---- alignment of numeric kernels with MATLAB's pixel centres ---------------------------------
@pytest.mark.parametrize("k", [5, 7, 6, 8])
@pytest.mark.parametrize("sf", [2, 3, 4])
def test_kernel_downscale_aligned_with_matlab_centres(k, sf):
    """A linear ramp downscaled with any symmetric kernel must give the ramp at LR pixel centres
    x_in = (m + 0.5) * sf - 0.5 -- the same place MATLAB bicubic samples (odd and even kernel sizes)."""
    n = 12 * sf
    ramp = t64(np.add.outer(0.3 * np.arange(n), 0.1 * np.arange(n)))
    kern = blob(k, (k - 1) / 2, (k - 1) / 2, 1.0, 1.0)      # symmetric about the window centre
    y = downscale(ramp, 1 / sf, kernel=kern).numpy()
    assert y.shape == (12, 12)
    c = (np.arange(12) + 0.5) * sf - 0.5
    expected = np.add.outer(0.3 * c, 0.1 * c)
    # slopes 0.3 and 0.1 per pixel: 1e-3 is 1/100 of a pixel (a half-pixel misalignment is 0.05 - 0.15)
    np.testing.assert_allclose(y[3:-3, 3:-3], expected[3:-3, 3:-3], atol=1e-3)
    cub = imresize(ramp, 1 / sf).numpy()
    np.testing.assert_allclose(y[3:-3, 3:-3], cub[3:-3, 3:-3], atol=1e-3)


@pytest.mark.parametrize("scale, out", [((0.5, 0.5), (10, 12)), ((1 / 1.5, 1 / 1.5), (14, 16)),
                                        ((0.5, 1.0), (10, 23)), ((1 / 3, 0.5), (7, 12))])
def test_downscale_matches_scipy_reference(scale, out):
    """Correlate (mirror edges) with the shifted kernel, subsample at round(linspace(0, H - sf, out))."""
    x = np.random.default_rng(3).random((2, 20, 23))
    kern = blob(7, 2.6, 3.4) + 0.05
    kern /= kern.sum()
    y = downscale(t64(x), scale, kernel=kern).numpy()
    assert y.shape == (2, *out)
    sf = [1 / s for s in scale]
    sk = shift_kernel(kern, sf)
    rows = np.round(np.linspace(0, 20 - sf[0], out[0])).astype(int)
    cols = np.round(np.linspace(0, 23 - sf[1], out[1])).astype(int)
    for c in range(2):
        ref = ndimage.correlate(x[c], sk, mode="reflect")[np.ix_(rows, cols)]
        np.testing.assert_allclose(y[c], ref, atol=1e-12)


def test_correlate_is_correlation_not_convolution():
    x = np.zeros((9, 9))
    x[4, 4] = 1.0
    kern = np.arange(9.0).reshape(3, 3)
    y = correlate(t64(x), kern).numpy()
    np.testing.assert_allclose(y, ndimage.correlate(x, kern, mode="reflect"), atol=1e-12)
    assert not np.allclose(y, ndimage.convolve(x, kern, mode="reflect"))


# ---- shift_kernel -------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [5, 7, 9, 13])
@pytest.mark.parametrize("sf", [(2, 2), (3, 3), (4, 4), (2, 1.5), (1, 2), (1, 1)])
def test_shift_kernel_centre_of_mass_odd_sizes(k, sf):
    kern = blob(k, k / 2 - 0.8, k / 2 + 0.3)
    s = shift_kernel(kern, sf)
    assert s.ndim == 2 and all(n % 2 == 1 for n in s.shape), "odd kernels stay odd"
    assert s.sum() == pytest.approx(1.0, abs=1e-9) and s.min() >= 0
    shape = np.array(s.shape)
    wanted = shape // 2 + 0.5 * (np.array(sf, dtype=float) - shape % 2)   # the spec's formula
    com = np.array(ndimage.center_of_mass(s))
    np.testing.assert_allclose(com, wanted, atol=0.05)


def test_shift_kernel_of_centred_kernel_at_sf1_is_unchanged():
    g = gaussian_kernel(1.0, 1.0)
    np.testing.assert_allclose(shift_kernel(g, (1, 1)), g, atol=1e-12)


# ---- Gaussian kernels ---------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [(1.0, 1.0), (2.0, 0.7), (0.0, 1.5), (3.0, 0.0)])
def test_gaussian_kernel_sum_and_second_moment(sigma):
    g = gaussian_kernel(*sigma)
    assert g.sum() == pytest.approx(1.0, abs=1e-12)
    for axis, s in enumerate(sigma):
        prof = g.sum(axis=1 - axis)
        if s == 0:
            assert prof.shape == (1,)
            continue
        pos = np.arange(prof.size) - prof.size // 2
        assert float(np.sum(prof * pos)) == pytest.approx(0.0, abs=1e-12)           # centred
        assert float(np.sqrt(np.sum(prof * pos ** 2))) == pytest.approx(s, rel=0.02)  # right sigma


def test_fwhm_to_sigma():
    assert fwhm_to_sigma(2.3548200450309493) == pytest.approx(1.0)


@pytest.mark.parametrize("scale", [0.5, 1 / 3, (0.5, 1.0), 1 / 1.5])
def test_gaussian_downscale_of_constant_is_constant(scale):
    x = torch.full((1, 21, 25), 0.61, dtype=torch.float64)
    y = downscale(x, scale, kernel=gaussian_kernel(1.7, 0.9))
    np.testing.assert_allclose(y.numpy(), 0.61, atol=1e-12)


# ---- resolve_kernel / validation ------------------------------------------------------------------
def test_resolve_kernel_accepts():
    assert resolve_kernel(None) is None
    assert resolve_kernel("bicubic") is None
    g = resolve_kernel(("gaussian", 1.5))
    assert g.shape[0] == g.shape[1] and g.sum() == pytest.approx(1.0)
    g2 = resolve_kernel(("gaussian", 2.0, 0.0))
    assert g2.shape[1] == 1
    k = resolve_kernel(np.ones((3, 5)) * 7)
    np.testing.assert_allclose(k, 1 / 15)
    assert resolve_kernel(np.ones(5)).shape == (5, 1)


@pytest.mark.parametrize("bad", [
    np.array([[1.0, np.nan], [1.0, 1.0]]),
    np.array([[1.0, np.inf], [1.0, 1.0]]),
    -np.ones((3, 3)),                                   # negative sum
    np.array([[1.0, -3.0], [1.0, 0.5]]),                 # negative sum, mixed
    np.zeros((3, 3)),                                   # zero sum
    np.ones((3, 3, 3)),                                 # 3-D
    np.ones((300, 3)),                                  # huge
    np.ones((0, 3)),                                    # empty
    "lanczos",                                          # unknown name
    ("gaussian", -1.0),
])
def test_resolve_kernel_rejects(bad):
    with pytest.raises(ValueError):
        resolve_kernel(bad)


def test_validate_kernel_normalises():
    k = validate_kernel(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert k.sum() == pytest.approx(1.0)


def test_is_symmetric():
    assert is_symmetric(None)
    assert is_symmetric(gaussian_kernel(1.0, 1.0))
    assert not is_symmetric(gaussian_kernel(2.0, 0.5))
    assert not is_symmetric(gaussian_kernel(1.0, 0.0))
