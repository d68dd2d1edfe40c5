"""Quality estimate on held-out parts of the image, and axial runs that carry it."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_zssr.engine import ZSSRConfig
from napari_zssr.engine.kernels import fwhm_to_sigma, gaussian_kernel
from napari_zssr.quality.gain import GainEstimate, held_out_gain
from napari_zssr.engine.zssr import TrainedModel, new_net, train
from napari_zssr.nd import super_resolve_nd
from napari_zssr.quality.holdout import holdout_planes
from napari_zssr.quality.profile_estimate import WIDE_FIT_MAX
from napari_zssr.testing.estimates import axial_with_estimate
from napari_zssr.testing.simulate import degrade, simulate_acquisition, simulate_image_2d, simulate_volume

TINY = ZSSRConfig(max_iters=30, test_every=10, crop_size=32, num_threads=1, precision="fp32", warmup_iters=10)


def cubic_model(sf, kernel):
    """A 'trained' model whose net adds nothing: with no back-projection it is cubic interpolation."""
    net = new_net(1, TINY, torch.device("cpu"))
    with torch.no_grad():
        net.body[-1].weight.zero_()
    cfg = TINY.replace(back_projection_iters=0, ensemble=False)
    return TrainedModel(net, sf, 1, kernel, cfg, torch.device("cpu"), "fp32")


def test_holdout_planes_are_few_interior_and_spread():
    assert holdout_planes(4, 0.1) == []
    assert holdout_planes(10, 0.1) == [4]
    many = holdout_planes(100, 0.1)
    assert len(many) == 4 and 0 < min(many) and max(many) < 99
    assert np.all(np.diff(many) > 15)


@pytest.mark.parametrize("noise_var,edge_share", [(0.0, None), (1e-3, None), (0.0, 0.2), (1e-3, 0.2)])
def test_a_net_that_adds_nothing_gains_nothing(noise_var, edge_share):
    # the whole pipeline (degradation, shapes, borders, noise correction) treats both sides alike
    kernel = gaussian_kernel(fwhm_to_sigma(4.0), 0.0)
    img = simulate_image_2d((64, 72), seed=1)[None]
    est = held_out_gain(cubic_model((4.0, 1.0), kernel), [img, img[:, :, ::-1].copy()], noise_var=noise_var,
                        edge_share=edge_share)
    assert est.gain_db == pytest.approx(0.0, abs=1e-4)
    assert est.n_examples == 2 and est.psnr_cubic > 10


def test_a_trained_net_beats_cubic_on_planes_it_never_saw():
    vol = simulate_acquisition((24, 64, 64), z_step=1, seed=4, photons=None, z_fwhm_px=0.0).reference
    vol = (vol - vol.min()) / (vol.max() - vol.min())
    kernel = gaussian_kernel(fwhm_to_sigma(3.0), 0.0)
    # (no back-projection: with a Gaussian kernel 3 px wide it costs this barely trained net its gain)
    # crops of whole low-resolution pixels (48 = 3 x 16), as the default's 96 are at x2, x3, x4, x6
    cfg = TINY.replace(max_iters=120, back_projection_iters=0, ensemble=False, crop_size=48)   # as slices are inferred
    model = train([vol[z][None] for z in range(0, 24, 2)], (3.0, 1.0), cfg, kernel=kernel)
    est = held_out_gain(model, [vol[z][None] for z in (5, 13, 19)])
    assert est.gain_db > 0.3
    assert est.psnr_model == pytest.approx(est.psnr_cubic + est.gain_db)


@pytest.mark.parametrize("noise_var", [0.0, 1e-3])
def test_edge_rows_count_with_the_share_the_output_gives_them(noise_var):
    # an axial result's first and last planes are extrapolated by every method: the held-out
    # fathers' edge rows (along the upscaled axis only) weigh in with the output's share of them
    kernel = gaussian_kernel(fwhm_to_sigma(4.0), 0.0)
    net = new_net(1, TINY, torch.device("cpu"))              # random weights: errors everywhere
    model = TrainedModel(net, (4.0, 1.0), 1, kernel, TINY.replace(back_projection_iters=0, ensemble=False),
                         torch.device("cpu"), "fp32")
    imgs = [simulate_image_2d((64, 72), seed=s)[None] for s in (1, 2)]
    inner = held_out_gain(model, imgs, noise_var=noise_var)
    assert held_out_gain(model, imgs, noise_var=noise_var, edge_share=0.0).mse_model == pytest.approx(inner.mse_model)
    edges = held_out_gain(model, imgs, noise_var=noise_var, edge_share=1.0)
    assert abs(edges.mse_cubic - inner.mse_cubic) > 0.05 * inner.mse_cubic      # the edges are another test
    mixed = held_out_gain(model, imgs, noise_var=noise_var, edge_share=0.25)
    assert mixed.mse_model == pytest.approx(0.75 * inner.mse_model + 0.25 * edges.mse_model, rel=1e-6)
    assert mixed.mse_cubic == pytest.approx(0.75 * inner.mse_cubic + 0.25 * edges.mse_cubic, rel=1e-6)


def test_edge_share_of_an_axis():
    from napari_zssr.quality.holdout import edge_share
    assert edge_share(96, 4.0) == pytest.approx(8 / 96)
    assert edge_share(96, 2.5) == pytest.approx(6 / 96)
    assert edge_share(6, 4.0) == 1.0


def test_messages():
    good = GainEstimate(1.234, 30.0, 28.8, 4, 0.0)
    assert good.message() == "expected gain over cubic: +1.2 dB (measured on held-out parts of this image)"
    assert good.warning() is None and not good.below_cubic
    bad = GainEstimate(-0.7, 28.0, 28.7, 4, 0.0)
    assert bad.below_cubic and "0.7 dB WORSE than cubic" in bad.warning() and "slice profile" in bad.warning()
    assert bad.to_dict()["expected_gain_db"] == -0.7


def test_wrong_example_shape():
    with pytest.raises(ValueError, match="held-out examples"):
        held_out_gain(cubic_model((2.0, 1.0), None), [np.zeros((32, 32), np.float32)])
    with pytest.raises(ValueError, match="no held-out"):
        held_out_gain(cubic_model((2.0, 1.0), None), [])


@pytest.fixture(scope="module")
def acquisition():
    return simulate_acquisition((24, 48, 48), z_step=3, seed=5, photons=200.0).raw


def test_without_holdout_it_is_the_ordinary_axial_run(acquisition):
    run = axial_with_estimate(acquisition, scale=3, config=TINY, holdout_fraction=0)
    plain = super_resolve_nd(acquisition, "ZYX", mode="axial", scale=3, config=TINY.replace(holdout_fraction=0))
    np.testing.assert_array_equal(run.result.data, plain.data)
    assert run.quality is None and run.result.params["quality"] == [None]
    assert run.result.params["expected_gain_db"] is None
    # with the default hold-out it is the ordinary run too, which measures the same estimate
    held = axial_with_estimate(acquisition, scale=3, config=TINY)
    default = super_resolve_nd(acquisition, "ZYX", mode="axial", scale=3, config=TINY)
    np.testing.assert_array_equal(held.result.data, default.data)
    assert held.quality.gain_db == pytest.approx(default.params["expected_gain_db"], abs=1e-3)
    assert not np.array_equal(held.result.data, plain.data)       # trained without the held-out plane


def test_holdout_run_records_the_estimate_and_the_estimated_profile(acquisition):
    run = axial_with_estimate(acquisition, scale=3, config=TINY, z_fwhm="estimate")
    assert run.result.data.shape == (24, 48, 48)
    (q,) = run.result.params["quality"]
    assert q["held_out"] == {"planes": [4]} and q["held_out_examples"] == 2
    assert q["message"].startswith("expected gain over cubic: ")
    assert np.isfinite(q["expected_gain_db"]) and q["noise_var"] > 0
    est = run.result.params["z_fwhm_estimate"]
    assert est is run.profile and 1.5 < est["z_fwhm_px"] < 6
    if est["used"]:
        assert run.result.params["z_fwhm"] == pytest.approx(est["z_fwhm_steps"], abs=1e-3)
        assert any(n.startswith("slice profile estimated from the data: FWHM") for n in run.result.notices)
    else:
        assert run.result.params["z_fwhm"] is None
        assert any("unreliable" in n or "assumed one z step" in n for n in run.result.notices)
    same = axial_with_estimate(acquisition, scale=3, config=TINY)       # None: estimated as well
    np.testing.assert_array_equal(same.result.data, run.result.data)
    user = axial_with_estimate(acquisition, scale=3, config=TINY, z_fwhm=1.0)   # a user value wins
    assert user.result.params["z_fwhm"] == 1.0
    assert user.profile["used"] is False and user.profile["given_steps"] == 1.0     # checked, not used
    with pytest.raises(ValueError, match="estimate"):
        axial_with_estimate(acquisition, scale=3, config=TINY, z_fwhm="guess")


@pytest.mark.parametrize("fwhm_px", [2.0, 6.0])
def test_a_reliable_estimate_sets_the_slice_profile_of_an_axial_run(fwhm_px):
    # narrower (0.5 z steps) and wider (1.5) than one step: a Gaussian slice profile fits closely
    acq = simulate_acquisition((64, 96, 96), z_step=4, seed=1, photons=1000.0, z_fwhm_px=fwhm_px)
    res = super_resolve_nd(acq.raw, "ZYX", mode="axial", scale=4, config=TINY.replace(max_iters=5))
    est = res.params["z_fwhm_estimate"]
    assert est["used"] and est["fit_cost"] <= WIDE_FIT_MAX
    assert (est["z_fwhm_steps"] > 1) is (fwhm_px > 4)
    assert res.params["z_fwhm"] == est["z_fwhm_steps"] and res.params["z_fwhm_unit"] == "steps"


def test_a_wide_estimate_that_no_slice_profile_explains_is_reported_not_used():
    # widefield-like haze: a long-tailed axial blur on top of the sharp volume makes z look wider than
    # one step, but not as a Gaussian slice profile would (real NEUBIAS widefield: restoring it lost)
    gt = simulate_volume((96, 96, 96), seed=1)
    x = np.arange(-30, 31)
    k = np.exp(-np.abs(x) / 6.0)
    hazy = 0.5 * gt + 0.5 * ndimage.convolve1d(gt, k / k.sum(), axis=0, mode="reflect")
    raw = degrade(hazy, z_step=4, photons=1000.0, seed=1)
    res = super_resolve_nd(raw, "ZYX", mode="axial", scale=4, config=TINY.replace(max_iters=5))
    est = res.params["z_fwhm_estimate"]
    # the shape fit reads the haze as hardly wider than one step (1.06); the level-matched fit reads it
    # wider (1.35) and fits badly: either way one step is kept, and said
    assert est["level_fit_steps"] > 1.25 and est["fit_cost"] > WIDE_FIT_MAX
    assert not est["used"] and (est["wider_than_one_step"] or est["near_one_step"]) and res.params["z_fwhm"] is None
    assert any("assumed one z step" in n for n in res.notices)


@pytest.mark.parametrize("given, disagrees", [(0.8, True), (1.5, False)])
def test_a_given_profile_wins_but_a_far_one_gets_a_notice(given, disagrees):
    # the held-out estimate degrades with the profile the run assumes, so it cannot see a wrong one:
    # the data's own estimate (true FWHM 1.5 z steps here) says when the given value is far off
    acq = simulate_acquisition((64, 96, 96), z_step=4, seed=1, photons=1000.0, z_fwhm_px=6.0)
    res = super_resolve_nd(acq.raw, "ZYX", mode="axial", scale=4, z_fwhm=given, config=TINY.replace(max_iters=5))
    est = res.params["z_fwhm_estimate"]
    assert res.params["z_fwhm"] == given and est["given_steps"] == given and est["used"] is False
    assert est["reliable"] and est["disagrees"] is disagrees
    far = [n for n in res.notices if n.startswith(f"the z FWHM given ({given:.2f} z steps) is far from")]
    assert len(far) == int(disagrees)
    same = super_resolve_nd(acq.raw, "ZYX", mode="axial", scale=4, config=TINY.replace(max_iters=5),
                            z_fwhm=given * 1.6, z_fwhm_unit="um", pixel_sizes={"z": 1.6, "y": 0.4, "x": 0.4})
    assert same.params["z_fwhm_estimate"]["given_steps"] == pytest.approx(given)    # um: the same profile


def test_check_given_only_flags_a_reliable_estimate_far_from_the_given_profile():
    from napari_zssr.quality.profile_estimate import GIVEN_MISMATCH, check_given, profile_notice
    rec = {"z_fwhm_px": 6.0, "z_fwhm_steps": 1.5, "reliable": True}
    assert check_given(rec, 1.0)["disagrees"] is (1.5 > GIVEN_MISMATCH)
    assert check_given(rec, 0.9)["disagrees"] and check_given(rec, 2.5)["disagrees"]
    assert not check_given(rec | {"reliable": False}, 0.5)["disagrees"]
    assert profile_notice(check_given(rec, 1.4)) is None
    assert "given value was used" in profile_notice(check_given(rec, 0.5))
    assert check_given(None, 1.0) is None


def test_noise_kept_by_a_gaussian_slice_profile():
    from napari_zssr.quality.gain import noise_kept
    kernel = gaussian_kernel(fwhm_to_sigma(4.0), 0.0)
    # a Gaussian of sigma s keeps about 1 / (2 sqrt(pi) s) of white noise's variance
    assert noise_kept((128, 128), (4.0, 1.0), kernel) == pytest.approx(1 / (2 * np.sqrt(np.pi) * fwhm_to_sigma(4.0)),
                                                                       rel=0.1)


def test_noise_on_sons_is_measured_in_the_data_by_default_and_recorded(acquisition):
    on = axial_with_estimate(acquisition, scale=3, config=TINY)
    (model,) = on.result.params["noise_on_sons_model"]
    assert on.result.params["noise_on_sons_std"] == [0.0]     # all of it signal-dependent, measured
    assert model["slope"] > 0                                 # shot noise grows with the signal
    mean_var = model["slope"] * 0.5 + model["intercept"]      # at mid-range (normalised units)
    assert 0 < mean_var < 0.2 ** 2                            # the data are noisy
    off = axial_with_estimate(acquisition, scale=3, config=TINY, noise_aware=False)
    assert off.result.params["noise_on_sons_std"] == [0.0]
    assert off.result.params["noise_on_sons_model"] == [{"slope": 0.0, "intercept": 0.0}]
    assert not np.array_equal(on.result.data, off.result.data)
    given = axial_with_estimate(acquisition, scale=3, config=TINY.replace(noise_std=0.05))   # a user value wins
    assert given.result.params["noise_on_sons_std"] == [0.05]
    assert given.result.params["noise_on_sons_model"] == [{"slope": 0.0, "intercept": 0.0}]
    assert not ZSSRConfig.from_preset("paper").noise_aware
    lateral = super_resolve_nd(acquisition[0], "YX", factors=2, config=TINY)
    assert lateral.params["noise_on_sons_std"] == [0.0]       # lateral inputs: their noise is not measurable


NARROWER = {"z_fwhm_px": 1.8, "z_fwhm_steps": 0.6, "interval_px": [1.2, 3.0], "reliable": False, "noise_var": 0.0,
            "fit_cost": 0.5, "used": False, "near_one_step": False, "wider_than_one_step": False,
            "narrower_than_one_step": True}


def test_one_step_assumed_but_z_reading_sharper_is_not_back_projected(monkeypatch, acquisition):
    # back-projection would force the assumed one-step profile on a result whose truth may be
    # narrower (real rows: -0.4 to -0.6 dB at 0.7 steps); the user can still ask for it
    from napari_zssr.nd import in_memory
    monkeypatch.setattr(in_memory, "profile_record", lambda volume, factor: dict(NARROWER))
    res = super_resolve_nd(acquisition, "ZYX", mode="axial", scale=3, config=TINY)
    off = super_resolve_nd(acquisition, "ZYX", mode="axial", scale=3, config=TINY.replace(back_projection_iters=0))
    np.testing.assert_array_equal(res.data, off.data)
    assert "back_projection" not in res.params["quality"][0]
    assert any("not back-projected" in n for n in res.notices)
    always = super_resolve_nd(acquisition, "ZYX", mode="axial", scale=3,
                              config=TINY.replace(back_projection_auto=False))
    assert not np.array_equal(always.data, res.data)
    given = super_resolve_nd(acquisition, "ZYX", mode="axial", scale=3, z_fwhm=1.0, config=TINY)
    assert given.params["z_fwhm_estimate"]["narrower_than_one_step"] is False     # a given profile is kept
    assert "back_projection" in given.params["quality"][0]


def test_back_projection_off_only_for_an_assumed_profile_read_narrower():
    from napari_zssr.quality.profile_estimate import back_projection_off, check_given
    assert back_projection_off(NARROWER) and not back_projection_off(NARROWER, back_projection_auto=False)
    assert not back_projection_off(None) and not back_projection_off(NARROWER | {"narrower_than_one_step": False})
    assert not back_projection_off(check_given(NARROWER, 1.0))


@pytest.mark.parametrize("steps, cost, used, near", [(1.1, 0.01, False, True), (0.85, 0.01, False, True),
                                                     (1.4, 0.01, True, False), (1.4, 0.1, False, False),
                                                     (0.7, 0.1, True, False)])
def test_a_reliable_estimate_near_one_step_or_wide_and_ill_fitted_keeps_one_step(monkeypatch, steps, cost, used, near):
    from napari_zssr.quality import profile_estimate as pe

    class Fake:
        reliable, fwhm_steps, fit_cost = True, steps, cost

        def to_dict(self):
            return {"z_fwhm_px": 4 * steps, "z_fwhm_steps": steps, "reliable": True}
    monkeypatch.setattr(pe, "estimate_z_fwhm", lambda volume, factor: Fake())
    rec = pe.profile_record(np.zeros((8, 8, 8)), 4.0)
    assert rec["used"] is used and rec["near_one_step"] is near
    notice = pe.profile_notice(rec)
    assert rec["wider_than_one_step"] is (steps > pe.NEAR_ONE_STEP and cost > pe.WIDE_FIT_MAX)
    if rec["wider_than_one_step"]:       # wide and no slice profile explains it: one step is kept
        assert "axial blur" in notice and "assumed one z step" in notice
    else:
        assert notice.startswith("slice profile estimated from the data: FWHM")
        assert ("assumed one z step" in notice) is near


def test_the_noise_correction_uses_each_methods_own_share_of_the_fathers_noise(monkeypatch):
    # a "network" that smooths cubic's result carries along less of a father's noise than cubic;
    # the corrected errors must match the errors against the noise-free father for both methods
    from napari_zssr.quality import gain
    from napari_zssr.engine.kernels import downscale
    from napari_zssr.engine.resize import imresize

    def smooth(x):                       # a fixed linear denoiser along both axes
        k = torch.tensor([0.25, 0.5, 0.25])
        x = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
        x = k[0] * x[..., :-2, :] + k[1] * x[..., 1:-1, :] + k[2] * x[..., 2:, :]
        return k[0] * x[..., :-2] + k[1] * x[..., 1:-1] + k[2] * x[..., 2:]

    def fake_sr(net, lr, sf, kernel, precision, **kw):
        return smooth(imresize(lr, sf))

    monkeypatch.setattr(gain, "super_resolve_tensor", fake_sr)
    sf, kernel = (4.0, 1.0), gaussian_kernel(fwhm_to_sigma(4.0), 0.0)
    clean = simulate_image_2d((128, 128), seed=2)[None].astype(np.float32)
    clean = (clean - clean.min()) / (clean.max() - clean.min())
    nv = 0.05 ** 2
    rng = np.random.default_rng(0)
    fathers = [clean + rng.normal(0, 0.05, clean.shape).astype(np.float32) for _ in range(6)]
    est = held_out_gain(cubic_model(sf, kernel), fathers, noise_var=nv)
    # the truth: the same pipelines on noisy fathers (with the noise their sons lost put back),
    # measured against the clean father
    kept = gain.noise_kept((128, 128), sf, kernel)
    se_m = se_c = 0.0
    c = torch.as_tensor(clean)
    for _ in range(6):
        f = torch.as_tensor(clean + rng.normal(0, 0.05, clean.shape).astype(np.float32))
        lr = downscale(f[None], (0.25, 1.0), kernel=kernel)
        lr = lr + float(np.sqrt(nv * (1 - kept))) * torch.as_tensor(rng.normal(size=lr.shape).astype(np.float32))
        cub = imresize(lr, sf, output_shape=(128, 128))[0]
        se_m += float(torch.mean((smooth(cub)[:, 4:-4, 1:-1] - c[:, 4:-4, 1:-1]) ** 2))
        se_c += float(torch.mean((cub[:, 4:-4, 1:-1] - c[:, 4:-4, 1:-1]) ** 2))
    assert est.mse_model == pytest.approx(se_m / 6, rel=0.05)
    assert est.mse_cubic == pytest.approx(se_c / 6, rel=0.05)
    assert est.gain_db == pytest.approx(10 * np.log10(se_c / se_m), abs=0.2)


def test_the_noise_model_fits_poisson_gaussian_noise():
    from napari_zssr.engine.noise import fit_noise_model
    rng = np.random.default_rng(3)
    clean = np.stack([simulate_image_2d((128, 128), seed=s) for s in range(3)]).astype(np.float64)
    clean = 0.1 + 0.8 * (clean - clean.min()) / (clean.max() - clean.min())
    slope, intercept = 4e-3, 2e-4                            # variance = slope * signal + intercept
    noisy = clean + rng.normal(size=clean.shape) * np.sqrt(slope * clean + intercept)
    model = fit_noise_model(noisy)
    assert model.slope == pytest.approx(slope, rel=0.15)
    assert model.intercept == pytest.approx(intercept, abs=2e-4)
    flat = fit_noise_model(clean + rng.normal(0, 0.02, clean.shape))   # white noise: no slope
    assert abs(flat.slope) < 5e-5 and flat.intercept == pytest.approx(4e-4, rel=0.15)
    scaled = fit_noise_model(noisy, mean_variance=1e-3)     # rescaled to a given mean variance
    assert scaled.slope / scaled.intercept == pytest.approx(model.slope / model.intercept, rel=1e-6)


def test_sons_get_noise_that_grows_with_their_signal():
    from napari_zssr.engine.examples import make_son
    from napari_zssr.engine.noise import NoiseModel
    fathers = torch.stack([torch.full((1, 64, 64), 0.1), torch.full((1, 64, 64), 0.9)])
    clean = make_son(fathers, (2.0, 2.0), None)
    rng = np.random.default_rng(0)
    noisy = make_son(fathers, (2.0, 2.0), None, rng=rng, noise=NoiseModel(0.01, 0.0))
    dark, bright = (float(torch.var(noisy[i] - clean[i])) for i in (0, 1))
    assert bright / dark == pytest.approx(9.0, rel=0.25)          # variance = 0.01 x signal
    flat = make_son(fathers, (2.0, 2.0), None, noise_std=0.05, rng=np.random.default_rng(0))
    assert float(torch.var(flat[1] - clean[1])) / float(torch.var(flat[0] - clean[0])) == pytest.approx(1.0, rel=0.25)
