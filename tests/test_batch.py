"""`zssr batch`: dask orchestration, resume by checksums, one bad file fails alone, Ctrl-C, usage errors.

Tiny 24x24 files and 5 training iterations: each batch takes seconds on two slow cores.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from napari_zssr.cli import main
from napari_zssr.runs.checksums import sha256_file
from napari_zssr.runs.inputs import expand_inputs, output_names
from napari_zssr.runs.manifest import MANIFEST_NAME
from napari_zssr.runs.summary import SUMMARY_NAME
from napari_zssr.io import read_image, write_image

FAST = ["--max-iters", "5", "--no-ensemble", "--seed", "0"]
LOCAL = ["--in-process", "--workers", "2", "--threads-per-worker", "1"]
ROOT = Path(__file__).resolve().parent.parent


def _img(seed: int, shape=(24, 24)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[-2], : shape[-1]]
    base = 1000 + 800 * np.sin(x / 3.0 + seed) * np.cos(y / 4.0) + rng.normal(0, 30, shape[-2:])
    return np.broadcast_to(base, shape).astype(np.uint16) if len(shape) == 2 else \
        np.stack([base * (1 + 0.3 * c) for c in range(shape[0])]).astype(np.uint16)


@pytest.fixture
def batch_dir(tmp_path):
    """in/: three 24x24 uint16 images and one 2-channel image; out/ does not exist yet."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        write_image(src / f"img{i}.tif", _img(i), "YX", {"y": 0.2, "x": 0.2})
    write_image(src / "two_ch.tif", _img(7, (2, 24, 24)), "CYX", {"y": 0.2, "x": 0.2})
    return tmp_path


def _summary(out: Path) -> dict:
    s = json.loads((out / SUMMARY_NAME).read_text())
    return {Path(f["input"]).name: f for f in s["files"]}


def _statuses(out: Path) -> dict:
    return {k: v["status"] for k, v in _summary(out).items()}


def test_batch_runs_and_resumes(batch_dir, capsys):
    src, out = batch_dir / "in", batch_dir / "out"
    t0 = time.perf_counter()
    assert main(["batch", str(src), "-o", str(out), *FAST, *LOCAL]) == 0
    first_s = time.perf_counter() - t0
    files = _summary(out)
    assert set(files) == {"img0.tif", "img1.tif", "img2.tif", "two_ch.tif"}
    assert all(f["status"] == "done" for f in files.values())
    for f in files.values():                     # the quality figure: rec error and gain over cubic
        assert f["rec_error"] > 0 and f["gain_db"] is not None and f["seconds"] > 0
    table = capsys.readouterr().out
    assert "gain dB" in table and "4 done of 4" in table

    one = read_image(out / "img0_zssr.tif")
    assert one.data.shape == (48, 48) and one.data.dtype == np.uint16
    assert one.pixel_sizes["x"] == pytest.approx(0.1)
    two = read_image(out / "two_ch_zssr.tif")
    assert two.axes == "CYX" and two.data.shape == (2, 48, 48)
    assert len(two.description_params["rec_error"]) == 2           # one network per channel

    manifest = json.loads((out / MANIFEST_NAME).read_text())["entries"]
    e = manifest[str((src / "img0.tif").resolve())]
    assert e["status"] == "done" and e["input_sha256"] == sha256_file(src / "img0.tif")
    assert e["output_sha256"] == sha256_file(out / "img0_zssr.tif")
    assert e["params"]["config"]["max_iters"] == 5 and e["params_sha256"]

    # rerun: everything skipped by checksum, nothing rewritten, no cluster started
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*_zssr.tif")}
    t0 = time.perf_counter()
    assert main(["batch", str(src), "-o", str(out), *FAST, *LOCAL, "-q"]) == 0
    assert time.perf_counter() - t0 < first_s
    assert set(_statuses(out).values()) == {"skipped"}
    assert mtimes == {p.name: p.stat().st_mtime_ns for p in out.glob("*_zssr.tif")}

    # an output lost, another marked failed (as after an interrupted run): only those two redone
    before = read_image(out / "img1_zssr.tif").data
    (out / "img1_zssr.tif").unlink()
    raw = json.loads((out / MANIFEST_NAME).read_text())
    raw["entries"][str((src / "img2.tif").resolve())]["status"] = "failed"
    (out / MANIFEST_NAME).write_text(json.dumps(raw))
    assert main(["batch", str(src), "-o", str(out), *FAST, *LOCAL, "-q"]) == 0
    assert _statuses(out) == {"img0.tif": "skipped", "img1.tif": "done", "img2.tif": "done",
                              "two_ch.tif": "skipped"}
    assert mtimes["img0_zssr.tif"] == (out / "img0_zssr.tif").stat().st_mtime_ns
    # same seed, same settings: the redone output is the same image
    assert np.array_equal(read_image(out / "img1_zssr.tif").data, before)

    # a changed input and an output changed by hand are redone
    write_image(src / "img0.tif", _img(11), "YX", {"y": 0.2, "x": 0.2}, overwrite=True)
    with open(out / "two_ch_zssr.tif", "ab") as fh:
        fh.write(b"\0")
    assert main(["batch", str(src), "-o", str(out), *FAST, *LOCAL, "-q"]) == 0
    assert _statuses(out) == {"img0.tif": "done", "img1.tif": "skipped", "img2.tif": "skipped",
                              "two_ch.tif": "done"}

    # other parameters: everything redone
    assert main(["batch", str(src), "-o", str(out), "--max-iters", "6", "--no-ensemble", *LOCAL, "-q"]) == 0
    assert set(_statuses(out).values()) == {"done"}


