"""The engine's inference runs through one pure-torch module (engine/inference_module.py): the
numbers of the code it replaced (tests/_legacy_infer.py; within float32 rounding since issue 31
resizes with banded matrix products instead of a gather), scriptable, and its own torch resize
tables equal to the engine's numpy ones."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import _legacy_infer as legacy
from napari_zssr.engine import infer
from napari_zssr.engine.inference_module import (ZSSRPackaged, cubic_contributions, fuse,
                                                 sample_index)
from napari_zssr.engine.kernels import gaussian_kernel
from napari_zssr.engine.network import ZSSRNet
from napari_zssr.engine.resize import _contributions

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ASYM = np.random.default_rng(1).random((4, 5))

# (channels, sf, kernel, ensemble, bp_iters, clip, tile, (H, W), batched, channels_last, precision)
CASES = [
    (1, (2.0, 2.0), None, True, 3, None, None, (13, 11), False, True, "fp32"),
    (3, (2.0, 2.0), None, True, 2, (0.0, 1.0), None, (10, 9), True, True, "fp32"),
    (1, (4.0, 1.0), gaussian_kernel(1.5, 0), True, 3, None, None, (9, 12), False, True, "fp32"),     # axial
    (1, (1.0, 3.0), None, True, 2, None, None, (8, 7), False, False, "fp32"),
    (2, (2.5, 2.5), gaussian_kernel(1.0, 1.0), True, 2, None, 16, (11, 13), True, True, "fp32"),  # tiled
    (1, (1.19, 1.19), None, True, 2, None, None, (20, 17), False, True, "fp32"),                  # a stage
    (1, (2.0, 3.0), ASYM, False, 4, (0.0, 1.0), None, (9, 9), False, True, "fp32"),
    (1, (2.0, 2.0), None, True, 2, None, 12, (14, 15), False, True, "bf16"),
]


def _net(c: int) -> ZSSRNet:
    return ZSSRNet(c, depth=3, width=8, init_std_factor=1.0, seed=1).eval()   # a residual that matters


def _input(c, shape, batched, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((2, c) + shape if batched else (c,) + shape, generator=g)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"x{c[1][0]:g},{c[1][1]:g}-c{c[0]}-{c[10]}")
def test_engine_inference_gives_the_old_numbers(case):
    c, sf, kern, ens, bp, clip, tile, shape, batched, cl, prec = case
    net, x = _net(c), _input(c, shape, batched)
    kw = dict(ensemble=ens, bp_iters=bp, clip=clip, tile=tile, channels_last=cl)
    old = legacy.super_resolve_tensor(net, x, sf, kern, prec, **kw)
    new = infer.super_resolve_tensor(net, x, sf, kern, prec, **kw)
    assert new.shape == old.shape
    # float32 rounding only (sums in another order); bf16 rounds its network's activations
    assert (new - old).abs().max().item() <= (1e-5 if prec == "fp32" else 1e-2)
    assert (new - legacy.imresize(x, sf, output_shape=tuple(new.shape[-2:]))).abs().max() > 1e-3   # not cubic


@pytest.mark.parametrize("case", [CASES[1], CASES[2], CASES[4], CASES[6]], ids=["rgb", "axial-kernel", "tiled", "asym"])
def test_scripted_module_gives_the_engine_result(case):
    """The packaged form (scripted, no engine hooks: its own resize tables, no autocast) gives the
    engine's numbers (its tables are the engine's to the last float32 bit; the rest is the same ops)."""
    c, sf, kern, ens, bp, clip, tile, shape, batched, cl, prec = case
    net, x = _net(c), _input(c, shape, True, seed=3)
    engine = infer.super_resolve_tensor(net, x, sf, kern, "fp32", ensemble=ens, bp_iters=bp, clip=clip, tile=tile,
                                        channels_last=cl)
    plain = infer.inference_module(net, sf, kern, ensemble=ens, bp_iters=bp, clip=clip, tile=tile,
                                   channels_last=cl, hooks=False)
    scripted = torch.jit.script(plain)
    out = scripted(x)
    assert out.shape == engine.shape
    assert (out - engine).abs().max().item() <= 1e-6
    assert torch.equal(plain(x), out)


def test_torch_tables_match_the_engine_tables():
    n_diff = 0
    for s in (2.0, 4.0, 3.0, 2.5, 1.5, 1.19, 2 ** 0.25, 16.0):
        for n in (2, 5, 9, 16, 31, 64, 97):
            out = int(np.ceil(round(n * s, 6)))
            for args in ((n, out, s), (out, n, 1.0 / s)):
                ai, aw = _contributions(*args, "cubic", True)
                bi, bw = cubic_contributions(*args, True)
                assert torch.equal(ai, bi), args
                n_diff += not torch.equal(aw.float(), bw.float())
    assert n_diff == 0
    for n in (3, 10, 33):
        for sf in (2.0, 4.0, 1 / (1 / 3.0), 2.5):
            for o in (max(1, int(n / sf)), int(np.ceil(n / sf))):
                want = np.clip(np.round(np.linspace(0, n - sf, o)).astype(np.int64), 0, n - 1)
                assert np.array_equal(sample_index(n, sf, o, torch.device("cpu")).numpy(), want)


def test_engine_helpers_keep_their_results():
    """run_net, back_project and median, now thin wrappers of the module, give the old numbers."""
    net = _net(2)
    x = torch.rand(2, 2, 40, 36)
    assert torch.equal(infer.run_net(net, x, "fp32", tile=16), legacy.run_net(net, x, "fp32", tile=16))
    lr = torch.rand(2, 9, 11)
    sr = torch.rand(2, 18, 22)
    for k in (None, gaussian_kernel(1.0, 1.0)):
        new = infer.back_project(sr, lr, (2.0, 2.0), k, 3, (0.0, 1.0))
        assert (new - legacy.back_project(sr, lr, (2.0, 2.0), k, 3, (0.0, 1.0))).abs().max().item() <= 1e-6
    s = torch.randn(8, 2, 3, 5, 4)
    assert torch.equal(infer.median(s), legacy.median(s))


def test_packaged_axial_module_does_the_engine_axial_passes():
    """ZSSRPackaged (axial) = nd/in_memory._axial's xz and yz passes (chunks of 8) and fusion."""
    from napari_zssr.nd.in_memory import fuse as np_fuse
    net = _net(1)
    vol = torch.rand(1, 5, 10, 9)                                     # (C, Z, Y, X)
    kw = dict(ensemble=True, bp_iters=2, clip=None)
    m = infer.inference_module(net, (4.0, 1.0), None, **kw, hooks=False)
    pk = ZSSRPackaged([dict(channels=1, sf_y=4.0, sf_x=1.0, depth=3, width=8, **kw)], mode="axial")
    pk.nets[0].load_state_dict(m.state_dict())
    xz = np.ascontiguousarray(np.moveaxis(vol.numpy(), 2, 0))
    yz = np.ascontiguousarray(np.moveaxis(vol.numpy(), 3, 0))

    def passes(sl):
        return np.concatenate([infer.super_resolve_tensor(net, torch.from_numpy(sl[i:i + 8]), (4.0, 1.0), None, "fp32",
                                                          **kw).numpy() for i in range(0, len(sl), 8)])
    a, b = np.moveaxis(passes(xz), 0, 2), np.moveaxis(passes(yz), 0, 3)
    want = np_fuse(a, b, "geometric")
    got = torch.jit.script(pk)(vol[None])[0].numpy()
    assert got.shape == (1, 20, 10, 9)
    assert np.abs(got - want).max() <= 1e-5
    assert np.abs(got - np_fuse(a, b, "arithmetic")).max() > 1e-5        # the fusion is the geometric one
    assert torch.allclose(fuse(torch.from_numpy(a), torch.from_numpy(b), "arithmetic"),
                          torch.from_numpy(np_fuse(a, b, "arithmetic")))


