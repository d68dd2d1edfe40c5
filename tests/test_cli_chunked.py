"""`zssr IN -o OUT.zarr`: the chunked path from the command line; bad input exits 2 with one line."""
import hashlib

import numpy as np
import pytest

from napari_zssr.cli import main
from napari_zssr.cli.chunked import wants_chunked
from napari_zssr.io import write_image
from napari_zssr.io.ome_zarr import read_ome_zarr, write_ome_zarr
from conftest import read_only_dirs

FAST = ["--preset", "fast", "--max-iters", "16", "--steps", "1", "--seed", "3", "-q"]


def _tree_hash(path):
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode() + f.read_bytes())
    return h.hexdigest()


@pytest.fixture
def volume(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.random((5, 24, 26)) * 2000 + 100).astype(np.uint16)
    return write_ome_zarr(tmp_path / "in.zarr", data, "ZYX", pixel_sizes={"z": 1.0, "y": 0.5, "x": 0.5})


def test_dispatch():
    assert wants_chunked(["a.tif", "-o", "b.zarr"]) and wants_chunked(["a.tif", "--output=b.zarr/"])
    assert not wants_chunked(["a.tif", "-o", "b.tif"]) and not wants_chunked(["batch", "a.tif", "-o", "x.zarr"])


def test_zarr_to_zarr_lateral(tmp_path, volume, capsys):
    before = _tree_hash(volume)
    assert main([str(volume), "-o", str(tmp_path / "out.zarr"), "--scale", "2", *FAST]) == 0
    out = read_ome_zarr(tmp_path / "out.zarr")
    assert out.data.shape == (5, 48, 52) and out.data.dtype == np.uint16     # keeps the input's bit depth
    assert out.pixel_sizes == pytest.approx({"z": 1.0, "y": 0.25, "x": 0.25})
    assert out.description_params["training_subset"]["of"] == 5
    assert _tree_hash(volume) == before
    # the same command again: everything verified and skipped, nothing rewritten
    assert main([str(volume), "-o", str(tmp_path / "out.zarr"), "--scale", "2", *FAST]) == 0
    np.testing.assert_array_equal(read_ome_zarr(tmp_path / "out.zarr").data.compute(), out.data.compute())


def test_tiff_to_zarr_axial(tmp_path):
    rng = np.random.default_rng(1)
    write_image(tmp_path / "s.tif", (rng.random((6, 20, 22)) * 1000).astype(np.uint16), "ZYX",
                pixel_sizes={"z": 1.0, "y": 0.5, "x": 0.5})
    assert main([str(tmp_path / "s.tif"), "-o", str(tmp_path / "iso.zarr"), "--axial", "--dtype", "float32",
                 *FAST]) == 0
    out = read_ome_zarr(tmp_path / "iso.zarr")
    assert out.data.shape == (12, 20, 22) and out.data.dtype == np.float32


def _err(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zssr: error: ")
    return lines[0]


def test_bad_input_exits_2_with_one_line(tmp_path, volume, capsys):
    before = _tree_hash(volume)
    assert main([str(volume), "-o", str(volume), *FAST]) == 2
    assert "must not be the input" in _err(capsys)
    assert main([str(volume), "-o", str(tmp_path / "out.tif"), *FAST]) == 2
    assert "*.zarr" in _err(capsys)
    assert main([str(tmp_path / "nothing.zarr"), "-o", str(tmp_path / "o.zarr"), *FAST]) == 2
    assert "no such file" in _err(capsys)
    import zarr
    plain = zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    plain.create_array("0", shape=(4, 4), dtype="u2")
    assert main([str(tmp_path / "plain.zarr"), "-o", str(tmp_path / "o.zarr"), *FAST]) == 2
    assert "not an OME-Zarr image" in _err(capsys)
    assert main([str(volume), "-o", str(tmp_path / "no" / "dir" / "o.zarr"), *FAST]) == 2
    assert "does not exist" in _err(capsys)
    assert main([str(volume), "-o", str(tmp_path / "o.zarr"), "--per-plane", *FAST]) == 2
    assert "one network per channel" in _err(capsys)
    # a corrupt chunk of the input: one line naming the input, no output left claiming success
    bad = write_ome_zarr(tmp_path / "bad.zarr", np.ones((4, 20, 20), np.uint16) * np.arange(20, dtype=np.uint16),
                         "ZYX", chunks=(1, 20, 20))
    for f in (bad / "0").rglob("*"):
        if f.is_file() and f.name != "zarr.json":
            f.write_bytes(b"not a chunk")
    assert main([str(bad), "-o", str(tmp_path / "b_out.zarr"), *FAST]) == 2
    assert "cannot read a chunk" in _err(capsys)
    assert _tree_hash(volume) == before


def test_read_only_output_folder_exits_2_before_any_work(tmp_path, volume, capsys, monkeypatch):
    import napari_zssr.nd.pipeline as pipeline    # both runners train through pipeline.train_checked

    def no_training(*a, **k):
        raise AssertionError("trained although the output cannot be written")
    monkeypatch.setattr(pipeline, "train", no_training)
    before = _tree_hash(volume)
    for folder in read_only_dirs(tmp_path):
        out = folder / "out.zarr"
        assert main([str(volume), "-o", str(out), "--scale", "2", *FAST]) == 2
        line = _err(capsys)
        assert "is not writable" in line and str(out) in line, line
        assert not out.exists()
    assert _tree_hash(volume) == before