def test_bad_files_fail_alone(batch_dir, capsys):
    src, out = batch_dir / "in", batch_dir / "out"
    (src / "img1.tif").unlink()
    (src / "two_ch.tif").unlink()
    (src / "corrupt.tif").write_bytes(b"II*\0" + b"\xff" * 60)             # TIFF magic, garbage after
    nan = np.full((24, 24), np.nan, dtype=np.float32)
    write_image(src / "nan.tif", nan, "YX")
    write_image(src / "tiny.tif", np.ones((3, 3), np.uint16), "YX")
    code = main(["batch", str(src), "-o", str(out), *FAST, *LOCAL])
    assert code == 1
    files = _summary(out)
    assert files["img0.tif"]["status"] == "done" and files["img2.tif"]["status"] == "done"
    for name, why in (("corrupt.tif", "cannot read"), ("nan.tif", "NaN"), ("tiny.tif", "small")):
        f = files[name]
        assert f["status"] == "failed", name
        assert why in f["message"] and "\n" not in f["message"] and str(src / name) in f["message"]
    err = capsys.readouterr().err
    assert "failed:" in err and "Traceback" not in err
    assert not (out / "corrupt_zssr.tif").exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["img0_zssr.tif", "img2_zssr.tif", MANIFEST_NAME, SUMMARY_NAME])   # no temp files left


def test_two_channel_batch_matches_single_command(batch_dir):
    """Channels run as separate tasks; the assembled file equals what `zssr` computes for the file."""
    from napari_zssr.runs import file as _run
    from napari_zssr.cli.options import config_from_args
    from napari_zssr.cli.single import build_parser

    src, out = batch_dir / "in", batch_dir / "out"
    assert main(["batch", str(src / "two_ch.tif"), "-o", str(out), *FAST, *LOCAL, "-q"]) == 0
    # the single command's own steps, with the batch task's thread count (1): sums in the same order
    args = build_parser().parse_args([str(src / "two_ch.tif"), "-o", str(batch_dir / "single.tif"), *FAST])
    config, spec = config_from_args(args)
    prep = _run.prepare(args.input, args.output, spec)
    single = _run.run(prep, config.replace(num_threads=1))
    a = read_image(out / "two_ch_zssr.tif")
    assert a.axes == single.axes == "CYX" and np.array_equal(a.data, single.data)
    assert a.description_params["rec_error"] == pytest.approx(single.params["rec_error"])
    assert a.description_params["normalisation"] == single.params["normalisation"]
    assert a.description_params["cli"]["command"] == "zssr batch"


def test_worker_processes(batch_dir):
    """A LocalCluster with two worker processes (the default kind)."""
    src, out = batch_dir / "in", batch_dir / "out"
    code = main(["batch", str(src / "img0.tif"), str(src / "two_ch.tif"), "-o", str(out), *FAST,
                 "--workers", "2", "--threads-per-worker", "1", "-q"])
    assert code == 0
    assert set(_statuses(out).values()) == {"done"}
    assert read_image(out / "two_ch_zssr.tif").data.shape == (2, 48, 48)