def test_frozen_graph_gives_the_eager_numbers_and_follows_training(monkeypatch):
    """The CPU's frozen oneDNN graph of the network (issue 31) computes what the eager network
    computes, and is rebuilt once the weights change (gradual stages train between inferences)."""
    net = _net(1)
    x = _input(1, (24, 20), False)
    kw = dict(ensemble=True, bp_iters=2)
    monkeypatch.setattr(infer, "FREEZE_MIN_PIXELS", 1 << 40)
    eager = infer.super_resolve_tensor(net, x, (2.0, 2.0), None, "fp32", **kw)
    assert infer.weights_digest(net) not in infer._FROZEN
    monkeypatch.setattr(infer, "FREEZE_MIN_PIXELS", 0)
    frozen = infer.super_resolve_tensor(net, x, (2.0, 2.0), None, "fp32", **kw)
    assert infer.weights_digest(net) in infer._FROZEN
    assert (frozen - eager).abs().max().item() <= 1e-6
    with torch.no_grad():
        net.body[0].weight.mul_(1.5)                                # a training step, in effect
    again = infer.super_resolve_tensor(net, x, (2.0, 2.0), None, "fp32", **kw)
    monkeypatch.setattr(infer, "FREEZE_MIN_PIXELS", 1 << 40)
    assert (again - infer.super_resolve_tensor(net, x, (2.0, 2.0), None, "fp32", **kw)).abs().max().item() <= 1e-6
    assert (again - frozen).abs().max().item() > 1e-3
    copy = _net(1)                                                  # the same weights in another object
    copy.load_state_dict(net.state_dict())
    assert infer.frozen_net(copy) is infer.frozen_net(net)          # (a chunked run's blocks)


