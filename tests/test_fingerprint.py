"""Issue 28, item 1: a resumable output is tied to the content of its input, not to its name.

Two same-shape, same-dtype volumes (two arrays / layers, two files, a file replaced by another):
the second never resumes the first's store; the refusal is one line and the store is untouched.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from napari_zssr.cli import main
from napari_zssr.engine.config import ZSSRConfig
from napari_zssr.io import write_image
from napari_zssr.io.ome_zarr import read_ome_zarr
from _chunked_run import chunked_run

from napari_zssr.nd.chunked import input_fingerprint

CFG = ZSSRConfig.from_preset("fast", max_iters=16, n_steps=1, crop_size=24, test_every=8, num_threads=1,
                             device="cpu", precision="fp32", seed=3)
FAST = ["--preset", "fast", "--max-iters", "16", "--steps", "1", "--seed", "3", "-q", "--num-threads", "1"]


def _vol(seed, shape=(4, 24, 26)):
    x = np.random.default_rng(seed).random(shape)
    for ax in (-2, -1):
        x = (x + np.roll(x, 1, ax) + np.roll(x, -1, ax)) / 3
    return (x * 2000 + 100).astype(np.uint16)


def _tree_hash(path):
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode() + f.read_bytes())
    return h.hexdigest()


def _full(a):
    import dask.array as da
    return da.from_array(a[None, :, None], chunks=(1, 1, 1) + a.shape[1:])


def test_input_fingerprint_is_content_not_name():
    a, b = _vol(0), _vol(1)
    fa = input_fingerprint(_full(a))
    assert fa == input_fingerprint(_full(a.copy()))                       # deterministic
    assert fa["sha256"] != input_fingerprint(_full(b))["sha256"]          # same shape/dtype, other data
    edited = a.copy()
    edited[-1, 12, 13] += 1                                                # one voxel of a sampled plane
    assert fa["sha256"] != input_fingerprint(_full(edited))["sha256"]
    assert fa["sha256"] != input_fingerprint(_full(a), pixel_sizes={"z": 2.0})["sha256"]
    assert fa["sha256"] != input_fingerprint(_full(a.astype(np.int32)))["sha256"]
    assert input_fingerprint(_full(a), "x.tif")["path"].endswith("x.tif")
    # numpy (no dask) and degenerate sizes work too
    assert input_fingerprint(a[None, :, None])["sha256"] == fa["sha256"]
    assert input_fingerprint(np.zeros((1, 1, 1, 1, 1), np.uint8))["shape"] == [1, 1, 1, 1, 1]


def test_chunked_store_of_one_array_refuses_another_of_the_same_shape(tmp_path):
    a, b = _vol(0), _vol(1)
    out = tmp_path / "out.zarr"
    first = chunked_run(a, out, axes="ZYX", scale=2, config=CFG, train_planes=2, source_name="volume_a")
    assert first.computed == 4
    before = _tree_hash(out)
    with pytest.raises(ValueError) as err:
        chunked_run(b, out, axes="ZYX", scale=2, config=CFG, train_planes=2, source_name="volume_b")
    msg = str(err.value)
    assert "this store was made from another input" in msg and "volume_a" in msg and "\n" not in msg
    assert _tree_hash(out) == before                                      # untouched
    again = chunked_run(a, out, axes="ZYX", scale=2, config=CFG, train_planes=2)   # the same: resumes
    assert (again.computed, again.skipped) == (0, 4)
    # other settings on the same input: still refused, and said so
    with pytest.raises(ValueError, match="same input with other settings"):
        chunked_run(a, out, axes="ZYX", scale=3, config=CFG, train_planes=2)
    # overwrite replaces it with b's result
    chunked_run(b, out, axes="ZYX", scale=2, config=CFG, train_planes=2, overwrite=True)
    rec = json.loads((out / "zarr.json").read_text())["attributes"]["zssr_run"]
    assert rec["input"]["sha256"] == input_fingerprint(_full(b))["sha256"] and rec["complete"]


def _err(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zssr: error: "), lines
    return lines[0]


def test_cli_two_same_shape_files_and_a_replaced_file(tmp_path, capsys):
    pa, pb = tmp_path / "a.tif", tmp_path / "b.tif"
    write_image(pa, _vol(0), "ZYX", pixel_sizes={"z": 1.0, "y": 0.5, "x": 0.5})
    write_image(pb, _vol(1), "ZYX", pixel_sizes={"z": 1.0, "y": 0.5, "x": 0.5})
    out = tmp_path / "out.zarr"
    assert main([str(pa), "-o", str(out), "--scale", "2", *FAST]) == 0
    result = read_ome_zarr(out).data.compute()
    before = _tree_hash(out)
    capsys.readouterr()
    assert main([str(pb), "-o", str(out), "--scale", "2", *FAST]) == 2
    line = _err(capsys)
    assert "this store was made from another input" in line and str(pa) in line
    # the same path, other content (a.tif replaced by b's data): refused too
    write_image(pa, _vol(1), "ZYX", pixel_sizes={"z": 1.0, "y": 0.5, "x": 0.5}, overwrite=True)
    assert main([str(pa), "-o", str(out), "--scale", "2", *FAST]) == 2
    assert "another input" in _err(capsys)
    assert _tree_hash(out) == before
    np.testing.assert_array_equal(read_ome_zarr(out).data.compute(), result)
