"""Save a run's networks and apply them without training: `--save-model` / `--model`, batch, Python API."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_zssr.cli import main
from napari_zssr.runs.summary import SUMMARY_NAME
from napari_zssr.engine.config import ZSSRConfig
from napari_zssr.io import read_image, write_image
from napari_zssr.nd import save_result_models, super_resolve_nd

FAST = ["--max-iters", "5", "--no-ensemble", "--seed", "0", "-q"]
LOCAL = ["--in-process", "--workers", "2", "--threads-per-worker", "1"]


def _img(seed: int, shape=(24, 24)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[-2], : shape[-1]]
    base = 1000 + 800 * np.sin(x / 3.0 + seed) * np.cos(y / 4.0) + rng.normal(0, 30, shape[-2:])
    if len(shape) == 2:
        return base.astype(np.uint16)
    return np.stack([base * (1 + 0.3 * c) for c in range(shape[0])]).astype(np.uint16)


@pytest.fixture
def files(tmp_path):
    write_image(tmp_path / "a.tif", _img(1), "YX", {"y": 0.2, "x": 0.2})
    write_image(tmp_path / "b.tif", _img(2), "YX", {"y": 0.2, "x": 0.2})
    write_image(tmp_path / "c2.tif", _img(3, (2, 24, 24)), "CYX", {"y": 0.2, "x": 0.2})
    write_image(tmp_path / "c3.tif", _img(4, (3, 24, 24)), "CYX", {"y": 0.2, "x": 0.2})
    return tmp_path


def _train_and_save(path: Path, axes: str, channels: str = "independent"):
    """A saved model made through the Python API (one torch thread: quick on a busy machine)."""
    img = read_image(path)
    cfg = ZSSRConfig(max_iters=5, prior_iters=5, ensemble=False, num_threads=1)
    res = super_resolve_nd(img.data, axes, scale=2, config=cfg, channels=channels, out_dtype="input")
    return res, save_result_models(res, path.with_suffix(f".{channels}.zssr"))


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_save_then_apply_gives_the_same_output(files):
    d = files
    assert main([str(d / "a.tif"), "-o", str(d / "trained.tif"), "--save-model", str(d / "a.zssr"), *FAST]) == 0
    assert (d / "a.zssr").is_file()
    assert main([str(d / "a.tif"), "-o", str(d / "applied.tif"), "--model", str(d / "a.zssr"), *FAST]) == 0
    trained, applied = read_image(d / "trained.tif"), read_image(d / "applied.tif")
    assert np.array_equal(trained.data, applied.data)
    assert applied.description_params["iterations"] == [0]            # nothing trained
    # a file with two channels: one network per channel, each applied to its channel
    assert main([str(d / "c2.tif"), "-o", str(d / "c2_t.tif"), "--save-model", str(d / "c2.zssr"), *FAST]) == 0
    assert main([str(d / "c2.tif"), "-o", str(d / "c2_a.tif"), "--model", str(d / "c2.zssr"), *FAST]) == 0
    assert np.array_equal(read_image(d / "c2_t.tif").data, read_image(d / "c2_a.tif").data)


def test_mismatched_model_refused_with_exit_2(files, capsys):
    d = files
    x2 = _train_and_save(d / "a.tif", "YX")[1]                                   # one network, x2
    c2 = _train_and_save(d / "c2.tif", "CYX")[1]                                 # one network per channel
    joint = _train_and_save(d / "c2.tif", "CYX", channels="joint")[1]             # one 2-channel network
    capsys.readouterr()
    cases = [
        (["--scale", "3", "--model", x2], "factors"),                            # another factor
        (["--model", c2], "network"),                                            # 2 networks, 3 channels
        (["--channels", "joint", "--model", joint], "channel"),                  # 2-channel net, 3 channels
        (["--axial", "2", "--model", x2], "lateral mode"),                       # another mode
        (["--model", d / "nothing.zssr"], "no such model file"),
    ]
    for extra, why in cases:
        extra = [str(e) for e in extra]
        out = d / "refused.tif"
        assert main([str(d / "c3.tif"), "-o", str(out), *FAST, *extra]) == 2, extra
        line = _one_error_line(capsys)
        assert line.startswith("zssr: error:") and why in line, (extra, line)
        assert not out.exists()
    # a saved file that is not a model at all
    (d / "junk.zssr").write_bytes(b"not a model")
    assert main([str(d / "a.tif"), "-o", str(d / "junk.tif"), "--model", str(d / "junk.zssr"), *FAST]) == 2
    assert "not a napari-zssr model" in _one_error_line(capsys)


def test_save_model_usage_errors(files, capsys):
    d = files
    (d / "exists.zssr").write_bytes(b"x")
    for extra, why in (
        (["--save-model", str(d / "exists.zssr")], "exists"),
        (["--save-model", str(d / "nowhere" / "m.zssr")], "does not exist"),
        (["--save-model", str(d / "m.zssr"), "--per-plane"], "one shared network"),
    ):
        assert main([str(d / "a.tif"), "-o", str(d / "o.tif"), *FAST, *extra]) == 2
        assert why in _one_error_line(capsys)
        assert not (d / "o.tif").exists()


def test_batch_applies_a_saved_model_to_every_file(files):
    d, out = files, files / "out"
    a_trained, a_model = _train_and_save(d / "a.tif", "YX")
    assert main(["batch", str(d / "a.tif"), str(d / "b.tif"), str(d / "c2.tif"), "-o", str(out),
                 "--model", str(a_model), *FAST, *LOCAL]) == 0
    summary = {Path(f["input"]).name: f for f in json.loads((out / SUMMARY_NAME).read_text())["files"]}
    assert {k: v["status"] for k, v in summary.items()} == {"a.tif": "done", "b.tif": "done", "c2.tif": "done"}
    assert summary["a.tif"]["rec_error"] is None                        # nothing trained, no rec error
    # the same network as the training run: its output again (inference only; same thread count or
    # not, at most a rounding step apart)
    a = read_image(out / "a_zssr.tif").data.astype(int)
    assert np.abs(a - a_trained.data.astype(int)).max() <= 1
    assert read_image(out / "c2_zssr.tif").data.shape == (2, 48, 48)
    assert read_image(out / "b_zssr.tif").description_params["iterations"] == [0]
    # a per-channel model in a batch: each channel task takes its channel's network
    c2_trained, c2_model = _train_and_save(d / "c2.tif", "CYX")
    out2 = d / "out2"
    assert main(["batch", str(d / "c2.tif"), "-o", str(out2), "--model", str(c2_model), *FAST, *LOCAL]) == 0
    c2 = read_image(out2 / "c2_zssr.tif").data.astype(int)
    assert np.abs(c2 - c2_trained.data.astype(int)).max() <= 1
    # ... and a file whose channel count does not fit fails alone (exit 1), with the reason
    out3 = d / "out3"
    assert main(["batch", str(d / "c2.tif"), str(d / "c3.tif"), "-o", str(out3), "--model", str(c2_model),
                 *FAST, *LOCAL]) == 1
    s3 = {Path(f["input"]).name: f for f in json.loads((out3 / SUMMARY_NAME).read_text())["files"]}
    assert s3["c2.tif"]["status"] == "done" and s3["c3.tif"]["status"] == "failed"
    assert "network" in s3["c3.tif"]["message"]


def test_python_api_model_path_and_objects(tmp_path):
    data = _img(5)
    cfg = ZSSRConfig(max_iters=5, prior_iters=5, ensemble=False, num_threads=1)
    first = super_resolve_nd(data, "YX", scale=2, config=cfg)
    path = save_result_models(first, tmp_path / "m.zssr")
    again = super_resolve_nd(data, "YX", scale=2, config=cfg, model=path)          # from the file
    assert np.array_equal(first.data, again.data)
    same = super_resolve_nd(data, "YX", scale=2, config=cfg, model=first.models)   # TrainedModel objects
    assert np.array_equal(first.data, same.data)
    with pytest.raises(FileExistsError):
        save_result_models(first, path)
    with pytest.raises(ValueError, match="factors"):
        super_resolve_nd(data, "YX", scale=3, config=cfg, model=path)
