"""The ZSSR engine: transforms, tiling, back-projection, network, lr rule, training, API contract."""
from __future__ import annotations

import importlib
import itertools
import math
import threading

import numpy as np
import pytest
import torch

from napari_zssr.engine import Cancelled, ProgressEvent, ZSSRConfig, apply, super_resolve, train
from napari_zssr.engine import infer
from napari_zssr.engine.device import train_channels_last
from napari_zssr.engine.kernels import downscale, gaussian_kernel
from napari_zssr.engine.network import ZSSRNet
from napari_zssr.engine.resize import imresize
from napari_zssr.engine.training import DivergenceGuard, cosine_lr, slope_and_std
from napari_zssr.engine.zssr import parse_scale, resolve_steps, run_budget, run_crop, split_iters, stage_factors

# the training-loop module
train_mod = importlib.import_module("napari_zssr.engine.training")
zssr_mod = importlib.import_module("napari_zssr.engine.zssr")


# one torch thread for the whole module (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# tiny runs: the real engine, a few seconds on 2 slow cores
# (CPU: "same seed + same device -> same output" is a CPU promise; cuDNN may pick other algorithms)
# init="random": these pin the from-scratch engine (iterations, schedule, stages); test_prior.py the prior
TINY = dict(max_iters=20, crop_size=16, ensemble=False, back_projection_iters=2, seed=0, num_threads=1,
            device="cpu", init="random")


def tiny(**kw) -> ZSSRConfig:
    return ZSSRConfig(**dict(TINY, **kw))


