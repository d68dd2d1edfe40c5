"""Slice-profile (z FWHM) estimate from the volume itself."""

import numpy as np
import pytest

from napari_zssr.quality.profile_estimate import estimate_z_fwhm, noise_variance
from napari_zssr.testing.simulate import simulate_acquisition


@pytest.mark.parametrize("profile", [0.7, 1.5])
def test_estimate_within_25_percent_of_a_known_profile(profile):
    acq = simulate_acquisition((64, 128, 128), z_step=4, seed=1, photons=200.0, z_fwhm_px=4 * profile)
    est = estimate_z_fwhm(acq.raw, 4)
    assert est.fwhm_px == pytest.approx(4 * profile, rel=0.25)
    assert est.fwhm_steps == pytest.approx(est.fwhm_px / 4)
    lo, hi = est.interval_px()
    assert lo <= hi
    assert set(est.to_dict()) >= {"z_fwhm_px", "z_fwhm_steps", "reliable"}


def test_wider_profile_gives_a_wider_estimate():
    narrow = simulate_acquisition((48, 128, 128), z_step=3, seed=2, photons=1000.0, z_fwhm_px=2.0)
    wide = simulate_acquisition((48, 128, 128), z_step=3, seed=2, photons=1000.0, z_fwhm_px=6.0)
    assert estimate_z_fwhm(wide.raw, 3).fwhm_px > 2 * estimate_z_fwhm(narrow.raw, 3).fwhm_px


def test_noise_variance_of_white_noise_on_smooth_signal():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :96]
    smooth = 100 + 50 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    planes = np.stack([smooth + rng.normal(0, 3.0, smooth.shape) for _ in range(3)])
    assert noise_variance(planes) == pytest.approx(9.0, rel=0.1)


def test_noise_does_not_pass_for_a_sharper_z():
    # the same sample at 1000 and 50 photons: the estimate may spread, not collapse towards 0
    for photons in (1000.0, 50.0):
        acq = simulate_acquisition((64, 128, 128), z_step=4, seed=3, photons=photons)
        assert estimate_z_fwhm(acq.raw, 4).fwhm_px > 3.0


@pytest.mark.parametrize("shape, factor, match", [((4, 64, 64), 4, "at least 6"), ((16, 64, 64), 1.0, "factor"),
                                                  ((16, 64), 4, "Z, Y, X"), ((16, 12, 12), 4, "too small")])
def test_bad_input(shape, factor, match):
    with pytest.raises(ValueError, match=match):
        estimate_z_fwhm(np.ones(shape), factor)


def test_short_z_lines_are_never_called_reliable():
    acq = simulate_acquisition((40, 96, 96), z_step=4, seed=0, photons=None)   # 10 planes
    est = estimate_z_fwhm(acq.raw, 4)
    assert est.line_length == 10 and not est.reliable
