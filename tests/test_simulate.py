"""napari_zssr.testing.simulate: determinism, shapes, content and the degradation model."""

import time

import numpy as np
import pytest
from scipy import ndimage

from napari_zssr.testing.simulate import (add_noise, degrade, simulate_image_2d, simulate_timeseries,
                                  simulate_volume)

SMALL = (32, 96, 96)


def fine_structure(image, axis):
    """Energy of neighbour differences along `axis` relative to the variance (0 = flat/smooth)."""
    return float(np.mean(np.diff(image, axis=axis) ** 2) / np.var(image))


@pytest.fixture(scope="module")
def volume():
    return simulate_volume(SMALL, seed=3)


def test_volume_shape_dtype_range(volume):
    assert volume.shape == SMALL
    assert volume.dtype == np.float32
    assert volume.min() >= 0.0 and volume.max() == pytest.approx(1.0)
    assert volume.std() > 0.05  # not constant, not a few specks


def test_same_seed_same_volume_other_seed_other_volume(volume):
    np.testing.assert_array_equal(simulate_volume(SMALL, seed=3), volume)
    assert not np.allclose(simulate_volume(SMALL, seed=4), volume)


def test_fine_structure_in_all_three_axes(volume):
    # an isotropic ground truth: detail along z as along y and x, and more than a blurred copy
    scores = [fine_structure(volume, a) for a in range(3)]
    blurred = ndimage.gaussian_filter(volume, 2.5)
    assert min(scores) > 0.025
    assert max(scores) / min(scores) < 1.5
    assert max(fine_structure(blurred, a) for a in range(3)) < 0.025


@pytest.mark.parametrize("kind", ["nuclei", "filaments", "beads", "nuclei+filaments+beads"])
def test_kinds(kind):
    v = simulate_volume((16, 48, 48), seed=0, kind=kind)
    assert v.shape == (16, 48, 48) and v.std() > 0.01


def test_kinds_of_one_seed_are_channels_of_one_scene():
    # "nuclei+filaments" is (up to scale and background) the sum of the two single kinds
    both = simulate_volume(SMALL, seed=5).ravel()

    def explained(nuclei, filaments):
        design = np.stack([nuclei.ravel(), filaments.ravel(), np.ones(both.size)], axis=1)
        residual = np.linalg.lstsq(design, both, rcond=None)[1][0]
        return 1.0 - residual / np.sum((both - both.mean()) ** 2)

    nuclei = simulate_volume(SMALL, seed=5, kind="nuclei")
    assert explained(nuclei, simulate_volume(SMALL, seed=5, kind="filaments")) > 0.995
    assert explained(nuclei, simulate_volume(SMALL, seed=6, kind="filaments")) < 0.99


def test_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        simulate_volume(SMALL, kind="nuclei+mitochondria")


def test_default_volume_is_fast():
    start = time.perf_counter()
    v = simulate_volume(seed=0)
    assert v.shape == (64, 256, 256)
    assert time.perf_counter() - start < 15.0  # a few seconds on 2 cores; generous for CI


def test_image_2d():
    a = simulate_image_2d((80, 100), seed=1)
    assert a.shape == (80, 100) and a.dtype == np.float32
    np.testing.assert_array_equal(a, simulate_image_2d((80, 100), seed=1))
    assert a.std() > 0.05
    assert min(fine_structure(a, 0), fine_structure(a, 1)) > 0.02


def test_timeseries_moves_a_little():
    ts = simulate_timeseries(5, (64, 64), seed=2)
    assert ts.shape == (5, 64, 64) and ts.dtype == np.float32
    np.testing.assert_array_equal(ts, simulate_timeseries(5, (64, 64), seed=2))
    for a, b in zip(ts[:-1], ts[1:]):
        assert not np.array_equal(a, b)  # something moved
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.8  # but only slightly
    assert simulate_timeseries(2, (8, 32, 32), seed=0).shape == (2, 8, 32, 32)


def test_degrade_shape_and_determinism(volume):
    d = degrade(volume, z_step=4, seed=1)
    assert d.shape == (8, 96, 96) and d.dtype == np.float32
    np.testing.assert_array_equal(d, degrade(volume, z_step=4, seed=1))
    assert not np.array_equal(d, degrade(volume, z_step=4, seed=2))  # noise follows the seed
    assert degrade(volume, z_step=4, z_offset=0).shape == (8, 96, 96)
    assert degrade(volume, z_step=3, z_offset=0).shape == (11, 96, 96)


def test_degrade_samples_at_pixel_centres():
    # a volume whose value is its z coordinate: each plane must read its slice's centre
    ramp = np.broadcast_to(np.arange(32, dtype=np.float32)[:, None, None], (32, 8, 8))
    clean = dict(xy_sigma=0, photons=None, read_noise=0)
    centred = degrade(ramp, z_step=4, **clean)[:, 0, 0]
    # (the first and last planes' profiles are cut by the stack ends)
    np.testing.assert_allclose(centred[2:-2], 1.5 + 4 * np.arange(2, 6), atol=1e-4)
    kept = degrade(ramp, z_step=4, z_sigma_px=0, z_offset=0, **clean)[:, 0, 0]
    np.testing.assert_allclose(kept, 4 * np.arange(8))


def test_degrade_blurs_along_z_only(volume):
    d = degrade(volume, z_step=1, z_sigma_px=3.0, xy_sigma=0, photons=None, read_noise=0)
    assert fine_structure(d, 0) < 0.5 * fine_structure(volume, 0)
    assert fine_structure(d, 2) > 0.6 * fine_structure(volume, 2)


def test_add_noise_statistics():
    flat = np.full((200, 200), 0.5, np.float32)
    noisy = add_noise(flat, photons=100.0, read_noise=0.0, seed=0)
    assert noisy.mean() == pytest.approx(0.5, rel=0.01)
    assert noisy.var() == pytest.approx(0.5 / 100.0, rel=0.1)  # Poisson: var = mean / photons
    with_read = add_noise(flat, photons=100.0, read_noise=5.0, seed=0)
    assert with_read.var() == pytest.approx(0.005 + (5.0 / 100.0) ** 2, rel=0.1)
    np.testing.assert_array_equal(add_noise(flat, None, 0.0), flat)


def test_thin_slab_gets_cell_sized_nuclei():
    """A volume of one or a few planes: nuclei sized by the plane, not by the single-plane depth
    (which asked for ~10^5 sub-pixel nuclei and took minutes)."""
    from napari_zssr.testing.simulate import _nuclei

    nuclei = _nuclei((1, 128, 128), np.random.default_rng(0))
    assert 1 <= len(nuclei) < 100
    assert min(float(n.radii.min()) for n in nuclei) > 2.0