def smooth_image(h: int, w: int, c: int = 0, seed: int = 0) -> np.ndarray:
    """Random but band-limited float32 image in [0, 1]: (h, w) or (h, w, c)."""
    rng = np.random.default_rng(seed)
    shape = (max(c, 1), (h + 3) // 4 + 2, (w + 3) // 4 + 2)
    small = torch.from_numpy(rng.random(shape))
    img = imresize(small, output_shape=(h, w), scale=4).numpy().clip(0, 1).astype(np.float32)
    return img[0] if c == 0 else np.moveaxis(img, 0, -1)


def psnr(a, b) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


# ---- geometric self-ensemble ----------------------------------------------------------------------
def test_transforms_invert_exactly():
    x = torch.randn(2, 3, 7, 11)
    seen = []
    for k, m in infer.transforms((2, 2)):
        y = infer.apply_t(x, k, m)
        assert torch.equal(infer.invert_t(y, k, m), x)
        seen.append(y)
    # the 8 are the distinct elements of the dihedral group: all different, none repeated
    assert len(seen) == 8
    for a, b in itertools.combinations(seen, 2):
        assert a.shape != b.shape or not torch.equal(a, b)


def test_transforms_count_and_axis_keeping():
    assert len(infer.transforms((2, 2))) == 8
    assert len(infer.transforms((1.5, 1.5))) == 8
    four = infer.transforms((2, 1))
    assert len(four) == 4 and len(set(four)) == 4
    assert len(infer.transforms((1, 3))) == 4
    x = torch.randn(1, 1, 5, 9)
    outs = []
    for k, m in four:
        y = infer.apply_t(x, k, m)
        assert y.shape == x.shape, "anisotropic factors need transforms that keep the axes"
        outs.append(y)
    # identity, 180 degrees, mirror left-right, mirror up-down
    want = [x, torch.rot90(x, 2, (-2, -1)), torch.flip(x, (-1,)), torch.flip(x, (-2,))]
    for w in want:
        assert any(torch.equal(w, o) for o in outs)


def test_median_matches_numpy():
    s = torch.randn(8, 2, 3, 4)
    np.testing.assert_allclose(infer.median(s).numpy(), np.median(s.numpy(), axis=0), atol=1e-6)
    np.testing.assert_allclose(infer.median(s[:5]).numpy(), np.median(s[:5].numpy(), axis=0), atol=1e-6)


# ---- tiled inference ------------------------------------------------------------------------------
def strong_net(channels: int = 1, seed: int = 0) -> ZSSRNet:
    """A random net whose residual is of the same order as the input (He-like weights), so that a
    tiling error shows up far above the tolerance."""
    torch.manual_seed(seed)
    net = ZSSRNet(channels).eval()
    with torch.no_grad():
        for conv in net.body:
            if isinstance(conv, torch.nn.Conv2d):
                conv.weight.normal_(0, math.sqrt(2.0 / (9 * conv.in_channels)))
    return net.to(memory_format=torch.channels_last)


@pytest.mark.parametrize("tile", [32, 37, 64])
def test_tiled_equals_untiled(tile, monkeypatch):
    net = strong_net()
    x = torch.rand(1, 1, 100, 90)
    full = infer.run_net(net, x, "fp32", tile=1024)
    assert tuple(full.shape) == (1, 1, 100, 90)
    assert (full - x).abs().mean() > 0.05, "the test net must change the image substantially"
    tiled = infer.run_net(net, x, "fp32", tile=tile)
    assert (tiled - full).abs().max().item() <= 1e-4
    # the comparison is sensitive: a halo smaller than the receptive field gives visible seams
    monkeypatch.setattr(ZSSRNet, "halo", property(lambda self: 3))
    seamy = infer.run_net(net, x, "fp32", tile=tile)
    assert (seamy - full).abs().max().item() > 1e-3


def test_batched_inference_equals_single():
    net = strong_net(2)
    x = torch.rand(3, 2, 20, 24)
    out = infer.super_resolve_tensor(net, x, (2, 2), None, "fp32", ensemble=True, bp_iters=3)
    assert tuple(out.shape) == (3, 2, 40, 48)
    for i in range(3):
        one = infer.super_resolve_tensor(net, x[i], (2, 2), None, "fp32", ensemble=True, bp_iters=3)
        assert (one - out[i]).abs().max().item() <= 1e-4


# ---- back-projection ------------------------------------------------------------------------------
@pytest.mark.parametrize("sf, kernel", [((2, 2), None), ((2, 1), None), ((2, 2), gaussian_kernel(1.0, 1.0)),
                                        ((1.5, 1.5), None)])
def test_back_projection_makes_the_result_consistent(sf, kernel):
    lr = torch.from_numpy(smooth_image(20, 22))[None]
    shape = infer.output_shape(lr.shape[-2:], sf)
    g = torch.Generator().manual_seed(0)
    sr = imresize(lr, sf, output_shape=shape) + 0.1 * torch.randn((1, *shape), generator=g)

    def err(s):
        d = downscale(s, (1 / sf[0], 1 / sf[1]), output_shape=tuple(lr.shape[-2:]), kernel=kernel)
        return (d - lr).abs().mean().item()

    out = infer.back_project(sr, lr, sf, kernel, 10)
    assert out.shape == sr.shape
    assert err(out) < 0.2 * err(sr)
    clipped = infer.back_project(sr, lr, sf, kernel, 3, clip=(0.2, 0.8))
    assert clipped.min() >= 0.2 and clipped.max() <= 0.8


# ---- network --------------------------------------------------------------------------------------
def n_weights(net) -> int:
    return sum(p.numel() for p in net.parameters())


def test_network_weight_count_and_structure():
    net = ZSSRNet(3)
    assert n_weights(net) == 3 * 64 * 9 + 6 * 64 * 64 * 9 + 64 * 3 * 9 == 224_640
    assert n_weights(ZSSRNet(1)) == 1 * 64 * 9 + 6 * 64 * 64 * 9 + 64 * 1 * 9
    assert n_weights(ZSSRNet(5)) == 5 * 64 * 9 + 6 * 64 * 64 * 9 + 64 * 5 * 9
    convs = [m for m in net.body if isinstance(m, torch.nn.Conv2d)]
    relus = [m for m in net.body if isinstance(m, torch.nn.ReLU)]
    assert len(convs) == 8 and len(relus) == 7
    assert isinstance(net.body[-1], torch.nn.Conv2d), "no ReLU after the last layer"
    for c in convs:
        assert c.bias is None and c.kernel_size == (3, 3) and c.padding == (1, 1) and c.stride == (1, 1)
    assert (convs[0].in_channels, convs[-1].out_channels) == (3, 3)
    assert net.halo >= 8


def test_network_init_std():
    torch.manual_seed(1)
    net = ZSSRNet(3)
    for conv in (m for m in net.body if isinstance(m, torch.nn.Conv2d)):
        w = conv.weight.detach().double()
        want = math.sqrt(0.1 / (9 * conv.in_channels))
        n = w.numel()
        assert abs(w.std().item() - want) < 4 * want / math.sqrt(2 * n)     # 4 sigma of the std estimate
        assert abs(w.mean().item()) < 4 * want / math.sqrt(n)


def test_network_is_residual():
    net = ZSSRNet(2)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    x = torch.rand(1, 2, 9, 13)
    assert torch.equal(net(x), x)


# ---- learning-rate rule ---------------------------------------------------------------------------
def test_slope_and_std_exact_line():
    x = [0, 50, 100, 150, 200]
    y = [1 + 2e-3 * v for v in x]
    for mode in ("2018", "unbiased"):
        slope, std = slope_and_std(x, y, mode)
        assert slope == pytest.approx(2e-3, rel=1e-9) and std == pytest.approx(0, abs=1e-12)


def test_slope_and_std_against_polyfit():
    x = np.array([0.0, 50, 100, 150, 200])
    y = np.array([1.0, 0.8, 0.85, 0.6, 0.62])
    coef, cov = np.polyfit(x, y, 1, cov=True)         # today's numpy: residuals / (N - 2)
    slope, std = slope_and_std(x, y, "unbiased")
    assert slope == pytest.approx(coef[0]) and std == pytest.approx(math.sqrt(cov[0, 0]))
    slope18, std18 = slope_and_std(x, y, "2018")       # 2018: residuals / (N - 4): sqrt(3) larger for 5
    assert slope18 == pytest.approx(slope) and std18 == pytest.approx(math.sqrt(3) * std)


# ---- API contract ---------------------------------------------------------------------------------
def test_parse_scale_accepts():
    assert parse_scale(2) == (2.0, 2.0)
    assert parse_scale((2, 1)) == (2.0, 1.0)
    assert parse_scale([1, 1.5]) == (1.0, 1.5)
    assert parse_scale(16) == (16.0, 16.0)


@pytest.mark.parametrize("bad", [1, 1.0, 0.5, 0, -2, (1, 1), (0.5, 2), 17, (2, 16.5), float("nan"),
                                 (2, float("nan")), float("inf"), (2,), (2, 2, 2), ()])
def test_parse_scale_rejects(bad):
    with pytest.raises(ValueError):
        parse_scale(bad)


def test_stage_factors():
    assert stage_factors((2.0, 2.0), 1) == [(2.0, 2.0)]
    for sf, n in [((2.0, 2.0), 2), ((4.0, 2.0), 3), ((2.0, 2.0), 6)]:
        st = stage_factors(sf, n)
        assert len(st) == n and st[-1] == pytest.approx(sf)
        prev = (1.0, 1.0)
        ratios = []
        for s in st:
            assert s[0] > prev[0] - 1e-12 and s[1] > prev[1] - 1e-12     # increasing
            ratios.append((s[0] / prev[0], s[1] / prev[1]))
            prev = s
        assert np.prod([r[0] for r in ratios]) == pytest.approx(sf[0])
        assert np.prod([r[1] for r in ratios]) == pytest.approx(sf[1])


@pytest.mark.parametrize("image, scale", [
    (np.full((20, 20), np.nan, np.float32), 2),
    (np.where(np.eye(20) > 0, np.inf, 0.5).astype(np.float32), 2),
    (np.zeros(20, np.float32), 2),                       # 1-D
    (np.zeros((2, 20, 20, 3), np.float32), 2),           # 4-D
    (np.random.default_rng(0).random((3, 3)).astype(np.float32), 2),   # too small to learn from
    (np.random.default_rng(0).random((6, 30)).astype(np.float32), 4),   # x4 needs 8 rows
    (np.random.default_rng(0).random((0, 30)).astype(np.float32), 2),   # empty
    (np.ones((20, 20), np.complex64), 2),
    (np.ones((20, 20), bool), 2),
    (np.random.default_rng(0).random((20, 20)).astype(np.float32), 1),  # not upscaling
])
def test_super_resolve_rejects(image, scale):
    events = []
    with pytest.raises(ValueError):
        super_resolve(image, scale, tiny(), progress=events.append)
    assert not events, "errors must come before any work"


def test_apply_rejects_wrong_channel_count():
    model = train([smooth_image(16, 16)[None]], 2, tiny(max_iters=2))
    with pytest.raises(ValueError):
        apply(model, np.zeros((3, 16, 16), np.float32))


# ---- training ----------------------------------------------------------------------------------
def checkerboard(n: int = 64, block: int = 8) -> np.ndarray:
    y, x = np.mgrid[0:n, 0:n]
    return (0.1 + 0.8 * ((x // block + y // block) % 2)).astype(np.float32)


def test_short_training_beats_cubic():
    """A repeating pattern with sharp edges: ZSSR learns its edges from the image itself."""
    hr = checkerboard()
    lr = imresize(torch.from_numpy(hr)[None], 0.5)[0].numpy()            # MATLAB bicubic LR
    cub = imresize(torch.from_numpy(lr)[None], 2, output_shape=hr.shape)[0].numpy()
    cfg = ZSSRConfig(max_iters=100, ensemble=False, precision="auto", seed=0, num_threads=1, init="random")
    model = train([lr[None]], 2, cfg)
    sr = apply(model, lr[None]).cpu().numpy()[0]
    assert sr.shape == hr.shape and sr.dtype == np.float32
    p_sr, p_cub = psnr(sr, hr), psnr(cub, hr)
    assert p_sr > p_cub + 1.0, f"ZSSR {p_sr:.2f} dB vs cubic {p_cub:.2f} dB"
    assert model.rec_error < model.cubic_rec_error, "the net must reconstruct the input better than cubic"
    assert model.iterations == 100


def test_same_seed_same_output():
    img = smooth_image(24, 24)
    a = super_resolve(img, 2, tiny(seed=3))
    b = super_resolve(img, 2, tiny(seed=3))
    assert np.array_equal(a, b)
    c = super_resolve(img, 2, tiny(seed=4))
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("as_callable", [False, True])
def test_cancel_from_progress_callback(as_callable):
    ev = threading.Event()
    seen = []

    def progress(e: ProgressEvent):
        seen.append(e)
        if e.stage.startswith("train") and e.iteration >= 10:
            ev.set()

    flag = ev.is_set if as_callable else ev
    with pytest.raises(Cancelled):
        super_resolve(smooth_image(24, 24), 2, tiny(max_iters=500), progress=progress, cancel=flag)
    iters = [e.iteration for e in seen if e.stage.startswith("train")]
    assert max(iters) == 10, "the flag must be honoured at the next iteration"
    assert not any(e.stage == "done" for e in seen)


def test_cancel_before_start():
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        super_resolve(smooth_image(24, 24), 2, tiny(), cancel=ev)


def test_progress_events():
    events = []
    super_resolve(smooth_image(24, 24), 2, tiny(max_iters=25), progress=events.append)
    tr = [e for e in events if e.stage == "train"]
    assert [e.iteration for e in tr] == [0, 10, 20]
    for e in tr:
        assert e.total == 25 and e.lr == pytest.approx(cosine_lr(tiny(max_iters=25), e.iteration))
        assert math.isfinite(e.loss)
    assert any(e.stage == "infer" for e in events)
    assert events[-1].stage == "done" and events[-1].fraction == 1.0


def test_gradual_two_steps():
    img = smooth_image(24, 28)
    events = []
    cfg = tiny(n_steps=2)
    model = train([img[None]], 2, cfg, progress=events.append)
    stages = [r.sf for r in model.reports]
    assert len(stages) == 2
    assert stages[-1] == pytest.approx((2.0, 2.0))
    assert stages[0] == pytest.approx((math.sqrt(2), math.sqrt(2)))
    steps = [stages[0][0], stages[1][0] / stages[0][0]]          # each stage's increase over the last
    assert steps[0] == pytest.approx(steps[1]) and np.prod(steps) == pytest.approx(2.0)
    # max_iters is the whole run's budget, shared by the stages
    assert [r.iterations for r in model.reports] == [cfg.max_iters // 2] * 2
    assert model.iterations == cfg.max_iters
    assert {e.stage for e in events} == {"train 1/2", "train 2/2"}
    # one progress count over both stages: a bar never restarts
    its = [e.iteration for e in events]
    assert its == sorted(its) and its[-1] >= cfg.max_iters // 2 and {e.total for e in events} == {cfg.max_iters}
    out = apply(model, img[None]).cpu().numpy()
    assert out.shape == (1, 48, 56) and np.isfinite(out).all()


@pytest.mark.parametrize("sf, budget, expected", [
    ((2.0, 2.0), 2000, 4), ((1.5, 1.5), 2000, 3),
    ((4.0, 4.0), 6000, 24), ((3.0, 3.0), 3803, 15),   # past x2: stages of 250 iterations
    ((4.0, 4.0), 900, 3), ((4.0, 4.0), 30, 1),
    ((4.0, 1.0), 2000, 1),          # one axis only (axial): stage outputs are no fathers, one jump
])
def test_auto_steps_are_small_stages_within_the_budget(sf, budget, expected):
    assert resolve_steps(0, sf, budget) == expected
    assert resolve_steps(3, sf, budget) == 3                     # an explicit count is kept


def test_auto_steps_at_x2_go_by_fourth_roots_of_two():
    n = resolve_steps(0, (2.0, 2.0), 2000)
    assert [f[0] for f in stage_factors((2.0, 2.0), n)] == pytest.approx([2 ** 0.25, 2 ** 0.5, 2 ** 0.75, 2.0])
    assert ZSSRConfig().n_steps == 0 and ZSSRConfig.from_preset("paper").n_steps == 1


@pytest.mark.parametrize("sf, overrides, expected", [
    ((2.0, 2.0), {}, 2000), ((1.5, 1.5), {}, 2000),   # up to x2: max_iters
    ((4.0, 4.0), {}, 6000), ((3.0, 3.0), {}, 3803),   # budget_growth 3 for the doubling past x2
    ((16.0, 16.0), {}, 6000),                          # ...and no more beyond
    ((4.0, 4.0), {"n_steps": 3}, 6000),                # any gradual run
    ((4.0, 4.0), {"n_steps": 1}, 2000),                # one jump: max_iters
    ((4.0, 1.0), {}, 2000),                            # one axis (axial) is one jump
    ((4.0, 4.0), {"budget_growth": 1.0}, 2000),
])
def test_run_budget_grows_past_x2_for_gradual_runs(sf, overrides, expected):
    assert run_budget(ZSSRConfig().replace(**overrides), sf) == pytest.approx(expected, abs=2)


@pytest.mark.parametrize("sf, overrides, expected", [
    ((2.0, 2.0), {}, 96), ((4.0, 4.0), {}, 128), ((4.0, 4.0), {"n_steps": 1}, 96),
    ((4.0, 1.0), {}, 96), ((4.0, 4.0), {"crop_size": 160}, 160),
])
def test_run_crop_grows_past_x2(sf, overrides, expected):
    assert run_crop(ZSSRConfig().replace(**overrides), sf) == expected
    assert run_crop(ZSSRConfig.from_preset("fast"), (4.0, 4.0)) == 64


def test_x4_run_trains_three_times_max_iters():
    img = smooth_image(24, 24)
    model = train([img[None]], 4, tiny(n_steps=2, max_iters=6))
    assert [r.iterations for r in model.reports] == [9, 9]


def test_split_iters_shares_the_budget():
    assert split_iters(2000, 3) == [667, 667, 666] and sum(split_iters(2001, 4)) == 2001
    assert split_iters(100, 1) == [100]


def test_gradual_on_a_stack_infers_only_a_few_planes_as_fathers(monkeypatch):
    """A 12-plane stack in 3 stages: stage outputs of 4 evenly spaced planes, not of all 12."""
    calls = []
    real = zssr_mod.super_resolve_tensor

    def counting(net, lr, *a, **k):
        calls.append(tuple(lr.shape))
        return real(net, lr, *a, **k)

    monkeypatch.setattr(zssr_mod, "super_resolve_tensor", counting)
    planes = [smooth_image(20, 20, seed=i)[None] for i in range(12)]
    model = train(planes, 2, tiny(n_steps=3, max_iters=9))
    assert len(model.reports) == 3
    assert len(calls) == 2 * zssr_mod.GRADUAL_FATHERS


def test_stage_outputs_are_capped_in_output_pixels(monkeypatch):
    """A big input's stage outputs come from a central crop whose upscaled size stays within
    gradual_father_pixels, so the later (larger) stages of x4 cost no more than the first."""
    outs = []
    real = zssr_mod.super_resolve_tensor

    def recording(net, lr, sf, *a, **k):
        out = real(net, lr, sf, *a, **k)
        outs.append(out.shape[-2] * out.shape[-1])
        return out

    monkeypatch.setattr(zssr_mod, "super_resolve_tensor", recording)
    img = smooth_image(64, 64)
    train([img[None]], 4, tiny(n_steps=4, max_iters=4, gradual_father_pixels=96 * 96))
    assert len(outs) == 3
    assert all(px <= 96 * 96 * 1.1 for px in outs) and min(outs) > 80 * 80, outs


@pytest.mark.parametrize("shape, scale, expected", [
    ((17, 23), 1.5, (26, 35)),
    ((17, 23), (2, 1), (34, 23)),
    ((17, 23), (1, 3), (17, 69)),
])
@pytest.mark.parametrize("ensemble", [False, True])
def test_non_integer_and_per_axis_factors(shape, scale, expected, ensemble):
    out = super_resolve(smooth_image(*shape), scale, tiny(max_iters=5, ensemble=ensemble))
    assert out.shape == expected and out.dtype == np.float32 and np.isfinite(out).all()


@pytest.mark.parametrize("channels", [0, 1, 3, 5])
def test_channel_counts(channels):
    img = smooth_image(20, 18, channels)
    out = super_resolve(img, 2, tiny(max_iters=5))
    want = (40, 36) if channels == 0 else (40, 36, channels)
    assert out.shape == want and np.isfinite(out).all()
    # the result is close to the image: downscaled back it reproduces the input (back-projection)
    back = imresize(torch.from_numpy(np.atleast_3d(out)).permute(2, 0, 1), 0.5).permute(1, 2, 0).numpy()
    assert np.abs(back - np.atleast_3d(img)).mean() < 0.02


def test_custom_kernel_run():
    img = smooth_image(24, 24)
    out = super_resolve(img, 2, tiny(max_iters=5), kernel=("gaussian", 1.0, 0.6))
    assert out.shape == (48, 48) and np.isfinite(out).all()


# ---- the learning-rate policy, wired into the loop -------------------------------------------------
POLICY = dict(lr_schedule="plateau", learning_rate=1e-3, divergence_ratio=0.0,  # the paper's rule
              test_every=5, lr_policy_every=6, min_iters_between_drops=25, lr_slope_range=25)  # 25 // 5 = 5 points


def _scripted_errors(monkeypatch, step: float):
    """Reconstruction errors on an exact line (rising for step > 0): the rule's decision is then certain."""
    calls = {"n": 0}

    def error(self, net, device, precision):
        if net is None:
            return 1.0                                  # the cubic reference
        calls["n"] += 1
        return 1.0 + step * calls["n"]

    monkeypatch.setattr(train_mod.TestSet, "error", error)


def test_lr_drops_on_plateau_and_training_stops(monkeypatch):
    _scripted_errors(monkeypatch, +1e-3)                 # not improving: -1.5 * slope < std always
    model = train([smooth_image(20, 20)[None]], 2, tiny(max_iters=400, **POLICY))
    rep = model.reports[0]
    # drops at iterations 29, 59 and 89 (every 6, more than 25 after the last drop, >= 5 test points);
    # after the third drop lr = 1e-6 < 9e-6 and training stops
    assert rep.final_lr == pytest.approx(1e-6)
    assert rep.iterations == 90


def test_lr_kept_while_improving(monkeypatch):
    _scripted_errors(monkeypatch, -1e-3)                 # steadily improving: never drop
    model = train([smooth_image(20, 20)[None]], 2, tiny(max_iters=70, **POLICY))
    assert model.reports[0].final_lr == pytest.approx(1e-3)
    assert model.reports[0].iterations == 70


# ---- gradual SR: which images serve as fathers ------------------------------------------------------
@pytest.mark.parametrize("sf", [(2, 2), (2, 1), (1, 3)])
def test_gradual_stage_outputs_are_not_input_scale_fathers(sf, monkeypatch):
    """An intermediate output is upscaled data: it may serve for scales above 1 (affine fathers), but
    never as an input-scale image for 'as is' / 'no interpolation' fathers or for the reconstruction
    test. With per-axis factors the intermediate output's smaller factor is 1, and it must still not
    be mistaken for the input (the original picks the input for scale 1.0)."""
    bases = []

    class Recording(train_mod.ExampleSampler):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            bases.append([tuple(s.image.shape) for s in self.base])

    monkeypatch.setattr(train_mod, "ExampleSampler", Recording)
    img = smooth_image(20, 24)
    train([img[None]], sf, tiny(n_steps=2, max_iters=3))
    assert len(bases) == 2
    assert bases[1] == [(1, 20, 24)], f"stage 2 draws input-scale fathers from {bases[1]}"


@pytest.mark.parametrize("from_pool", [False, True])
def test_no_interp_fathers_from_stage_outputs(from_pool):
    """With no_interp_from_pool, 'no interpolation' fathers are exact crops of an earlier stage's
    output whenever the drawn scale exceeds 1 (as the original's augmentation picks its image);
    without it they come from the input only."""
    from napari_zssr.engine.examples import ExampleSampler, Source
    inp = torch.zeros(1, 16, 16)
    out = torch.full((1, 40, 40), 5.0)
    cfg = ZSSRConfig(crop_size=8, prob_as_is=0.0, prob_no_interp=1.0, no_interp_from_pool=from_pool)
    sampler = ExampleSampler([Source(inp, 1.0), Source(out, 2.5, is_input=False)], (2.5, 2.5), None, cfg,
                             np.random.default_rng(0), allow_rotation=True, max_scale=2.5)
    fathers = [sampler.father() for _ in range(200)]
    assert all(f.shape == (1, 8, 8) for f in fathers)
    from_output = sum(bool(torch.all(f == 5.0)) for f in fathers)
    from_input = sum(bool(torch.all(f == 0.0)) for f in fathers)
    assert from_output + from_input == 200           # no interpolation: never a blend of the two
    if from_pool:
        # scale ~ U(0.5, 2.5): the output is chosen when it exceeds 1, i.e. 3/4 of the time
        assert 120 < from_output < 180
    else:
        assert from_output == 0


def test_cosine_schedule_warms_up_then_decays():
    cfg = ZSSRConfig(max_iters=1000, warmup_iters=100, learning_rate=2e-3, min_learning_rate=1e-5)
    lrs = [cosine_lr(cfg, i) for i in range(cfg.max_iters)]
    assert lrs[0] == pytest.approx(2e-3 / 100, rel=0.01) and lrs[49] == pytest.approx(lrs[0] * 50, rel=0.01)
    assert max(lrs) == pytest.approx(2e-3, rel=0.03) and int(np.argmax(lrs)) == 99
    assert all(a >= b for a, b in zip(lrs[99:], lrs[100:]))          # then never rises again
    assert lrs[-1] == pytest.approx(1e-5, rel=0.01)
    assert cosine_lr(cfg.replace(warmup_iters=0), 0) == pytest.approx(2e-3)


def _guarded_linear():
    net = torch.nn.Linear(2, 1)
    return net, DivergenceGuard(net, torch.optim.Adam(net.parameters(), lr=1e-3), ratio=3.0)


def test_divergence_guard_rolls_back_to_best_state():
    net, guard = _guarded_linear()
    assert not guard.check(1.0)
    best = net.weight.detach().clone()
    with torch.no_grad():
        net.weight += 5
    assert not guard.check(2.5)                     # worse, but within the ratio: keep going
    assert torch.equal(net.weight, best + 5)
    assert guard.check(3.5)                         # blown up: back to the best weights, lr halved
    assert torch.equal(net.weight, best) and guard.lr_scale == 0.5
    with torch.no_grad():
        net.weight += 1
    assert guard.check(float("nan")) and torch.equal(net.weight, best) and guard.lr_scale == 0.25


def test_divergence_guard_revives_a_dead_net():
    net, guard = _guarded_linear()
    assert not guard.check(1.0)
    best = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.zero_()
    assert guard.check(0.9, dead=True)              # even a lower error: a dead net is rolled back
    assert torch.equal(net.weight, best) and guard.best == 1.0


def test_training_recovers_when_the_net_dies(monkeypatch):
    """Kill every weight mid-run: the test sees output == cubic input and training rolls back."""
    killed = {"done": False}
    real_step = torch.optim.Adam.step

    def step(self, *a, **k):
        out = real_step(self, *a, **k)
        if not killed["done"] and self.state and next(iter(self.state.values()))["step"] == 30:
            with torch.no_grad():
                for g in self.param_groups:
                    for p in g["params"]:
                        p.zero_()
            killed["done"] = True
        return out

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    model = train([smooth_image(24, 24)[None]], 2, tiny(max_iters=60, test_every=10))
    rep = model.reports[0]
    assert killed["done"] and rep.recoveries == 1
    assert rep.rec_error < rep.cubic_rec_error      # alive again at the end


def test_small_crops_first_then_full_crops(monkeypatch):
    shapes = []

    class Recording(train_mod.ExampleSampler):
        def batch(self, n):
            x, y = super().batch(n)
            shapes.append(tuple(x.shape[-2:]))
            return x, y

    monkeypatch.setattr(train_mod, "ExampleSampler", Recording)
    train([smooth_image(40, 40)[None]], 2, tiny(max_iters=20, crop_size=32, small_crop_fraction=0.75))
    assert shapes == [(16, 16)] * 15 + [(32, 32)] * 5


def test_paper_preset_keeps_the_original_settings_whatever_the_default():
    # the paper preset is the yardstick for every speed-up: a change of the default must not move it
    paper = ZSSRConfig.from_preset("paper")
    assert (paper.crop_size, paper.depth, paper.width, paper.batch_size) == (128, 8, 64, 1)
    assert (paper.precision, paper.lr_schedule, paper.learning_rate, paper.max_iters) == ("fp32", "plateau", 1e-3, 3000)
    assert (paper.test_every, paper.lr_policy_every, paper.lr_slope_range, paper.min_iters_between_drops) == (
        50, 60, 256, 256)
    assert (paper.n_steps, paper.back_projection_iters, paper.ensemble, paper.noise_std) == (1, 10, True, 0.0)
    assert paper.divergence_ratio == 0.0 and paper.small_crop_fraction == 0.0


@pytest.mark.parametrize("sf, kernel, size", [((5.0, 1.0), "gauss", 95), ((4.0, 1.0), "gauss", 96),
                                              ((2.5, 2.5), "gauss", 95), ((5.0, 5.0), None, 96)])
def test_fathers_for_a_kernel_are_whole_low_resolution_pixels(sf, kernel, size):
    """A kernel's downscale samples from the first to the last whole step: a 96-row father at x5 gave
    a son sampled every 4.79 rows. With a kernel, crops are cut to whole low-resolution pixels."""
    from napari_zssr.engine.examples import ExampleSampler, Source
    from napari_zssr.engine.kernels import downscale, fwhm_to_sigma, gaussian_kernel
    k = gaussian_kernel(fwhm_to_sigma(sf[0]), 0.0) if kernel else None
    cfg = ZSSRConfig(crop_size=96)
    sampler = ExampleSampler([Source(torch.zeros(1, 200, 200), 1.0)], sf, k, cfg, np.random.default_rng(0),
                             allow_rotation=True)
    assert all(sampler.father().shape[-2:] == (size, size) for _ in range(20))
    if kernel and sf[1] == 1.0:
        # a ramp along y: the son holds the father's value at each low-resolution pixel's centre
        ramp = torch.arange(size, dtype=torch.float32)[:, None].expand(size, 8)[None, None]
        son = downscale(ramp, (1 / sf[0], 1.0), kernel=k)[0, 0, :, 4]
        centres = (sf[0] - 1) / 2 + sf[0] * np.arange(son.shape[0])
        inner = slice(2, -2)                       # away from the mirrored borders
        assert np.allclose(son.numpy()[inner], centres[inner], atol=1e-3)


def test_training_layout_rule():
    """fp32 on a CPU trains in the plain layout (its channels-last backward is up to 2x slower);
    bf16 and GPUs keep channels-last; channels_last=False is always plain."""
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert not train_channels_last(cpu, "fp32")
    assert train_channels_last(cpu, "bf16") and train_channels_last(cuda, "fp32")
    assert not train_channels_last(cuda, "bf16", channels_last=False)


def test_cpu_fp32_training_runs_in_the_plain_layout_and_infers_alike():
    x = np.random.default_rng(0).random((1, 24, 24), dtype=np.float32)
    cfg = ZSSRConfig(max_iters=6, crop_size=16, n_steps=1, precision="fp32", device="cpu", init="random",
                     ensemble=False, back_projection_iters=0, holdout_fraction=0.0)
    model = train([x], 2, cfg)
    w = model.net.body[2].weight                  # 64 -> 64: the layouts differ
    assert w.is_contiguous() and not w.is_contiguous(memory_format=torch.channels_last)
    a = apply(model, x)
    b = apply(model, x, config=model.config.replace(channels_last=False))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
