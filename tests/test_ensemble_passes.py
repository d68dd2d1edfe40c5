"""The self-ensemble's size rule (issue 31): all 8 passes for ordinary images, the 4 axis-keeping
ones above ENSEMBLE_FULL_MAX_PIXELS output pixels; `passes` asks for 1, 2, 4 or 8 directly; the run
record says how many ran. The threshold is monkeypatched small so that these run in a second."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_zssr.engine import ZSSRConfig, infer
from napari_zssr.engine.network import ZSSRNet
from napari_zssr.nd import RunSpec, super_resolve_nd
from napari_zssr.nd.pipeline import ensemble_passes_of

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = 24 * 24          # a patched threshold: a 12x12 input x2 (576 px) keeps 8, a 16x16 one (1024) gets 4


def _net() -> ZSSRNet:
    torch.manual_seed(0)
    net = ZSSRNet(1, depth=3, width=8, seed=0).eval()
    with torch.no_grad():                      # an asymmetric net: every transform gives another output
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


def _image(h: int, w: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(1, h, w, generator=g)


def _sr(x, sf=(2, 2), **kw):
    return infer.super_resolve_tensor(_net(), x, sf, None, "fp32", bp_iters=2, **kw)


def test_rule_picks_8_below_and_4_above(monkeypatch):
    monkeypatch.setattr(infer, "ENSEMBLE_FULL_MAX_PIXELS", SMALL)
    on = infer.InferenceOptions()
    assert infer.ensemble_passes(on, (2, 2), (24, 24)) == 8          # at the threshold: all 8
    assert infer.ensemble_passes(on, (2, 2), (24, 25)) == 4
    assert infer.ensemble_passes(on, (2, 2), (2048, 2048)) == 4
    monkeypatch.undo()
    # the shipped threshold: Set5/Set14-sized images and the bundled samples keep 8, 1024^2 x2 gets 4
    assert infer.ensemble_passes(on, (2, 2), (1440, 1152)) == 8     # a 720x576 input x2
    assert infer.ensemble_passes(on, (4, 4), (1024, 1024)) == 8     # the 256^2 sample x4
    assert infer.ensemble_passes(on, (2, 2), (2048, 2048)) == 4


def test_rule_at_4_equals_an_explicit_4_pass_run(monkeypatch):
    monkeypatch.setattr(infer, "ENSEMBLE_FULL_MAX_PIXELS", SMALL)
    big = _image(16, 16)
    ruled = _sr(big)
    assert torch.equal(ruled, _sr(big, passes=4))
    assert not torch.allclose(ruled, _sr(big, passes=8), atol=1e-6), "the rule changed nothing"
    small = _image(12, 12)
    assert torch.equal(_sr(small), _sr(small, passes=8))
    # per image, not per batch: two small images together keep 8 each
    both = torch.stack([small, small])
    assert torch.equal(_sr(both)[1], _sr(small, passes=8))


def test_no_ensemble_is_one_pass_whatever_passes_says(monkeypatch):
    monkeypatch.setattr(infer, "ENSEMBLE_FULL_MAX_PIXELS", SMALL)
    off = infer.InferenceOptions(ensemble=False, passes=8)
    assert infer.ensemble_passes(off, (2, 2), (8, 8)) == 1
    x = _image(12, 12)
    one = _sr(x, ensemble=False)
    assert torch.equal(one, _sr(x, passes=1))
    assert torch.equal(one, _sr(x, ensemble=False, passes=8))
    assert not torch.allclose(one, _sr(x), atol=1e-6)


def test_unequal_factors_never_more_than_4(monkeypatch):
    on = infer.InferenceOptions()
    assert infer.ensemble_passes(on, (2, 1), (8, 8)) == 4
    assert infer.ensemble_passes(infer.InferenceOptions(passes=8), (1, 3), (8, 8)) == 4
    monkeypatch.setattr(infer, "ENSEMBLE_FULL_MAX_PIXELS", SMALL)
    assert infer.ensemble_passes(on, (2, 1), (2048, 2048)) == 4
    x = _image(20, 12)
    assert torch.equal(_sr(x, sf=(2, 1)), _sr(x, sf=(2, 1), passes=4))


def test_two_passes_are_identity_and_rot180():
    assert infer.TRANSFORMS_ALL[:2] == [(0, False), (2, False)]
    m = infer.inference_module(_net(), (2, 2), None, passes=2)
    assert m.transforms() == [(0, False), (2, False)]
    with pytest.raises(ValueError, match="passes"):
        infer.InferenceOptions(passes=3)


@pytest.mark.parametrize("axes, shape, spec, cfg, expected", [
    ("YX", (12, 12), {}, {}, 8),
    ("YX", (16, 16), {}, {}, 4),                                        # above the patched threshold
    ("YX", (16, 16), {"factors": (2, 1)}, {}, 4),
    ("YX", (12, 12), {}, {"ensemble": False}, 1),
    ("ZYX", (3, 12, 12), {}, {}, 1),                                    # a shared stack: no ensemble
    ("ZYX", (3, 12, 12), {}, {"stack_ensemble": True}, 8),
    ("ZYX", (3, 16, 16), {}, {"stack_ensemble": True}, 4),
    ("ZYX", (3, 12, 12), {"planes": "per-plane"}, {}, 8),              # each plane a single image
    ("ZYX", (8, 12, 12), {"mode": "axial", "factors": (2,)}, {}, 1),
    ("ZYX", (8, 12, 12), {"mode": "axial", "factors": (2,)}, {"stack_ensemble": True}, 4),
])
def test_record_passes_follow_the_run(monkeypatch, axes, shape, spec, cfg, expected):
    monkeypatch.setattr(infer, "ENSEMBLE_FULL_MAX_PIXELS", SMALL)
    run = RunSpec(**{"factors": (2, 2), **spec}).resolve(shape, axes)
    assert ensemble_passes_of(run, ZSSRConfig(**cfg)) == expected


def test_run_record_reports_the_passes(monkeypatch):
    monkeypatch.setattr(infer, "ENSEMBLE_FULL_MAX_PIXELS", SMALL)
    cfg = ZSSRConfig(max_iters=5, prior_iters=5, crop_size=16, back_projection_iters=1, seed=0,
                     precision="fp32", num_threads=1, device="cpu", holdout_fraction=0.0)
    data = (np.random.default_rng(0).random((16, 16)) * 1000).astype(np.uint16)
    assert super_resolve_nd(data, "YX", factors=(2, 2), config=cfg).params["ensemble_passes"] == 4
    assert super_resolve_nd(data[:12, :12], "YX", factors=(2, 2), config=cfg).params["ensemble_passes"] == 8
