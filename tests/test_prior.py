"""The learned starting point: which prior fits, loading, bad files, fallback, and that
`init="random"` is exactly the old run."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from napari_zssr.engine import ZSSRConfig, apply, train
from napari_zssr.engine import prior as prior_mod
from napari_zssr.engine.kernels import gaussian_kernel
from napari_zssr.engine.model_io import load_models, models_to_bytes
from napari_zssr.engine.network import ZSSRNet

REPO = Path(__file__).resolve().parents[1]
TINY = dict(crop_size=24, ensemble=False, back_projection_iters=2, n_steps=1, num_threads=1, seed=0,
            max_iters=12, prior_iters=12, init="prior")


def _img(c=1, h=40, w=44, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.3 * np.sin(xx / 3.0) * np.cos(yy / 4.0)
    return np.stack([base + 0.05 * rng.standard_normal((h, w)) for _ in range(c)]).astype(np.float32)


def test_shipped_priors_exist_and_fit_the_network():
    path = prior_mod.PRIOR_DIR / prior_mod.prior_filename("lateral", 1)
    assert path.is_file(), path
    net, notice = prior_mod.prior_network(1, (2.0, 2.0), None)
    assert net is not None and not notice
    meta, _ = prior_mod.read_prior(path)
    assert meta["card"]["family"] == "lateral"
    assert (net.depth, net.width) == (meta["depth"], meta["width"])
    # the axial prior: one axis upscaled with a slice profile
    path, notice = prior_mod.find_prior(1, (4.0, 1.0), gaussian_kernel(1.7, 0.0))
    assert path == prior_mod.PRIOR_DIR / "axial_1ch.safetensors" and not notice
    assert prior_mod.read_prior(path)[0]["card"]["family"] == "axial"
    assert (prior_mod.PRIOR_DIR / "MODEL_CARD.md").is_file()
    total = sum(p.stat().st_size for p in prior_mod.PRIOR_DIR.glob("*.safetensors"))
    assert total <= 5 * 2 ** 20


def test_rgb_starts_from_the_gray_prior_spread_over_its_colours():
    """A gray picture copied into R, G and B gives the 1-channel prior's result in each colour."""
    path = prior_mod.PRIOR_DIR / prior_mod.prior_filename("lateral", 1)
    gray, _ = prior_mod.prior_network(1, (2.0, 2.0), None)
    rgb = ZSSRNet(3, gray.depth, gray.width)
    meta = prior_mod.load_prior_into(rgb, path)
    assert meta["expanded_from"] == 1
    x = torch.from_numpy(_img())[None]
    with torch.no_grad():
        one, three = gray(x), rgb(x.repeat(1, 3, 1, 1))
    for c in range(3):
        assert torch.allclose(three[:, c], one[:, 0], atol=1e-5)
    assert prior_mod.find_prior(3, (2.0, 2.0), None)[0] == path
    assert prior_mod.find_prior(2, (2.0, 2.0), None)[0] is None


def test_family_follows_factors_and_kernel():
    assert prior_mod.prior_family((2.0, 2.0), None)[0] == "lateral"
    assert prior_mod.prior_family((2.0, 2.0), gaussian_kernel(1.0, 1.0))[0] == "lateral"
    assert prior_mod.prior_family((4.0, 1.0), gaussian_kernel(1.5, 0.0))[0] == "axial"
    skew = np.zeros((5, 5))
    skew[2, 1:5] = [1, 2, 3, 4]
    fam, why = prior_mod.prior_family((2.0, 2.0), skew)
    assert fam is None and "symmetric" in why


def test_prior_run_starts_from_the_prior_and_uses_its_schedule():
    cfg = ZSSRConfig(**TINY)
    m = train([_img()], 2, cfg)
    assert m.init == "prior" and not m.notices
    assert m.iterations == cfg.prior_iters
    assert m.config.learning_rate == cfg.prior_learning_rate
    # a prior run with no adaptation at all is the prior's network
    still = train([_img()], 2, cfg.replace(prior_iters=1, prior_learning_rate=0.0, prior_warmup_iters=0))
    ref, _ = prior_mod.prior_network(1, (2.0, 2.0), None)
    for a, b in zip(still.net.state_dict().values(), ref.state_dict().values()):
        assert torch.allclose(a, b)


def test_init_random_is_the_old_run_bit_for_bit(tmp_path, monkeypatch):
    x = _img()
    cfg = ZSSRConfig(**TINY)
    a = apply(train([x], 2, cfg.replace(init="random")), x).numpy()
    # the same run with no prior available at all (the code path before priors existed)
    monkeypatch.setattr(prior_mod, "PRIOR_DIR", tmp_path)
    b_model = train([x], 2, cfg)
    b = apply(b_model, x).numpy()
    assert b_model.init == "random"
    assert np.array_equal(a, b)


