"""Every run measures its expected gain over cubic on held-out parts and keeps back-projection only
where it helps there (quality/holdout.py); the CLI, batch and the records carry the estimate."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_zssr.cli import main
from napari_zssr.engine.config import ZSSRConfig
from napari_zssr.quality.gain import GainEstimate
from napari_zssr.nd import merge_channel_results, super_resolve_nd
from napari_zssr.quality import holdout
from napari_zssr.testing.simulate import simulate_image_2d

TINY = ZSSRConfig(max_iters=20, crop_size=32, ensemble=False, n_steps=1, back_projection_iters=2, num_threads=1,
                  device="cpu", seed=0)


def _planes(n, h=40, w=40):
    return [np.full((1, h, w), i, np.float32) for i in range(n)]


def test_a_stack_holds_out_interior_planes():
    hold = holdout.split(_planes(12), (2.0, 2.0), 0.1)
    held = hold.where["planes"]
    assert held == holdout.holdout_planes(12, 0.1) and len(held) == 1 and 0 < held[0] < 11
    assert [int(p[0, 0, 0]) for p in hold.held] == held
    assert len(hold.train) == 12 - len(held) and not {int(p[0, 0, 0]) for p in hold.train} & set(held)


def test_a_single_image_holds_out_a_band_across_its_longer_axis():
    img = np.arange(1 * 100 * 60, dtype=np.float32).reshape(1, 100, 60)
    hold = holdout.split([img], (2.0, 2.0), 0.1)
    (train,), (band,) = hold.train, hold.held
    assert hold.where == {"band": {"axis": "y", "start": 84, "size": 16}}
    assert train.shape == (1, 84, 60) and band.shape == (1, 16, 60)
    np.testing.assert_array_equal(np.concatenate([train, band], axis=1), img)
    wide = holdout.split([np.zeros((1, 60, 200), np.float32)], (4.0, 4.0), 0.1)   # x4: at least 8x4 columns
    assert wide.where["band"] == {"axis": "x", "start": 168, "size": 32}


def test_too_small_or_switched_off_holds_out_nothing():
    assert holdout.split([np.zeros((1, 60, 60), np.float32)], (2.0, 2.0), 0.1).held == []   # 60 < 5 x 16
    assert holdout.split(_planes(12), (2.0, 2.0), 0.0).held == []
    assert holdout.band_size(500, 2.0, 0.0) == 0


def test_both_axes_adds_the_transposed_parts():
    img = np.random.default_rng(0).random((1, 160, 80)).astype(np.float32)
    hold = holdout.split([img], (3.0, 1.0), 0.1, both_axes=True)
    a, b = hold.fathers
    np.testing.assert_array_equal(b, a.transpose(0, 2, 1))


def _fake_gain(with_bp: float, without_bp: float):
    """held_out_gain that reads `with_bp` with back-projection and `without_bp` without."""
    def fake_gain(model, fathers, *, noise_var=0.0, config=None, seed=0, noise_model=None, noise_filter=None,
                  edge_share=None):
        g = with_bp if config.back_projection_iters else without_bp
        return GainEstimate(g, 30 + g, 30.0, len(fathers), noise_var)
    return fake_gain


@pytest.mark.parametrize("with_bp, without_bp, used", [(1.0, 0.5, True), (-1.5, 0.4, False)])
def test_back_projection_is_kept_only_where_it_helps(monkeypatch, with_bp, without_bp, used):
    monkeypatch.setattr(holdout, "held_out_gain", _fake_gain(with_bp, without_bp))
    hold = holdout.split(_planes(12), (2.0, 2.0), 0.1)
    record, icfg = holdout.measure(None, hold, TINY.replace(back_projection_iters=10))
    assert record["back_projection"]["used"] is used
    assert icfg.back_projection_iters == (10 if used else 0)
    assert record["expected_gain_db"] == (with_bp if used else without_bp)
    fixed, cfg = holdout.measure(None, hold, TINY.replace(back_projection_iters=10, back_projection_auto=False))
    assert cfg.back_projection_iters == 10 and "back_projection" not in fixed
    assert fixed["expected_gain_db"] == with_bp


@pytest.mark.parametrize("with_bp, without_bp, used", [(1.0, 1.3, True), (1.0, 1.6, False), (-1.5, 0.4, False)])
def test_an_axial_run_drops_back_projection_only_for_a_clear_loss(monkeypatch, with_bp, without_bp, used):
    monkeypatch.setattr(holdout, "held_out_gain", _fake_gain(with_bp, without_bp))
    hold = holdout.split(_planes(12), (2.0, 1.0), 0.1, both_axes=True)       # axial: xy planes for z
    record, icfg = holdout.measure(None, hold, TINY.replace(back_projection_iters=10), deaverage_planes=False)
    assert without_bp - with_bp < holdout.AXIAL_BP_MARGIN_DB or not used
    assert record["back_projection"]["used"] is used and icfg.back_projection_iters == (10 if used else 0)


def test_summary_speaks_for_the_worst_network_and_warns_below_cubic():
    good = GainEstimate(1.23, 31.2, 30.0, 2, 0.0).to_dict()
    bad = GainEstimate(-0.8, 29.2, 30.0, 2, 0.0).to_dict()
    msg, warn = holdout.summary({"quality": [good, None]})
    assert msg == "expected gain over cubic: +1.2 dB (measured on held-out parts of this image)" and warn is None
    msg, warn = holdout.summary({"quality": [good, bad]})
    assert "-0.8 dB" in msg and "lowest of 2 networks" in msg
    assert "0.8 dB WORSE than cubic" in warn and "slice profile" in warn
    assert holdout.summary({"quality": [None]}) == (None, None) and holdout.summary({}) == (None, None)
    assert holdout.expected_gain({"quality": [good, bad]}) == -0.8


def test_an_axial_summary_gives_the_real_volume_range_and_may_lose_to_cubic_when_it_reaches_below_zero():
    lo, hi = holdout.AXIAL_ERROR_DB
    for gain in (3.0, 1.0):
        est = GainEstimate(gain, 30.0 + gain, 30.0, 2, 0.0).to_dict()
        rec = est | {"expected_gain_range_db": [gain + lo, gain + hi]}
        msg, warn = holdout.summary({"quality": [rec]})
        span = f"likely {gain + lo:+.1f} to {gain + hi:+.1f} dB"
        assert msg.startswith(f"expected gain over cubic: {gain:+.1f} dB, {span}")
        # a range reaching below 0 dB: the user is told the result may lose to cubic
        assert (warn is not None and "may be no better than cubic" in warn) is (gain + lo < 0)
    below = GainEstimate(-0.5, 29.5, 30.0, 2, 0.0).to_dict() | {"expected_gain_range_db": [-2.0, 1.5]}
    assert "WORSE than cubic" in holdout.summary({"quality": [below]})[1]


def test_an_assumed_slice_profile_widens_the_axial_range_below():
    g = 2.0
    rec = GainEstimate(g, 32.0, 30.0, 2, 0.0).to_dict() | {
        "expected_gain_range_db": holdout.gain_range(g, holdout.AXIAL_ERROR_DB), "range_of": "axial"}
    lateral = rec | {"range_of": "lateral"}
    unreliable = {"z_fwhm_steps": 0.15, "reliable": False, "used": False, "near_one_step": False}
    wide = {"z_fwhm_steps": 1.5, "reliable": True, "used": False, "near_one_step": False, "wider_than_one_step": True}
    lo, hi = holdout.AXIAL_ASSUMED_ERROR_DB
    assert lo < holdout.AXIAL_ERROR_DB[0]
    for profile in (unreliable, wide):          # one z step assumed: a narrower truth loses more than the test sees
        (q, l2, none) = holdout.with_profile([rec, lateral, None], profile)
        assert q["expected_gain_range_db"] == pytest.approx([g + lo, g + hi]) and q["profile_assumed"]
        assert l2 == lateral and none is None
        msg, warn = holdout.summary({"quality": [q]})
        assert "if the slice profile is one z step, as assumed" in msg and "may be no better than cubic" in warn
    # measured and used, confirmed near one step, or given: the range stays
    for profile in (unreliable | {"reliable": True, "used": True},
                    unreliable | {"reliable": True, "near_one_step": True}, unreliable | {"given_steps": 1.0}, None):
        assert holdout.with_profile([rec], profile) == [rec]


def test_where_z_differs_from_xy_beyond_a_slice_profile_no_figure_is_reported_only_a_range():
    g = 4.0
    rec = GainEstimate(g, 34.0, 30.0, 2, 0.0).to_dict() | {
        "expected_gain_range_db": holdout.gain_range(g, holdout.AXIAL_ERROR_DB), "range_of": "axial"}
    fits = {"z_fwhm_steps": 1.0, "reliable": True, "used": False, "near_one_step": True}
    assert not holdout.held_out_untrusted(fits | {"fit_cost": holdout.WIDE_FIT_MAX})
    assert holdout.with_profile([rec], fits | {"fit_cost": 0.02}) == [rec]       # z explained: the figure stands
    assert holdout.expected_gain({"quality": [rec]}) == g
    for profile in (fits | {"fit_cost": 0.5}, fits | {"fit_cost": 0.5, "given_steps": 1.0}):   # given or not
        (q,) = holdout.with_profile([rec], profile)
        assert q["held_out_trusted"] is False and q["expected_gain_db"] == g     # the measurement is kept
        lo, hi = holdout.AXIAL_UNTRUSTED_ERROR_DB
        assert hi > holdout.AXIAL_ASSUMED_ERROR_DB[1]        # the truth was also far above such estimates
        assert q["expected_gain_range_db"] == pytest.approx([g + lo, g + hi])
        params = {"quality": [q]}
        assert holdout.expected_gain(params) is None                             # but no figure is reported
        msg, warn = holdout.summary(params)
        assert msg.startswith("no expected gain to trust") and f"{g:+.1f} dB" not in msg
        assert f"likely {g + lo:+.1f} to {g + hi:+.1f} dB" in msg
        assert "may be no better than cubic" in warn and f"{g:+.1f}" not in warn


REAL_NUCLEUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "neubias_dna_conf_wf.tif"


@pytest.mark.skipif(not REAL_NUCLEUS.exists(), reason="../shared/data/real is absent")
def test_a_real_nucleus_gets_no_expected_gain_figure_but_a_range_and_a_warning():
    # the NEUBIAS confocal nucleus, z sampled every 4th plane: its held-out estimate was 1.8 to 7.5 dB
    # too high on the real rows; its z lines differ from its xy planes beyond a slice profile
    vol = tifffile.imread(REAL_NUCLEUS)[::4, 0]
    res = super_resolve_nd(vol, "ZYX", mode="axial", scale=4, config=TINY.replace(max_iters=20, test_every=10))
    (q,) = res.params["quality"]
    assert res.params["z_fwhm_estimate"]["fit_cost"] > holdout.WIDE_FIT_MAX
    assert q["held_out_trusted"] is False and res.params["expected_gain_db"] is None
    msg, warn = holdout.summary(res.params)
    assert msg.startswith("no expected gain to trust") and "may be no better than cubic" in warn


@pytest.fixture(scope="module")
def image():
    return simulate_image_2d((96, 96), seed=3)


def test_a_lateral_run_records_the_estimate_and_its_back_projection_choice(image):
    res = super_resolve_nd(image, "YX", factors=2, config=TINY)
    (q,) = res.params["quality"]
    assert q["held_out"] == {"band": {"axis": "y", "start": 80, "size": 16}}
    assert np.isfinite(q["expected_gain_db"]) and res.params["expected_gain_db"] == q["expected_gain_db"]
    assert set(q["back_projection"]) == {"gain_with_db", "gain_without_db", "used"}
    # with the range the truth fell in on real planes, which the message gives
    lo, hi = holdout.LATERAL_ERROR_DB
    assert q["expected_gain_range_db"] == pytest.approx([q["expected_gain_db"] + lo, q["expected_gain_db"] + hi],
                                                        abs=0.01)
    msg, warn = holdout.summary(res.params)
    assert f"likely {q['expected_gain_db'] + lo:+.1f} to" in msg and "held-out part of this image" in msg
    assert (warn is not None) is (q["expected_gain_db"] + lo < 0)
    json.dumps(res.params)                                                 # the record stays JSON
    # the paper preset is the authors' method: every pixel trains, back-projection always
    paper = ZSSRConfig.from_preset("paper")
    assert paper.holdout_fraction == 0 and not paper.back_projection_auto
    off = super_resolve_nd(image, "YX", factors=2, config=TINY.replace(holdout_fraction=0))
    assert off.params["quality"] == [None] and off.params["expected_gain_db"] is None


def test_stacks_hold_out_planes_and_per_plane_runs_each_a_band(image):
    stack = np.stack([np.roll(image, 7 * i, axis=1) for i in range(6)])
    shared = super_resolve_nd(stack, "ZYX", factors=2, config=TINY)
    (q,) = shared.params["quality"]
    assert q["held_out"] == {"planes": [2]}          # linspace(0, 5, 3) = 2.5, rounded to even
    per = super_resolve_nd(stack[:2], "ZYX", factors=2, planes="per-plane", config=TINY)
    assert [p["held_out"]["band"]["size"] for p in per.params["quality"]] == [16, 16]


def test_channel_parts_merge_their_estimates(image):
    parts = [super_resolve_nd(image[None] * s, "CYX", factors=2, config=TINY.replace(seed=s)) for s in (1, 2)]
    merged = merge_channel_results([p for p in parts])
    assert len(merged.params["quality"]) == 2
    assert merged.params["expected_gain_db"] == min(p.params["expected_gain_db"] for p in parts)


def test_the_cli_prints_the_estimate_and_warns_when_worse_than_cubic(image, tmp_path, capsys, monkeypatch):
    src = tmp_path / "img.tif"
    tifffile.imwrite(src, (image * 1000).astype(np.uint16))
    argv = [str(src), "--scale", "2", "--max-iters", "15", "--no-ensemble", "--device", "cpu"]
    assert main(argv + ["-o", str(tmp_path / "a.tif")]) == 0
    err = capsys.readouterr().err
    assert "expected gain over cubic: " in err and "warning" not in err
    with tifffile.TiffFile(tmp_path / "a.tif") as tf:
        desc = tf.pages[0].description + (tf.imagej_metadata or {}).get("Info", "")
    assert "expected_gain_db" in desc
    monkeypatch.setattr(holdout, "held_out_gain",
                        lambda model, fathers, **kw: GainEstimate(-2.0, 28.0, 30.0, len(fathers), 0.0))
    assert main(argv + ["-o", str(tmp_path / "b.tif"), "-q"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("zssr: warning: the result is expected to be 2.0 dB WORSE")


def test_batch_records_the_estimate_and_warns_per_file(image, tmp_path, capsys, monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    tifffile.imwrite(src / "a.tif", (image * 1000).astype(np.uint16))
    argv = ["batch", str(src), "-o", str(out), "--max-iters", "15", "--no-ensemble", "--seed", "0",
            "--in-process", "--workers", "1", "--threads-per-worker", "1"]
    assert main(argv) == 0
    (row,) = json.loads((out / "zssr-summary.json").read_text())["files"]
    assert np.isfinite(row["expected_gain_db"])
    captured = capsys.readouterr()
    assert f"{row['expected_gain_db']:+.2f}" in captured.out and "expected" in captured.err
    monkeypatch.setattr(holdout, "held_out_gain",
                        lambda model, fathers, **kw: GainEstimate(-2.0, 28.0, 30.0, len(fathers), 0.0))
    assert main(argv + ["--force"]) == 0
    err = capsys.readouterr().err
    assert "a.tif: warning: the result is expected to be 2.0 dB WORSE than cubic" in err
    (row,) = json.loads((out / "zssr-summary.json").read_text())["files"]
    assert row["expected_gain_db"] == -2.0


def test_cli_options_switch_the_holdout_and_the_back_projection_choice(image, tmp_path, capsys):
    from napari_zssr.cli.options import config_from_args
    from napari_zssr.cli.single import build_parser
    src = tmp_path / "img.tif"
    tifffile.imwrite(src, (image * 1000).astype(np.uint16))
    cfg, _ = config_from_args(build_parser().parse_args([str(src), "-o", "x.tif"]))
    assert cfg.holdout_fraction == 0.1 and cfg.back_projection_auto
    cfg, _ = config_from_args(build_parser().parse_args([str(src), "-o", "x.tif", "--holdout-fraction", "0",
                                                         "--always-back-project"]))
    assert cfg.holdout_fraction == 0 and not cfg.back_projection_auto
    argv = [str(src), "--scale", "2", "--max-iters", "5", "--no-ensemble", "--device", "cpu"]
    assert main(argv + ["-o", str(tmp_path / "a.tif"), "--holdout-fraction", "0"]) == 0
    assert "expected gain" not in capsys.readouterr().err
    assert main(argv + ["-o", str(tmp_path / "b.tif"), "--holdout-fraction", "0.9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at most 0.5" in err[0] and not (tmp_path / "b.tif").exists()


def _record(a, b, truth, mse_cubic=1.0):
    """A held-out record whose single-direction error is the mean of A's and B's (as measured)."""
    mse = 0.5 * (np.mean((a - truth) ** 2) + np.mean((b - truth) ** 2))
    est = GainEstimate(10 * np.log10(mse_cubic / mse), 10 * np.log10(1 / mse), 0.0, 2, 0.0, mse, mse_cubic)
    return est.to_dict()


def test_the_fusion_correction_is_exact_for_the_mean_of_two_results():
    rng = np.random.default_rng(0)
    truth = rng.random((1, 12, 16, 16))
    shared = 0.1 * rng.normal(size=truth.shape)        # two passes of one network share part of their error
    a, b = truth + shared + 0.1 * rng.normal(size=truth.shape), truth + shared + 0.1 * rng.normal(size=truth.shape)
    mean = 0.5 * (a + b)
    rec = _record(a, b, truth)
    out = holdout.with_fusion(rec, holdout.fusion_sums(a, b, mean, (0, 12)), "arithmetic")
    # |(A+B)/2 - T|^2 = (|A-T|^2 + |B-T|^2)/2 - |A-B|^2/4: the fused error without the truth
    assert out["mse_model"] == pytest.approx(np.mean((mean - truth) ** 2), rel=1e-4)
    assert out["expected_gain_db"] == pytest.approx(10 * np.log10(1 / np.mean((mean - truth) ** 2)), abs=1e-3)
    # a quarter of the error is the part the two do not share: +1.25 dB
    assert out["fusion"]["share"] == pytest.approx(0.25, abs=0.03) and "held_out_trusted" not in out
    assert out["single_direction_gain_db"] == rec["expected_gain_db"] < out["expected_gain_db"] - 1.0
    assert out["fusion"]["how"] == "arithmetic" and out["message"].startswith("expected gain over cubic: +")
    g = out["expected_gain_db"]
    lo, hi = holdout.AXIAL_ERROR_DB
    assert out["expected_gain_range_db"] == pytest.approx([g + lo, g + hi], abs=0.01)
    # a geometric fusion adds its distance from the mean; identical results gain nothing
    geo = holdout.with_fusion(rec, holdout.fusion_sums(a, b, mean - 0.05, (0, 12)), "geometric")
    assert geo["fusion"]["excess_mse"] == pytest.approx(0.05 ** 2) and geo["mse_model"] > out["mse_model"]
    same = holdout.with_fusion(_record(a, a, truth), holdout.fusion_sums(a, a, a, (0, 12)), "geometric")
    assert same["expected_gain_db"] == pytest.approx(same["single_direction_gain_db"], abs=1e-3)
    assert holdout.with_fusion(None, (1.0, 0.0, 4), "geometric") is None
    assert holdout.fusion_z_range(40, 4) == (4, 36) and holdout.fusion_z_range(8, 4) == (0, 8)


def test_a_fusion_that_would_cancel_more_than_independent_errors_allow_withholds_the_figure():
    # Two results with independent errors: fusing them halves the error, never more. Where the xz and
    # yz results disagree by more than the held-out error allows, that error is not this volume's.
    rng = np.random.default_rng(1)
    truth = rng.random((1, 12, 16, 16))
    a, b = truth + 0.1 * rng.normal(size=truth.shape), truth + 0.1 * rng.normal(size=truth.shape)
    held_out = _record(a + 0.5 * (truth - a), b + 0.5 * (truth - b), truth,  # the test saw a quarter the error
                       mse_cubic=0.0015)
    out = holdout.with_fusion(held_out, holdout.fusion_sums(a, b, 0.5 * (a + b), (0, 12)), "arithmetic")
    assert out["fusion"]["share"] > holdout.FUSION_MAX_SHARE
    assert out["held_out_trusted"] is False and out["fusion_inconsistent"]
    g = out["expected_gain_db"]
    lo, hi = holdout.AXIAL_UNTRUSTED_ERROR_DB
    assert out["expected_gain_range_db"] == pytest.approx([g + lo, g + hi], abs=0.01)
    params = {"quality": [out]}
    assert holdout.expected_gain(params) is None
    msg, warn = holdout.summary(params)
    assert msg.startswith("no expected gain to trust: the xz and yz results disagree") and f"{g:+.1f} dB" not in msg
    assert "may be no better than cubic" in warn
    # an assumed profile keeps the untrusted range; a profile that also says z differs from xy speaks first
    (q,) = holdout.with_profile([out], {"z_fwhm_steps": 1.0, "reliable": False, "used": False, "fit_cost": 0.01})
    assert q["profile_assumed"] and q["expected_gain_range_db"] == out["expected_gain_range_db"]
    (q,) = holdout.with_profile([out], {"z_fwhm_steps": 1.0, "reliable": False, "used": False, "fit_cost": 0.5})
    assert holdout.summary({"quality": [q]})[0].startswith("no expected gain to trust: the z lines differ")
    # and a trusted network beside it does not hide it
    fine = holdout.with_fusion(_record(a, b, truth, mse_cubic=0.1), holdout.fusion_sums(a, b, 0.5 * (a + b), (0, 12)),
                               "arithmetic")
    assert holdout.summary({"quality": [fine, out]})[0].startswith("no expected gain to trust")


def test_an_axial_run_reports_the_estimate_for_its_fused_result():
    from napari_zssr.testing.simulate import simulate_acquisition
    acq = simulate_acquisition((24, 48, 48), z_step=3, seed=0, photons=100.0, z_fwhm_px=3.0)
    res = super_resolve_nd(acq.raw, "ZYX", mode="axial", scale=3, z_fwhm=1.0, config=TINY)
    (q,) = res.params["quality"]
    assert q["fusion"]["how"] == "geometric" and q["fusion"]["disagreement_mse"] > 0
    single = q["mse_cubic"] / 10 ** (q["single_direction_gain_db"] / 10)
    d, e = q["fusion"]["disagreement_mse"], q["fusion"]["excess_mse"]
    assert q["mse_model"] == pytest.approx(max(single - d / 4 + e, single / 4), rel=1e-3)
    assert res.params["expected_gain_db"] == q["expected_gain_db"]
    z_out = res.data.shape[0]                                   # the first and last 3 planes of z_out
    assert z_out == 3 * acq.raw.shape[0] and q["edge_share"] == pytest.approx(2 * 3 / z_out, abs=1e-4)


def test_held_out_fathers_are_cut_to_whole_low_resolution_pixels():
    from napari_zssr.quality.gain import aligned_length
    assert aligned_length(256, 6.0) == 252 and aligned_length(256, 4.0) == 256
    assert aligned_length(256, 2.5) == 255 and aligned_length(100, 1.0) == 100
    assert aligned_length(5, 6.0) == 5                       # nothing fits: left as it is


def test_big_held_out_planes_are_cropped_to_a_central_part():
    from napari_zssr.quality.holdout import MAX_FATHER_PIXELS, split
    planes = [np.full((1, 1100, 900), float(i), np.float32) for i in range(12)]
    hold = split(planes, (2.0, 2.0), 0.1)
    assert hold.held and all(f.shape[-2] * f.shape[-1] <= MAX_FATHER_PIXELS for f in hold.held)
    assert hold.where["cropped_to"] == list(hold.held[0].shape[-2:])
    assert len(hold.train) + len(hold.held) == 12 and hold.train[0].shape == (1, 1100, 900)   # training keeps all
    small = split([np.zeros((1, 256, 256), np.float32)] * 12, (2.0, 2.0), 0.1)
    assert small.held[0].shape == (1, 256, 256) and "cropped_to" not in small.where


def _isotropic_volume(n=64, seed=0):
    """A statistically isotropic texture (blobs of three sizes) through an isotropic PSF."""
    from scipy import ndimage
    rng = np.random.default_rng(seed)
    v = sum(a * ndimage.gaussian_filter(rng.standard_normal((n, n, n)), s, mode="wrap")
            for s, a in ((4, 1.0), (2, 0.5), (1, 0.3)))
    return ndimage.gaussian_filter(v, 1.0, mode="wrap")


def test_slice_sigma_reads_a_gaussian_profiles_width():
    from napari_zssr.engine.kernels import gaussian_kernel
    from napari_zssr.quality.deaverage import slice_sigma
    assert slice_sigma(gaussian_kernel(2.5, 0.0)) == pytest.approx(2.5, rel=0.01)
    assert slice_sigma(gaussian_kernel(0.0, 1.5)) == 0.0 and slice_sigma(None) == 0.0


def test_deaveraged_planes_get_the_spectrum_of_planes_not_averaged_along_z():
    """xy planes averaged over a slice profile lose high lateral frequencies (3-D structure is
    averaged out); de-averaged, their spectrum is that of the un-averaged planes again."""
    from scipy import ndimage
    from napari_zssr.quality.deaverage import RHO_MAX, deaverage, radial_spectrum
    v = _isotropic_volume()
    sigma = 2.55                                  # FWHM 6 px: a x6 slice profile
    avg = ndimage.gaussian_filter1d(v, sigma, axis=0, mode="wrap")
    idx = [12, 28, 44]
    planes, truth = [avg[i][None] for i in idx], [v[i][None] for i in idx]
    out, filt = deaverage(planes, sigma)
    edges = np.linspace(0, RHO_MAX, 17)
    mid = slice(3, 10)                            # 0.13 .. 0.44 cycles per pixel

    def shape(p):
        r = radial_spectrum(p, edges) / radial_spectrum(truth, edges)
        return r / r[0]
    before, after = np.abs(shape(planes)[mid] - 1.0), np.abs(shape(out)[mid] - 1.0)
    assert np.all(shape(planes)[mid] < 0.85)                      # averaged: clearly weaker
    assert np.all(after < 0.2) and after.mean() < 0.1 < before.mean()   # de-averaged: as un-averaged
    from napari_zssr.quality.gain import noise_gain
    assert noise_gain(filt, (48, 48)) > 1.0                       # a sharpening filter: more noise
    same, ident = deaverage(planes, 0.0)
    assert noise_gain(ident, (48, 48)) == pytest.approx(1.0) and np.allclose(same[0], planes[0], atol=1e-5)


def test_a_filtered_fathers_noise_is_measured_through_the_filter():
    """held_out_gain(noise_filter=...): white noise through a sharpening filter keeps more of its
    variance in a son than the son of white noise does (the noise correction is made with it)."""
    from napari_zssr.quality.gain import noise_gain, noise_kept
    from napari_zssr.quality.deaverage import RadialFilter
    sharpen = RadialFilter(np.array([0.0, 0.1, 0.3, 0.7]), np.array([1.0, 1.0, 2.0, 3.0]))
    assert noise_gain(sharpen, (64, 64)) > 2.0
    plain = noise_kept((64, 64), (2.0, 1.0), None)
    coloured = noise_kept((64, 64), (2.0, 1.0), None, noise_filter=sharpen)
    assert 0.3 < plain < 0.7 and coloured > plain


def test_axial_held_out_planes_are_deaveraged_before_the_measure(monkeypatch):
    from napari_zssr.engine.kernels import fwhm_to_sigma, gaussian_kernel

    class Model:
        kernel = gaussian_kernel(fwhm_to_sigma(4.0), 0.0)
    seen = {}

    def fake_gain(model, fathers, *, noise_var=0.0, config=None, seed=0, noise_model=None, noise_filter=None,
                  edge_share=None):
        seen["fathers"] = fathers
        return GainEstimate(1.0, 31.0, 30.0, len(fathers), noise_var)
    monkeypatch.setattr(holdout, "held_out_gain", fake_gain)
    planes = [_isotropic_volume(48, seed=s)[0][None].astype(np.float32) for s in range(8)]
    axial = holdout.split(planes, (4.0, 1.0), 0.25, both_axes=True)
    record, _ = holdout.measure(Model(), axial, TINY.replace(back_projection_iters=0))
    assert record["deaveraged"]["slice_sigma_px"] == pytest.approx(fwhm_to_sigma(4.0), rel=0.01)
    assert len(seen["fathers"]) == 2 * len(axial.held)
    assert not np.allclose(seen["fathers"][0], axial.held[0])    # sharpened, not the plane itself
    lateral = holdout.split(planes, (2.0, 2.0), 0.25)
    record, _ = holdout.measure(Model(), lateral, TINY.replace(back_projection_iters=0))
    assert "deaveraged" not in record and seen["fathers"][0] is lateral.held[0]


def test_held_out_parts_too_small_to_measure_give_no_estimate_not_a_crash():
    # found by the fuzz test: a 9-pixel plane at x2.5 keeps no interior once shaved
    from napari_zssr.quality.gain import measurable
    assert not measurable((9, 9), (2.5, 1.0)) and measurable((40, 40), (2.5, 1.0))
    data = np.random.default_rng(1).integers(0, 128, (5, 9, 9)).astype(np.int8)
    res = super_resolve_nd(data, "ZYX", mode="axial", scale=2.5, config=TINY.replace(max_iters=3))
    assert res.data.shape == (13, 9, 9) and res.params["quality"] == [None]
