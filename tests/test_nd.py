"""The N-D plan: axes, lateral/axial modes, factors and pixel sizes, dtypes, normalisation, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_zssr.engine import ZSSRConfig
from napari_zssr.engine.resize import imresize
from napari_zssr.nd import Normalizer, output_scale_translate, super_resolve_nd
from napari_zssr.nd.intensity import cast_output


# one torch thread for the whole module (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# the real engine, a handful of iterations on tiny crops
CFG = ZSSRConfig(max_iters=10, prior_iters=10, ensemble=False, crop_size=16, back_projection_iters=2, seed=0,
                 precision="fp32", num_threads=1, device="cpu")


def smooth(shape, dtype=np.uint16, lo=100.0, hi=4000.0, seed=0) -> np.ndarray:
    """Band-limited random data over the last two axes, scaled to [lo, hi], cast to dtype."""
    rng = np.random.default_rng(seed)
    lead, (h, w) = shape[:-2], shape[-2:]
    small = torch.from_numpy(rng.random((*lead, (h + 3) // 4 + 2, (w + 3) // 4 + 2)))
    img = imresize(small, scale=4, output_shape=(h, w)).numpy()
    img = (img - img.min()) / (img.max() - img.min())
    out = lo + (hi - lo) * img
    return np.rint(out).astype(dtype) if np.dtype(dtype).kind in "iu" else out.astype(dtype)


def run(data, axes, **kw):
    kw.setdefault("config", CFG)
    return super_resolve_nd(data, axes, **kw)


# ---- axes: shapes, factors, pixel sizes ---------------------------------------------------------
@pytest.mark.parametrize("axes, shape, dtype, out_shape, n_models, eng_channels", [
    ("YX", (16, 18), np.uint16, (32, 36), 1, 1),
    ("ZYX", (3, 16, 16), np.uint16, (3, 32, 32), 1, 1),
    ("CZYX", (2, 3, 16, 16), np.uint16, (2, 3, 32, 32), 2, 1),
    ("TZYX", (2, 2, 16, 16), np.uint16, (2, 2, 32, 32), 1, 1),
    ("TYX", (3, 16, 16), np.uint8, (3, 32, 32), 1, 1),
    ("YXS", (16, 16, 3), np.uint8, (32, 32, 3), 1, 3),
    ("YXC", (16, 17, 2), np.uint16, (32, 34, 2), 2, 1),
    ("ZCYX", (2, 2, 16, 16), np.uint8, (2, 2, 32, 32), 2, 1),
])
def test_lateral_axes(axes, shape, dtype, out_shape, n_models, eng_channels):
    data = smooth(shape, dtype, 10, 200)
    sizes = {"z": 2.0, "y": 0.5, "x": 0.5, "t": 60.0}
    res = run(data, axes, scale=2, pixel_sizes={a.lower(): sizes[a.lower()] for a in axes if a.lower() in sizes})
    assert res.data.shape == out_shape
    assert res.axes == axes
    assert res.data.dtype == np.float32 and np.isfinite(res.data).all()
    assert res.factors == {"y": 2.0, "x": 2.0}
    assert res.pixel_sizes["y"] == pytest.approx(0.25) and res.pixel_sizes["x"] == pytest.approx(0.25)
    if "Z" in axes:
        assert res.pixel_sizes["z"] == pytest.approx(2.0)
    if "T" in axes:
        assert res.pixel_sizes["t"] == pytest.approx(60.0)
    assert len(res.models) == n_models
    assert all(m.channels == eng_channels for m in res.models)
    assert res.params["factors"] == {"y": 2.0, "x": 2.0} and res.params["mode"] == "lateral"
    assert len(res.params["iterations"]) == n_models and all(i == CFG.max_iters for i in res.params["iterations"])
    # intensities are restored to the input's units (not left normalised to [0, 1])
    assert 0.5 * data.mean() < res.data.mean() < 1.5 * data.mean()


def test_lateral_content_lands_in_the_right_place():
    """Each plane / channel of the output comes from the same plane / channel of the input."""
    data = np.stack([smooth((16, 16), np.uint16, 100, 200 + 1000 * k, seed=k) for k in range(3)])
    data = np.stack([data, data[::-1]])                       # (C=2, Z=3, Y, X) with different planes
    res = run(data, "CZYX", scale=2)
    down = imresize(torch.from_numpy(res.data), 0.5).numpy()
    assert np.abs(down - data).mean() < 0.05 * np.abs(data - data.mean()).mean()


def test_per_axis_factors_with_transposed_axes():
    data = smooth((20, 16), np.uint16)                         # axes "XY": x first
    res = run(data, "XY", scale=(2, 1))                        # y x2, x x1
    assert res.data.shape == (20, 32)
    assert res.factors == {"y": 2.0, "x": 1.0}


def test_lateral_factors_from_unequal_pixel_sizes():
    res = run(smooth((16, 16)), "YX", pixel_sizes={"y": 0.5, "x": 0.25})
    assert res.factors == {"y": 2.0, "x": 1.0}
    assert res.data.shape == (32, 16)
    assert res.pixel_sizes == pytest.approx({"y": 0.25, "x": 0.25})


def test_non_integer_factor():
    res = run(smooth((17, 23)), "YX", scale=1.5, pixel_sizes={"y": 0.3, "x": 0.3})
    assert res.data.shape == (26, 35)
    assert res.pixel_sizes["y"] == pytest.approx(0.2)


# ---- axial mode ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["isotropic", "zssr"])
@pytest.mark.parametrize("fusion", ["geometric", "arithmetic"])
def test_axial_factor_from_pixel_sizes(method, fusion):
    data = smooth((8, 16, 16), np.uint16)
    # random weights: 10 iterations cannot adapt the axial prior (trained on real images) to
    # band-limited noise, and the check below wants a net that stays near cubic
    res = run(data, "ZYX", mode="axial", pixel_sizes={"z": 1.0, "y": 0.25, "x": 0.25},
              axial_method=method, fusion=fusion, config=CFG.replace(init="random"))
    assert res.factors == {"z": pytest.approx(4.0)}
    assert res.data.shape == (32, 16, 16) and res.data.dtype == np.float32 and np.isfinite(res.data).all()
    assert res.pixel_sizes == pytest.approx({"z": 0.25, "y": 0.25, "x": 0.25})
    assert res.params["axial_method"] == method and res.params["fusion"] == fusion
    assert len(res.models) == 1 and res.models[0].sf == pytest.approx((4.0, 1.0))
    # downscaled back along z, the result reproduces the stack
    zyx = torch.from_numpy(np.moveaxis(res.data, 0, -1).copy())        # (Y, X, Z') -> resize last two
    back = imresize(zyx, (1, 0.25)).numpy()
    assert np.abs(np.moveaxis(back, -1, 0) - data).mean() < 0.1 * np.abs(data - data.mean()).mean()


def test_axial_explicit_non_integer_factor_and_time():
    data = smooth((2, 8, 12, 12), np.uint8, 5, 250)
    res = run(data, "TZYX", mode="axial", scale=2.5, pixel_sizes={"z": 1.0, "x": 0.3, "y": 0.3})
    assert res.data.shape == (2, 20, 12, 12)
    assert res.pixel_sizes["z"] == pytest.approx(0.4)
    assert len(res.params["iterations"]) == 2                    # one (warm-started) net per time point


def test_axial_with_channels_and_fwhm():
    data = smooth((2, 8, 12, 12), np.uint16)
    res = run(data, "CZYX", mode="axial", pixel_sizes={"z": 0.6, "y": 0.2, "x": 0.2}, z_fwhm=1.2,
              z_fwhm_unit="um")
    assert res.data.shape == (2, 24, 12, 12)
    assert res.factors["z"] == pytest.approx(3.0) and len(res.models) == 2


# ---- napari placement ---------------------------------------------------------------------------
@pytest.mark.parametrize("factors", [(2.0, 2.0, 1.0), (4.0, 1.5, 3.0), (1.0, 2.5, 1.0)])
def test_output_scale_translate_keeps_pixel_centres(factors):
    scale, translate = [0.7, 0.25, 2.0], [3.0, -1.5, 0.0]
    new_scale, new_translate = output_scale_translate(scale, translate, factors)
    for d, t, s, d2, t2 in zip(scale, translate, factors, new_scale, new_translate):
        assert d2 == pytest.approx(d / s)
        j = np.arange(int(10 * s))
        world_out = t2 + d2 * j                                  # output pixel centres in world units
        u = (j + 0.5) / s - 0.5                                  # MATLAB map: input pixel coordinate
        np.testing.assert_allclose(world_out, t + d * u, atol=1e-12)
        # and the outer edges of the two grids coincide
        assert t2 - d2 / 2 == pytest.approx(t - d / 2)


# ---- dtypes and intensities ---------------------------------------------------------------------
def test_out_dtype_input_is_clipped_and_counted():
    y, x = np.mgrid[0:24, 0:24]
    data = np.where((x // 4 + y // 4) % 2, 255, 0).astype(np.uint8)       # saturated, sharp edges
    cfg = CFG.replace(back_projection_iters=0)                              # cubic overshoot survives
    f = run(data, "YX", scale=2, config=cfg)
    i = run(data, "YX", scale=2, config=cfg, out_dtype="input")
    assert f.data.dtype == np.float32 and i.data.dtype == np.uint8
    r = np.rint(f.data)
    expected = int(np.count_nonzero((r < 0) | (r > 255)))
    assert expected > 0, "the test image must overshoot"
    assert i.clipped == expected and i.params["clipped_values"] == expected
    np.testing.assert_array_equal(i.data, np.clip(r, 0, 255).astype(np.uint8))
    assert f.clipped == 0 and f.params["out_dtype"] == "float32" and i.params["out_dtype"] == "input"


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float64])
def test_out_dtype_input_keeps_dtype(dtype):
    data = smooth((16, 16), dtype, 10, 3000)
    res = run(data, "YX", scale=2, out_dtype="input")
    assert res.data.dtype == dtype
    assert run(data, "YX", scale=2, out_dtype="float32").data.dtype == np.float32


def test_cast_output():
    a = np.array([-3.2, 0.4, 254.6, 255.4, 300.0])
    out, n = cast_output(a, np.uint8)
    assert out.dtype == np.uint8 and out.tolist() == [0, 0, 255, 255, 255] and n == 2
    out, n = cast_output(a, np.float32)
    assert out.dtype == np.float32 and n == 0


def test_normalizer_round_trip():
    data = smooth((2, 40, 40), np.uint16, 100, 60000)
    norm = Normalizer.fit(data)
    fwd = norm.forward(data)
    assert fwd.dtype == np.float32
    lo, hi = np.percentile(data.astype(np.float64), [0.1, 99.9])
    assert norm.lo == pytest.approx(lo) and norm.hi == pytest.approx(hi)
    assert -0.05 < fwd.min() < 0.05 and 0.95 < fwd.max() < 1.05
    assert fwd.max() > 1.0 and fwd.min() < 0.0, "values beyond the percentiles are not clipped"
    np.testing.assert_allclose(norm.inverse(fwd), data, atol=1e-3 * (hi - lo))
    lo_v, hi_v = norm.valid_range()
    assert norm.inverse(np.float32(lo_v)) == pytest.approx(0, abs=1e-2 * (hi - lo))
    assert norm.inverse(np.float32(hi_v)) == pytest.approx(65535, rel=1e-4)
    assert Normalizer.fit(data.astype(np.float32)).valid_range() is None
    assert Normalizer(**norm.to_dict()) == norm


def test_float_highlights_survive():
    """A few very bright pixels above the 99.9th percentile must come out bright (no clipping)."""
    data = smooth((48, 48), np.float32, 100.0, 120.0)
    data[20:22, 30] = 10000.0                                   # 2 of 2304 pixels: above the 99.9th pct
    norm = Normalizer.fit(data)
    assert norm.hi < 200
    res = run(data, "YX", scale=2)
    assert res.data.max() > 5000.0
    assert res.params["normalisation"][0]["hi"] < 200


def test_uint16_highlights_survive():
    data = smooth((48, 48), np.uint16, 100, 120)
    data[10:12, 8] = 50000
    res = run(data, "YX", scale=2)
    assert res.data.max() > 25000.0


# ---- bad inputs ---------------------------------------------------------------------------------
GOOD = smooth((16, 16))
VOL = smooth((8, 16, 16))


@pytest.mark.parametrize("data, axes, kw", [
    (np.where(np.eye(16) > 0, np.nan, 1.0).astype(np.float32), "YX", {}),
    (np.where(np.eye(16) > 0, np.inf, 1.0), "YX", {}),
    (np.full((16, 16), 7, np.uint16), "YX", {}),                         # constant
    (np.ones((16, 16), np.complex64), "YX", {}),
    (np.ones((16, 16), bool), "YX", {}),
    (np.zeros((0, 16), np.uint16), "YX", {}),                            # empty
    (np.ones((1, 1), np.uint16), "YX", {}),                              # one pixel
    (np.arange(16, dtype=np.uint16).reshape(1, 16), "YX", {}),           # one row
    (np.arange(9, dtype=np.uint16).reshape(3, 3), "YX", {"scale": 2}),   # too small to learn from
    (GOOD, "YQ", {}),                                                     # unknown letter
    (GOOD, "ZYX", {}),                                                    # wrong length
    (GOOD, "Y", {}),
    (GOOD, "YY", {}),                                                     # repeated
    (VOL, "ZY", {}),
    (VOL, "ZYT", {}),                                                     # no X
    (smooth((16, 16, 3), np.uint8), "YSX", {}),                          # S must be last
    (GOOD, "YX", {"mode": "axial", "scale": 2}),                         # axial without Z
    (VOL, "ZYX", {"mode": "axial", "scale": 1}),                         # axial factor <= 1
    (VOL, "ZYX", {"mode": "axial", "scale": 0.5}),
    (VOL, "ZYX", {"mode": "axial", "pixel_sizes": {"z": 0.2, "y": 0.25, "x": 0.25}}),
    (VOL, "ZYX", {"mode": "axial", "scale": float("nan")}),
    (VOL, "ZYX", {"mode": "axial"}),                                     # no factor, no pixel sizes
    (VOL, "ZYX", {"mode": "axial", "scale": 40}),                        # factor too large
    (smooth((3, 16, 16)), "ZYX", {"mode": "axial", "scale": 2}),        # too few planes
    (GOOD, "YX", {"mode": "diagonal"}),
    (VOL, "ZYX", {"planes": "all"}),
    (VOL, "ZYX", {"channels": "mixed"}),
    (VOL, "ZYX", {"mode": "axial", "scale": 2, "axial_method": "magic"}),
    (VOL, "ZYX", {"mode": "axial", "scale": 2, "fusion": "max"}),
    (GOOD, "YX", {"out_dtype": "uint8"}),
    (GOOD, "YX", {"scale": 1}),                                          # lateral factor <= 1
    (GOOD, "YX", {"scale": (2, 0.5)}),
    (GOOD, "YX", {"scale": float("nan")}),
    (GOOD, "YX", {"scale": (2, 2, 2)}),
    (GOOD, "YX", {"kernel": "lanczos"}),
    (VOL, "ZYX", {"mode": "axial", "scale": 2, "z_fwhm": 1.0, "z_fwhm_unit": "furlong"}),
    (VOL, "ZYX", {"mode": "axial", "scale": 2, "z_fwhm": -1.0}),
])
def test_bad_input_raises_before_any_work(data, axes, kw):
    events = []
    with pytest.raises(ValueError) as info:
        run(data, axes, progress=events.append, **kw)
    msg = str(info.value)
    assert msg and "\n" not in msg, "one-line message"
    assert not events, f"an error must come before any work ({msg})"


def test_constant_channel_is_upscaled_as_is_and_the_others_run():
    """An empty (all-zero) or constant channel is no reason to fail the good one: it comes back as
    the same constant on the output grid, with a one-line notice; the good channel is trained."""
    data = np.stack([smooth((16, 16), np.uint16), np.zeros((16, 16), np.uint16), np.full((16, 16), 5, np.uint16)])
    events = []
    res = run(data, "CYX", scale=2, out_dtype="input", progress=events.append)
    assert res.data.shape == (3, 32, 32) and res.data.dtype == np.uint16
    assert np.all(res.data[1] == 0) and np.all(res.data[2] == 5)
    assert res.data[0].std() > 0
    assert len(res.models) == 1, "only the non-constant channel trains a network"
    assert len(res.notices) == 2 and all("\n" not in n and "constant" in n for n in res.notices)
    assert res.params["notices"] == res.notices
    assert [n.get("constant", False) for n in res.params["normalisation"]] == [False, True, True]


def test_constant_channel_axial_keeps_the_output_grid():
    vol = np.stack([smooth((6, 16, 16)), np.full((6, 16, 16), 2.5, np.float32)], axis=1)    # ZCYX
    res = run(vol, "ZCYX", mode="axial", scale=2)
    assert res.data.shape == (12, 2, 16, 16)
    assert np.all(res.data[:, 1] == np.float32(2.5))


def test_wholly_constant_image_is_still_refused_before_any_work():
    for data, axes in ((np.full((16, 16), 5, np.uint16), "YX"), (np.zeros((2, 16, 16), np.uint16), "CYX")):
        events = []
        with pytest.raises(ValueError, match="constant") as info:
            run(data, axes, progress=events.append)
        assert "\n" not in str(info.value) and not events


# ---- planes and channels --------------------------------------------------------------------------
@pytest.mark.parametrize("planes", ["shared", "per-plane", "warm-start"])
def test_planes(planes):
    data = smooth((3, 16, 16), np.uint16)
    cfg = CFG.replace(max_iters=60, prior_iters=60) if planes == "warm-start" else CFG
    events = []
    res = run(data, "ZYX", scale=2, planes=planes, config=cfg, progress=events.append)
    assert res.data.shape == (3, 32, 32) and np.isfinite(res.data).all()
    assert res.params["planes"] == planes
    iters = res.params["iterations"]
    if planes == "shared":
        assert iters == [CFG.max_iters] and len(res.models) == 1
    elif planes == "per-plane":
        assert iters == [CFG.max_iters] * 3 and len(res.models) == 3
        assert len({id(m.net) for m in res.models}) == 3                  # three separate networks
    else:
        # later planes start from the previous net and only adapt (fewer iterations)
        assert iters[0] == 60 and len(iters) == 3 and all(i < 60 for i in iters[1:])
        assert res.models[1].net is res.models[0].net
    assert events[-1].stage == "done" and events[-1].fraction == 1.0
    fr = [e.fraction for e in events]
    assert all(0 <= a <= 1 for a in fr) and fr == sorted(fr), "overall progress never goes back"


def test_channels_joint_vs_independent():
    data = smooth((3, 16, 16), np.uint16)
    joint = run(data, "CYX", scale=2, channels="joint")
    assert joint.data.shape == (3, 32, 32)
    assert len(joint.models) == 1 and joint.models[0].channels == 3
    assert len(joint.params["normalisation"]) == 1 and joint.params["channels"] == "joint"
    indep = run(data, "CYX", scale=2)
    assert indep.data.shape == (3, 32, 32)
    assert len(indep.models) == 3 and all(m.channels == 1 for m in indep.models)
    assert len(indep.params["normalisation"]) == 3


def test_params_are_json_serialisable():
    import json
    res = run(smooth((2, 16, 16)), "ZYX", scale=2, kernel=("gaussian", 1.0))
    json.dumps(res.params)
    assert res.params["kernel"] == ["gaussian", 1.0, 1.0]