def test_missing_prior_falls_back_with_a_one_line_notice(tmp_path, monkeypatch):
    monkeypatch.setattr(prior_mod, "PRIOR_DIR", tmp_path)
    events = []
    m = train([_img(c=2)], 2, ZSSRConfig(**TINY), progress=events.append)
    assert m.init == "random" and len(m.notices) == 1 and "\n" not in m.notices[0]
    assert "random weights" in m.notices[0]
    assert any(e.stage == "notice" for e in events)
    # two channels have no prior even when the priors are there
    monkeypatch.undo()
    m2 = train([_img(c=2)], 2, ZSSRConfig(**TINY))
    assert m2.init == "random" and "2-channel" in m2.notices[0]


def test_a_prior_run_uses_the_priors_network_and_reloads_as_it(tmp_path, monkeypatch):
    """A prior narrower than the from-scratch network gives the run its own (cheaper) network; the
    saved model records it, so it reloads as it trained; init="random" keeps the config's."""
    prior_mod.save_prior(ZSSRNet(1, 6, 16, seed=3), tmp_path / "lateral_1ch.safetensors", {"family": "lateral"})
    monkeypatch.setattr(prior_mod, "PRIOR_DIR", tmp_path)
    x = _img()
    m = train([x], 2, ZSSRConfig(**TINY))
    assert m.init == "prior" and (m.net.depth, m.net.width) == (6, 16)
    assert (m.config.depth, m.config.width) == (6, 16)
    path = tmp_path / "model.safetensors"
    path.write_bytes(models_to_bytes([m]))
    (back,), _ = load_models(path, device="cpu")
    assert (back.net.depth, back.net.width) == (6, 16)
    assert torch.allclose(apply(back, x), apply(m, x), atol=1e-5)
    r = train([x], 2, ZSSRConfig(**TINY).replace(init="random"))
    assert (r.net.depth, r.net.width) == (ZSSRConfig.depth, ZSSRConfig.width)
    # a file without its architecture is refused in one line
    weights = {k: v.contiguous() for k, v in ZSSRNet(1).state_dict().items()}
    save_file(weights, str(tmp_path / "lateral_1ch.safetensors"),
              metadata={"zssr_prior": json.dumps({"format": prior_mod.FORMAT, "channels": 1})})
    with pytest.raises(ValueError, match="depth and width"):
        train([x], 2, ZSSRConfig(**TINY))


def test_corrupt_or_mismatched_prior_is_a_clear_error(tmp_path):
    bad = tmp_path / "lateral_1ch.safetensors"
    bad.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match="not a valid napari-zssr prior"):
        prior_mod.load_prior_into(ZSSRNet(1), bad)
    rgb = tmp_path / "rgb.safetensors"
    prior_mod.save_prior(ZSSRNet(3), rgb, {"family": "lateral"})
    with pytest.raises(ValueError, match="3-channel"):
        prior_mod.load_prior_into(ZSSRNet(1), rgb)
    with pytest.raises(ValueError, match="unknown init"):
        train([_img()], 2, ZSSRConfig(**TINY).replace(init="imagenet"))


def test_paper_preset_stays_random_init():
    assert ZSSRConfig.from_preset("paper").init == "random"
    assert ZSSRConfig.from_preset("default").init == "auto"        # the prior where it measured no worse


def test_auto_starts_one_plane_from_the_prior_in_gradual_stages():
    cfg = ZSSRConfig(**TINY).replace(init="auto", n_steps=0, max_iters=2000, prior_iters=400)
    m = train([_img()], 2, cfg)
    assert m.init == "prior" and not m.notices and m.iterations == 400
    # x2 from the prior: 4 stages of 100 (one jump of 400 lost 0.1-0.6 dB on Set5, 2.7 on a stack)
    assert [round(r.sf[0], 3) for r in m.reports] == [1.189, 1.414, 1.682, 2.0]
    # the prior's iterations never exceed max_iters
    assert train([_img()], 2, cfg.replace(max_iters=8)).iterations == 8


def test_auto_trains_stacks_from_random_weights_on_the_stack_width_and_falls_back_where_no_prior_fits():
    cfg = ZSSRConfig(**TINY).replace(init="auto", stack_width=16)
    stack = train([_img(), _img(seed=1)], 2, cfg)            # a shared network over several planes
    assert stack.init == "random" and not stack.notices and stack.iterations == cfg.max_iters
    assert stack.net.width == 16 and stack.config.width == 16   # saved models rebuild this network
    assert train([_img(), _img(seed=1)], 2, cfg.replace(width=8)).net.width == 8   # at most, never wider
    narrow = train([_img(), _img(seed=1)], 2, cfg.replace(init="random", width=16))
    np.testing.assert_array_equal(apply(stack, _img()).numpy(), apply(narrow, _img()).numpy())
    # init="random" stays the from-scratch network of before (the paper's width)
    assert train([_img(), _img(seed=1)], 2, cfg.replace(init="random")).net.width == cfg.width == 64
    two = train([_img(c=2)], 2, cfg)                         # no 2-channel prior: random, quietly
    assert two.init == "random" and not two.notices
    asked = train([_img(c=2)], 2, cfg.replace(init="prior"))  # asked for: said why not
    assert asked.init == "random" and "2-channel" in asked.notices[0]


