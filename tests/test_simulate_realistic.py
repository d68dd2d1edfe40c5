"""simulate_acquisition: a 16-bit, noisy, anisotropic acquisition with a known slice profile."""

import numpy as np
import pytest

from napari_zssr.testing.simulate import (
    FWHM_PER_SIGMA,
    SNR_PHOTONS,
    camera,
    degrade,
    simulate_acquisition,
)

SHAPE = (24, 64, 64)


def fine_structure(image, axis):
    return float(np.mean(np.diff(image, axis=axis) ** 2) / np.var(image))


@pytest.fixture(scope="module")
def acq():
    return simulate_acquisition(SHAPE, z_step=4, seed=2, photons=SNR_PHOTONS["mid"])


def test_shapes_dtype_and_determinism(acq):
    assert acq.raw.shape == (6, 64, 64) and acq.raw.dtype == np.uint16
    assert acq.reference.shape == SHAPE and acq.reference.dtype == np.float32
    assert acq.z_fwhm_px == 4.0 and acq.params["photons"] == 200.0
    again = simulate_acquisition(SHAPE, z_step=4, seed=2, photons=200.0)
    np.testing.assert_array_equal(again.raw, acq.raw)
    assert not np.array_equal(simulate_acquisition(SHAPE, z_step=4, seed=3).raw, acq.raw)


def test_intensities_like_a_camera(acq):
    # offset 100 ADU, gain 2 ADU/e-, 200 e- at the brightest voxel: the reference spans 100..500
    assert acq.reference.min() >= 100.0 and acq.reference.max() == pytest.approx(500.0)
    assert 60 <= acq.raw.min() < 120 and 300 < acq.raw.max() < 700
    assert len(np.unique(acq.raw)) > 100            # many grey levels, not a binary-ish image


def test_noise_free_planes_are_the_reference_seen_through_the_slice_profile():
    clean = simulate_acquisition(SHAPE, z_step=3, seed=1, photons=None, z_fwhm_px=5.0)
    expected = degrade((clean.reference - 100.0) / 2.0, z_step=3, z_sigma_px=5.0 / FWHM_PER_SIGMA,
                       xy_sigma=0, photons=None, read_noise=0)
    np.testing.assert_allclose((clean.raw.astype(np.float64) - 100.0) / 2.0, expected, atol=0.26)


def test_reference_is_isotropic_and_the_psf_is_elongated_in_z():
    wide = simulate_acquisition(SHAPE, z_step=1, seed=0, photons=None, z_fwhm_px=4.0)
    scores = [fine_structure(wide.reference, a) for a in range(3)]
    assert max(scores) / min(scores) < 1.5
    raw = wide.raw.astype(np.float32)
    # the slice profile removes z detail; y and x keep theirs (only the 16-bit rounding differs)
    assert fine_structure(raw, 0) < 0.65 * fine_structure(wide.reference, 0)
    for axis in (1, 2):
        assert fine_structure(raw, axis) > 0.85 * fine_structure(wide.reference, axis)


def test_lower_photon_counts_are_noisier():
    def rel_noise(photons):
        a = simulate_acquisition(SHAPE, z_step=4, seed=0, photons=photons)
        clean = simulate_acquisition(SHAPE, z_step=4, seed=0, photons=None)
        signal = (clean.raw.astype(np.float64) - 100.0) / 2000.0 * photons   # electrons
        err = (a.raw.astype(np.float64) - 100.0) / 2.0 - signal
        return err.std() / signal.mean()
    assert rel_noise(SNR_PHOTONS["low"]) > 2.5 * rel_noise(SNR_PHOTONS["high"])


def test_camera_photon_transfer():
    flat = np.full((300, 300), 80.0)
    adu = camera(flat, gain=2.0, offset=100.0, read_noise=3.0, rng=np.random.default_rng(0))
    assert adu.dtype == np.uint16
    assert adu.mean() == pytest.approx(100 + 2 * 80, rel=0.005)
    assert adu.var() == pytest.approx(4 * (80 + 9) + 1 / 12, rel=0.06)   # gain^2 (shot + read^2) + rounding
    assert camera(np.full((2, 2), 1e6)).max() == 65535                    # saturates, never wraps


def test_bad_arguments():
    with pytest.raises(ValueError, match="3-D"):
        simulate_acquisition((64, 64))
    with pytest.raises(ValueError, match="z_step"):
        simulate_acquisition(SHAPE, z_step=0)
