"""The engine's inference runs through one pure-torch module (engine/inference_module.py): the same
numbers as the code it replaced (tests/_legacy_infer.py, bit for bit), scriptable, and its own
torch resize tables equal to the engine's numpy ones."""
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
def test_engine_inference_is_bit_identical_to_the_old_code(case):
    c, sf, kern, ens, bp, clip, tile, shape, batched, cl, prec = case
    net, x = _net(c), _input(c, shape, batched)
    kw = dict(ensemble=ens, bp_iters=bp, clip=clip, tile=tile, channels_last=cl)
    old = legacy.super_resolve_tensor(net, x, sf, kern, prec, **kw)
    new = infer.super_resolve_tensor(net, x, sf, kern, prec, **kw)
    assert new.shape == old.shape
    assert torch.equal(new, old)
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
        assert torch.equal(infer.back_project(sr, lr, (2.0, 2.0), k, 3, (0.0, 1.0)),
                           legacy.back_project(sr, lr, (2.0, 2.0), k, 3, (0.0, 1.0)))
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