def test_an_axial_run_from_the_axial_prior_trains_its_longer_schedule():
    """One axis upscaled (axial: many xy planes pooled) takes the axial prior, under "auto" too,
    and trains prior_axial_growth x prior_iters."""
    cfg = ZSSRConfig(**TINY).replace(max_iters=2000, prior_iters=8, prior_axial_growth=1.5)
    planes = [_img(seed=s) for s in range(3)]
    kernel = gaussian_kernel(1.3, 0.0)
    m = train(planes, (3.0, 1.0), cfg, kernel=kernel)
    assert m.init == "prior" and not m.notices and m.iterations == 12
    ref, _ = prior_mod.prior_network(1, (3.0, 1.0), kernel)
    assert (m.net.depth, m.net.width) == (ref.depth, ref.width)
    assert train(planes, (3.0, 1.0), cfg.replace(max_iters=10), kernel=kernel).iterations == 10   # capped
    auto = train(planes, (3.0, 1.0), cfg.replace(init="auto", max_iters=2000), kernel=kernel)
    assert auto.init == "prior" and not auto.notices and auto.iterations == 12
    two = train([_img(c=2, seed=s) for s in range(3)], (3.0, 1.0), cfg.replace(init="auto"), kernel=kernel)
    assert two.init == "random" and not two.notices      # no 2-channel axial prior: random, quietly
    assert ZSSRConfig().from_prior(True).max_iters == 2000 and ZSSRConfig().from_prior().max_iters == 1000


def test_gradual_stages_from_the_prior_up_to_x2_only():
    from napari_zssr.engine.zssr import PRIOR_STAGE_ITERS, resolve_steps
    assert resolve_steps(0, (2.0, 2.0), 600, PRIOR_STAGE_ITERS) == 4
    assert resolve_steps(0, (2.0, 2.0), 600) == 2             # from random weights: stages of 250 at least
    assert resolve_steps(0, (2.0, 2.0), 150, PRIOR_STAGE_ITERS) == 1
    assert resolve_steps(0, (4.0, 4.0), 1800, PRIOR_STAGE_ITERS) == 7   # past x2: unchanged


def test_a_prior_run_past_x2_grows_its_own_budget():
    from napari_zssr.engine.zssr import run_budget
    cfg = ZSSRConfig()
    assert run_budget(cfg.from_prior(), (4.0, 4.0)) == cfg.prior_iters * cfg.prior_budget_growth == 4000
    assert run_budget(cfg, (4.0, 4.0)) == cfg.max_iters * cfg.budget_growth == 6000   # from scratch: as before
    assert run_budget(cfg.from_prior(), (2.0, 2.0)) == cfg.prior_iters


def test_priors_ship_in_the_wheel_and_load_from_a_plain_install(tmp_path):
    """Build the wheel, unpack it (a non-editable install), load a prior from there."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(REPO)], check=True)
    wheel = next(tmp_path.glob("napari_zssr-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "napari_zssr/engine/priors/lateral_1ch.safetensors" in names
        assert "napari_zssr/engine/priors/axial_1ch.safetensors" in names
        z.extractall(site)
    code = ("import napari_zssr.engine.prior as p; "
            f"assert str(p.PRIOR_DIR).startswith({str(site)!r}), p.PRIOR_DIR; "
            "net, _ = p.prior_network(1, (2.0, 2.0), None); "
            "print(p.load_prior_into(net, p.PRIOR_DIR / 'lateral_1ch.safetensors')['card']['family'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": ""},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "lateral"


def test_cli_init_flag_records_the_start_and_prints_the_fallback_notice(tmp_path, capsys):
    """`zssr --init random` is recorded; a joint 2-channel run has no prior and says so in one line."""
    import tifffile

    from napari_zssr.cli import main
    fast = ["--max-iters", "6", "--no-ensemble", "--device", "cpu", "-q", "--num-threads", "1"]
    img = (_img(c=2) * 1000).astype(np.uint16)
    src = tmp_path / "two.tif"
    tifffile.imwrite(src, img, imagej=True, metadata={"axes": "CYX"})

    out = tmp_path / "joint.tif"
    assert main([str(src), "-o", str(out), "--channels", "joint", "--init", "prior", *fast]) == 0
    err = capsys.readouterr().err
    notice = [ln for ln in err.splitlines() if "no learned prior" in ln]
    assert len(notice) == 1 and "2-channel" in notice[0]

    out2 = tmp_path / "random.tif"
    assert main([str(src), "-o", str(out2), "--init", "random", *fast]) == 0
    with tifffile.TiffFile(out2) as tf:
        desc = tf.pages[0].description + (tf.imagej_metadata or {}).get("Info", "")
    assert '"init": "random"' in desc and '"started_from": ["random", "random"]' in desc
    assert "no learned prior" not in capsys.readouterr().err
