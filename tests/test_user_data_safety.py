"""What a user owns is never overwritten, and what they see survives a run (issue 14, items 5-7),
through `zssr`, `zssr batch`, the io writer and the reader.

- an output that is the input (same path, a symlink or hard link, another spelling) is refused
  with one line and exit 2, also with --overwrite;
- an empty or constant channel is upscaled as it is, with a notice, and never fails the others;
- channel names and colours, pixel sizes and units, and the time increment survive.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_zssr.cli import main
from napari_zssr.io import ImageMeta, OutputPathError, atomic_file, read_image, same_file, write_image

FAST = ["--max-iters", "6", "--no-ensemble", "--device", "cpu", "--seed", "0"]
LOCAL = ["--in-process", "--workers", "1", "--threads-per-worker", "1"]
NAMES = ("AF647", "AF568", "AF488", "DAPI")
COLORS = ("#ff00ff", "#ffff00", "#00ff00", "#0000ff")


def _pattern(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[-2], : shape[-1]]
    base = 800 + 600 * np.sin(x / 2.5 + seed) * np.cos(y / 3.0)
    return (base + rng.normal(0, 20, shape)).astype(np.uint16)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("zssr"), err
    assert "Traceback" not in err
    return lines[0]


# --- never onto an input ---------------------------------------------------------------------------

@pytest.fixture
def raw(tmp_path):
    path = tmp_path / "cells.tif"
    write_image(path, _pattern((16, 16)), "YX", {"y": 0.2, "x": 0.2})
    return path


def _ways_to_name(raw: Path) -> dict:
    d = raw.parent
    (d / "sub").mkdir()
    os.symlink(raw, d / "link.tif")
    os.link(raw, d / "hard.tif")
    return {"same path": raw, "symlink": d / "link.tif", "hard link": d / "hard.tif",
            "other spelling": d / "sub" / ".." / raw.name}


def test_zssr_never_writes_onto_its_input(raw, capsys):
    before = raw.read_bytes()
    for how, out in _ways_to_name(raw).items():
        assert main([str(raw), "-o", str(out), "--overwrite", *FAST, "-q"]) == 2, how
        assert "input" in _one_error_line(capsys), how
        assert raw.read_bytes() == before, how
    assert os.path.islink(raw.parent / "link.tif")       # not replaced by a file either


def test_writer_and_atomic_file_refuse_an_input(raw):
    before = raw.read_bytes()
    for how, out in _ways_to_name(raw).items():
        assert same_file(out, raw), how
        with pytest.raises(OutputPathError, match="input"):
            write_image(out, np.zeros((4, 4), np.uint16), "YX", overwrite=True, inputs=[raw])
        with pytest.raises(OutputPathError):
            with atomic_file(Path(out), overwrite=True, inputs=[raw]) as fh:
                fh.write(b"x")
    assert raw.read_bytes() == before
    assert not same_file(raw.parent / "other.tif", raw)
    write_image(raw.parent / "other.tif", np.zeros((4, 4), np.uint16), "YX", inputs=[raw])   # fine


def test_batch_never_writes_onto_an_input(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    write_image(src / "img.tif", _pattern((16, 16)), "YX")
    os.symlink(src / "img.tif", out / "img_zssr.tif")    # where batch would write img.tif's result
    before = (src / "img.tif").read_bytes()
    assert main(["batch", str(src / "img.tif"), "-o", str(out), "--overwrite", *FAST, *LOCAL, "-q"]) == 2
    assert "input" in _one_error_line(capsys)
    assert (src / "img.tif").read_bytes() == before and os.path.islink(out / "img_zssr.tif")
    # an input that is itself another input's output name
    write_image(src / "b.tif", _pattern((16, 16), 1), "YX")
    write_image(src / "b_zssr.tif", _pattern((16, 16), 2), "YX")
    assert main(["batch", str(src / "b.tif"), str(src / "b_zssr.tif"), "-o", str(src), "--overwrite",
                 *FAST, *LOCAL, "-q"]) == 2
    assert "input" in _one_error_line(capsys)


# --- empty / constant channels -----------------------------------------------------------------------

@pytest.fixture
def half_empty(tmp_path):
    path = tmp_path / "two.tif"
    data = np.stack([_pattern((16, 16)), np.zeros((16, 16), np.uint16)])
    write_image(path, data, "CYX", {"y": 0.2, "x": 0.2})
    return path


def test_zssr_empty_channel_is_upscaled_as_is(half_empty, tmp_path, capsys):
    out = tmp_path / "out.tif"
    assert main([str(half_empty), "-o", str(out), *FAST, "-q"]) == 0
    err = capsys.readouterr().err
    assert "channel 1 is constant" in err and len(err.strip().splitlines()) == 1    # one line, even with -q
    img = read_image(out)
    assert img.data.shape == (2, 32, 32) and img.data.dtype == np.uint16
    assert np.all(img.data[1] == 0) and img.data[0].std() > 0
    assert img.description_params["notices"] == [err.strip().removeprefix("zssr: ")]


def test_zssr_wholly_constant_image_keeps_its_error(tmp_path, capsys):
    path = tmp_path / "flat.tif"
    write_image(path, np.full((16, 16), 7, np.uint16), "YX")
    assert main([str(path), "-o", str(tmp_path / "o.tif"), *FAST, "-q"]) == 2
    assert "constant" in _one_error_line(capsys)


def test_batch_empty_channel_does_not_fail_the_file(half_empty, tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["batch", str(half_empty), "-o", str(out), *FAST, *LOCAL]) == 0
    assert "channel 1 is constant" in capsys.readouterr().err
    img = read_image(out / "two_zssr.tif")
    assert img.data.shape == (2, 32, 32) and np.all(img.data[1] == 0) and img.data[0].std() > 0


# --- metadata a user sees -----------------------------------------------------------------------------

def _ome_input(path: Path) -> Path:
    data = np.stack([_pattern((16, 16), s) for s in range(4)])
    meta = ImageMeta(channel_names=NAMES, channel_colors=COLORS)
    write_image(path, data, "CYX", {"y": 0.25, "x": 0.25}, unit="um", meta=meta)
    return path


def _ome_time_input(path: Path) -> Path:
    data = np.stack([_pattern((2, 16, 16), s) for s in range(3)])     # T, C, Y, X
    tifffile.imwrite(path, data, ome=True, metadata={
        "axes": "TCYX", "Channel": {"Name": ["GFP", "DAPI"]}, "TimeIncrement": 30.0, "TimeIncrementUnit": "s",
        "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "PhysicalSizeXUnit": "µm", "PhysicalSizeYUnit": "µm"})
    return path


@pytest.mark.parametrize("flavour", ["ome", "imagej", "tiff"])
def test_io_round_trip_keeps_names_colours_and_time(tmp_path, flavour):
    data = np.stack([_pattern((2, 8, 8), s) for s in range(3)])
    meta = ImageMeta(channel_names=("GFP", "DAPI"), channel_colors=("#00ff00", "#0000ff"),
                     time_increment=2.5, time_unit="s")
    path = write_image(tmp_path / f"a.{flavour}.tif", data, "TCYX", {"y": 0.3, "x": 0.3}, flavour=flavour, meta=meta)
    img = read_image(path)
    assert img.axes == "TCYX" and img.flavour == flavour
    assert img.channel_names == ("GFP", "DAPI")
    assert img.channel_colors == ("#00ff00", "#0000ff")
    assert img.time_increment == pytest.approx(2.5) and img.time_unit in ("s", "sec")
    assert img.pixel_sizes == pytest.approx({"y": 0.3, "x": 0.3}) and img.unit == "um"


def test_io_reads_names_written_by_tifffile_imagej(tmp_path):
    path = tmp_path / "ij.tif"
    lut = np.zeros((3, 256), np.uint8)
    lut[0] = np.arange(256)
    tifffile.imwrite(path, np.zeros((2, 3, 8, 8), np.uint16), imagej=True,
                     metadata={"axes": "ZCYX", "Labels": ["a", "b", "c"] * 2, "LUTs": [lut] * 3})
    img = read_image(path)
    assert img.channel_names == ("a", "b", "c") and img.channel_colors == ("#ff0000",) * 3


@pytest.mark.parametrize("suffix", [".ome.tif", ".tif"])
def test_zssr_keeps_channel_names_and_colours(tmp_path, suffix):
    src = _ome_input(tmp_path / "cells.ome.tif")
    out = tmp_path / f"out{suffix}"
    assert main([str(src), "-o", str(out), *FAST, "-q"]) == 0
    img = read_image(out)
    assert img.data.shape == (4, 32, 32)
    assert img.channel_names == NAMES and img.channel_colors == COLORS
    assert img.pixel_sizes == pytest.approx({"y": 0.125, "x": 0.125}) and img.unit == "um"


def test_zssr_keeps_the_time_increment(tmp_path):
    src = _ome_time_input(tmp_path / "movie.ome.tif")
    out = tmp_path / "movie_x2.tif"
    assert main([str(src), "-o", str(out), *FAST, "-q"]) == 0
    img = read_image(out)
    assert img.axes == "TCYX" and img.data.shape == (3, 2, 32, 32)
    assert img.channel_names == ("GFP", "DAPI")
    assert img.time_increment == pytest.approx(30.0) and img.time_unit == "s"


def test_batch_keeps_channel_names_and_colours(tmp_path):
    src = _ome_input(tmp_path / "cells.ome.tif")
    out = tmp_path / "res"
    assert main(["batch", str(src), "-o", str(out), *FAST, *LOCAL, "-q"]) == 0
    img = read_image(out / "cells_zssr.ome.tif")         # an OME input gives an OME output
    assert img.data.shape == (4, 32, 32)
    assert img.channel_names == NAMES and img.channel_colors == COLORS
    assert img.pixel_sizes == pytest.approx({"y": 0.125, "x": 0.125})


def test_reader_names_and_colours_the_channel_layers(tmp_path):
    from napari_zssr.plugin.reader import read_tiff
    src = _ome_time_input(tmp_path / "movie.ome.tif")
    (data, kwargs, kind), = read_tiff(str(src))
    assert kwargs["name"] == ["movie.ome [GFP]", "movie.ome [DAPI]"]
    assert [m["channel_name"] for m in kwargs["metadata"]] == ["GFP", "DAPI"]
    t = kwargs["axis_labels"].index("t")
    assert kwargs["scale"][t] == pytest.approx(30.0) and kwargs["units"][t] == "s"
    (_, kw4, _), = read_tiff(str(_ome_input(tmp_path / "four.ome.tif")))
    assert [m["channel_color"] for m in kw4["metadata"]] == list(COLORS)
    assert [c.colors[-1][:3].tolist() for c in kw4["colormap"]] == [[1, 0, 1], [1, 1, 0], [0, 1, 0], [0, 0, 1]]
