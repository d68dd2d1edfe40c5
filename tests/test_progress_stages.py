"""Issue 28, item 3: every stage of a run shows itself (reading, the profile estimate, the noise model,
training, the held-out check, inference, writing), in the order the run goes, with a fraction that
never goes back, so nothing long runs without a visible update."""
from __future__ import annotations

import time

import numpy as np

import napari_zssr.runs.file as runfile
from napari_zssr.cli import main
from napari_zssr.engine.config import ZSSRConfig
from napari_zssr.io import write_image
from napari_zssr.nd import super_resolve_nd
from _chunked_run import chunked_run

CFG = ZSSRConfig.from_preset("fast", max_iters=6, n_steps=1, crop_size=16, back_projection_iters=1, ensemble=False,
                             num_threads=1, device="cpu", test_every=3)


def _vol(shape=(8, 24, 26), seed=0):
    x = np.random.default_rng(seed).random(shape)
    for ax in (-2, -1):
        x = (x + np.roll(x, 1, ax) + np.roll(x, -1, ax)) / 3
    return (x * 2000 + 100).astype(np.uint16)


def _stages(events):
    out = []
    for _, ev in events:
        s = ev.stage.split()[0]
        if not out or out[-1] != s:
            out.append(s)
    return out


def test_in_memory_axial_run_reports_each_stage_in_order():
    events = []
    t0 = time.monotonic()
    super_resolve_nd(_vol(), "ZYX", mode="axial", scale=2.0, config=CFG,
                     progress=lambda ev: events.append((time.monotonic() - t0, ev)))
    stages = _stages(events)
    assert stages[0] == "prepare" and stages[-1] == "done", stages
    for a, b in [("prepare", "profile"), ("profile", "noise"), ("noise", "train"), ("train", "check"),
                 ("check", "infer"), ("infer", "done")]:
        assert stages.index(a) < stages.index(b), stages
    assert events[0][0] < 5.0
    gaps = np.diff([0.0] + [t for t, _ in events])
    assert gaps.max() < 5.0, gaps.max()
    fractions = [ev.fraction for _, ev in events]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0


def test_cli_shows_a_slow_read_and_the_writing(tmp_path, monkeypatch, capsys):
    src = tmp_path / "s.tif"
    write_image(src, _vol((24, 26)), "YX")
    real_read = runfile.read_image

    def slow_read(path):                 # a big file: seconds before any other progress
        time.sleep(1.6)
        return real_read(path)
    monkeypatch.setattr(runfile, "read_image", slow_read)
    assert main([str(src), "-o", str(tmp_path / "o.tif"), "--scale", "2", "--preset", "fast", "--max-iters", "6",
                 "--steps", "1", "--num-threads", "1"]) == 0
    err = capsys.readouterr().err
    assert "reading" in err and str(src) in err
    assert "writing" in err and "prepare" in err and "infer" in err
    # a quick read prints no stage: a bad input's error stays the only line
    monkeypatch.setattr(runfile, "read_image", real_read)
    assert main([str(tmp_path / "missing.tif"), "-o", str(tmp_path / "o2.tif")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zssr: error: ")


def test_chunked_run_reports_its_stages_before_the_blocks(tmp_path):
    events = []
    chunked_run(_vol((6, 24, 26)), tmp_path / "o.zarr", axes="ZYX", mode="axial", scale=2.0, config=CFG,
                   train_planes=3, progress=lambda ev: events.append((0.0, ev)))
    stages = _stages(events)
    for a, b in [("profile", "fingerprint"), ("fingerprint", "read"), ("read", "train"), ("train", "cluster"),
                 ("cluster", "blocks"), ("blocks", "done")]:
        assert stages.index(a) < stages.index(b), stages