def test_cpu_plan_keeps_activations_small_and_tiles_change_nothing(monkeypatch):
    for n, h, w, width in ((8, 40, 36, 32), (8, 512, 512, 32), (1, 2048, 2048, 64), (3, 100, 700, 64)):
        tile, items = infer.cpu_plan(n, h, w, width, 8)
        assert 1 <= items <= n
        side = min(tile + 16, h), min(tile + 16, w)
        assert items * side[0] * side[1] * width * 4 <= max(infer.CPU_ACTIVATION_BYTES, width * 4 * 48 * 48)
    net = _net(2)
    x = torch.rand(3, 2, 40, 36)
    whole = infer.run_net(net, x, "fp32", tile=64)
    monkeypatch.setattr(infer, "CPU_ACTIVATION_BYTES", 8 * 4 * 20 * 20)     # 4 + halo tiles, one image a call
    assert infer.cpu_plan(3, 40, 36, 8, 3) == (32, 1)
    assert (infer.run_net(net, x, "fp32") - whole).abs().max().item() <= 1e-6


def _psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    return float(10 * np.log10(peak ** 2 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_fast_inference_keeps_the_psnr_of_set5_and_the_stack():
    """Issue 31's inference (banded resize, frozen graph, cache-sized calls) against the code before
    it, with the shipped prior's network: PSNR within 0.01 dB on a Set5 crop (x2, self-ensemble,
    10 back-projections) and on the stack benchmark's planes (batched, no ensemble)."""
    from _set5 import set5_pairs_or_skip, to_y

    from napari_zssr.engine.prior import prior_network
    from napari_zssr.engine.resize import imresize
    from napari_zssr.testing.simulate import simulate_volume
    net, _ = prior_network(1, (2.0, 2.0), None)
    net.eval()
    _, hr, lr = set5_pairs_or_skip(2)[0]                            # baby
    y_lr = torch.from_numpy((to_y(lr)[64:192, 64:192] / 255.0).astype(np.float32))[None]
    y_hr = to_y(hr)[128:384, 128:384] / 255.0
    kw = dict(ensemble=True, bp_iters=10)
    old = legacy.super_resolve_tensor(net, y_lr, (2.0, 2.0), None, "fp32", **kw)[0].numpy()[2:-2, 2:-2]
    new = infer.super_resolve_tensor(net, y_lr, (2.0, 2.0), None, "fp32", **kw)[0].numpy()[2:-2, 2:-2]
    assert infer.weights_digest(net) in infer._FROZEN               # the fast path ran
    ref = y_hr[2:-2, 2:-2]
    assert abs(_psnr(new, ref, 1.0) - _psnr(old, ref, 1.0)) <= 0.01
    cubic = imresize(y_lr, 2.0)[0].numpy()[2:-2, 2:-2]
    assert _psnr(new, ref, 1.0) > _psnr(cubic, ref, 1.0) + 0.5     # a network that does something

    truth = simulate_volume((10, 128, 128), seed=0)
    planes = imresize(torch.from_numpy(truth), 0.5)[:, None]         # (10, 1, 64, 64)
    kw = dict(ensemble=False, bp_iters=10)
    old = legacy.super_resolve_tensor(net, planes, (2.0, 2.0), None, "fp32", **kw)[:, 0].numpy()
    new = infer.super_resolve_tensor(net, planes, (2.0, 2.0), None, "fp32", **kw)[:, 0].numpy()
    assert abs(_psnr(new, truth, 1.0) - _psnr(old, truth, 1.0)) <= 0.01