def test_existing_output_needs_overwrite(batch_dir):
    src, out = batch_dir / "in", batch_dir / "out"
    out.mkdir()
    (out / "img0_zssr.tif").write_bytes(b"someone else's file")
    assert main(["batch", str(src / "img0.tif"), str(src / "img1.tif"), "-o", str(out), *FAST, *LOCAL, "-q"]) == 1
    files = _summary(out)
    assert files["img0.tif"]["status"] == "failed" and "--overwrite" in files["img0.tif"]["message"]
    assert files["img1.tif"]["status"] == "done"
    assert (out / "img0_zssr.tif").read_bytes() == b"someone else's file"
    assert main(["batch", str(src / "img0.tif"), str(src / "img1.tif"), "-o", str(out), *FAST, *LOCAL,
                 "-q", "--overwrite"]) == 0
    assert _statuses(out) == {"img0.tif": "done", "img1.tif": "skipped"}


@pytest.mark.parametrize("extra, message", [
    (["--save-model", "m.zssr"], "--save-model"),
    (["--model", "missing.zssr"], "no such model file"),
    (["--scale", "0.5"], "factor"),
    (["--workers", "0"], "at least 1"),
    (["--scheduler", "tcp://127.0.0.1:1"], "local cluster"),          # with LOCAL's --workers etc.
])
def test_usage_errors_exit_2(batch_dir, capsys, extra, message):
    src, out = batch_dir / "in", batch_dir / "out"
    assert main(["batch", str(src), "-o", str(out), *FAST, *LOCAL, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("zssr batch: error:") and message in err[0]


def test_inputs_and_out_dir_errors(batch_dir, capsys):
    src, out = batch_dir / "in", batch_dir / "out"
    assert main(["batch", str(src / "nothing*.tif"), "-o", str(out), *FAST]) == 2
    assert "matches no" in capsys.readouterr().err
    assert main(["batch", str(src / "missing.tif"), "-o", str(out), *FAST]) == 2
    (batch_dir / "afile").write_text("x")
    assert main(["batch", str(src), "-o", str(batch_dir / "afile"), *FAST]) == 2
    assert "not a folder" in capsys.readouterr().err
    out.mkdir()
    (out / ".zssr-batch.lock").write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    assert main(["batch", str(src), "-o", str(out), *FAST]) == 2
    assert "another zssr batch" in capsys.readouterr().err


def test_expand_inputs_and_names(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "x.tif").write_bytes(b"")
    (tmp_path / "a" / "y.PNG").write_bytes(b"")
    (tmp_path / "a" / "notes.txt").write_text("")
    (tmp_path / "a" / "y_zssr.tif").write_bytes(b"")                # an earlier output in OUT_DIR = a/
    found = expand_inputs([str(tmp_path / "a"), str(tmp_path / "*" / "x.tif")], tmp_path / "a")
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/x.tif", "a/y.PNG", "b/x.tif"]
    names = output_names(found, tmp_path / "out")
    assert sorted(p.name for p in names.values()) == ["a_x_zssr.tif", "b_x_zssr.tif", "y_zssr.tif"]


def test_ctrl_c_stops_cleanly_and_resume_finishes(batch_dir):
    """SIGINT: exit 130, running tasks cancelled, nothing half-written; a rerun resumes."""
    src, out = batch_dir / "in", batch_dir / "out"
    (src / "two_ch.tif").unlink()
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "napari_zssr.cli", "batch", str(src), "-o", str(out), "--max-iters", "100000",
           "--no-ensemble", *LOCAL]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    manifest = out / MANIFEST_NAME
    deadline = time.time() + 60
    while time.time() < deadline and not (manifest.exists() and "pending" in manifest.read_text()):
        time.sleep(0.2)
    time.sleep(1.0)                                                     # let the tasks start training
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert set(_statuses(out).values()) == {"cancelled"}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]     # no temp files, lock released
    assert main(["batch", str(src), "-o", str(out), *FAST, *LOCAL, "-q"]) == 0
    assert set(_statuses(out).values()) == {"done"}
