"""Round trips and failure modes of napari_zssr.io (no napari needed)."""

import html
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_zssr.io import ImageReadError, canonical_unit, guess_file_axes, read_image, write_image
import napari_zssr.io._write as io_write

PARAMS = {"scale": [1, 4.0], "kernel": "gaussian", "seed": 0, "note": "a=b\nc <&> µm"}
SIZES = {"z": 0.8, "y": 0.2, "x": 0.2}


def _rng_data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.random(shape).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)


def _assert_sizes(image, expected):
    assert image.pixel_sizes.keys() == expected.keys()
    for ax, value in expected.items():
        assert image.pixel_sizes[ax] == pytest.approx(value, rel=1e-6)


# --- ImageJ ------------------------------------------------------------------------

def test_imagej_hyperstack_tzcyx_uint16(tmp_path):
    data = _rng_data((2, 3, 2, 24, 20), np.uint16)
    path = write_image(tmp_path / "a.tif", data, "TZCYX", SIZES, params=PARAMS)
    image = read_image(path)
    assert image.flavour == "imagej"
    assert image.axes == "TZCYX"
    np.testing.assert_array_equal(image.data, data)
    assert image.data.dtype == np.uint16
    _assert_sizes(image, SIZES)
    assert image.unit == "um"
    assert image.description_params == PARAMS
    with tifffile.TiffFile(path) as tif:  # ImageJ itself must see a hyperstack
        assert tif.is_imagej
        assert tif.imagej_metadata["hyperstack"]


def test_imagej_czyx_float_is_stored_in_imagej_order(tmp_path):
    data = _rng_data((2, 5, 16, 18), np.float64)  # float64 is written as float32
    sizes = {"z": 1.5, "y": 0.1625, "x": 0.325}
    write_image(tmp_path / "b.tiff", data, "CZYX", sizes, unit="micron", params=PARAMS)
    image = read_image(tmp_path / "b.tiff")
    assert image.flavour == "imagej"
    assert image.axes == "ZCYX"  # ImageJ's TZCYX order
    assert image.data.dtype == np.float32
    np.testing.assert_array_equal(image.data, np.moveaxis(data, 0, 1).astype(np.float32))
    _assert_sizes(image, sizes)
    assert image.unit == "um"
    assert image.description_params == PARAMS


@pytest.mark.parametrize("unit", ["\\u00B5m", "micron", "um"])
def test_imagej_units_from_other_writers(tmp_path, unit):
    # ImageJ writes "micron" or a literal \u00B5m escape in the description
    path = tmp_path / "u.tif"
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint8), imagej=True, resolution=(10.0, 5.0),
                     metadata={"axes": "ZYX", "spacing": 0.5, "unit": unit})
    image = read_image(path)
    assert image.unit == "um"
    _assert_sizes(image, {"x": 0.1, "y": 0.2, "z": 0.5})


def test_imagej_nm_is_converted_to_um(tmp_path):
    path = write_image(tmp_path / "nm.tif", np.zeros((8, 8), np.uint8), "YX",
                       {"y": 65.0, "x": 65.0}, unit="nm")
    image = read_image(path)
    assert image.unit == "um"
    _assert_sizes(image, {"y": 0.065, "x": 0.065})


def test_uncalibrated_imagej_has_no_pixel_sizes(tmp_path):
    # an ImageJ stack with images=N and no slices/frames: tifffile calls that axis "I"
    path = tmp_path / "plain_ij.tif"
    tifffile.imwrite(path, np.zeros((4, 8, 8), np.uint16), shaped=False, photometric="minisblack",
                     description="ImageJ=1.54f\nimages=4\nloop=false\n")
    image = read_image(path)
    assert image.flavour == "imagej"
    assert image.pixel_sizes == {}
    assert image.unit == "pixel"
    assert image.axes == "ZYX"  # ImageJ opens such a stack as slices


def test_tif_falls_back_to_plain_tiff_when_imagej_cannot_hold_it(tmp_path):
    data = _rng_data((3, 8, 9), np.int32)
    write_image(tmp_path / "i32.tif", data, "TYX", {"y": 0.5, "x": 0.5}, params=PARAMS)
    image = read_image(tmp_path / "i32.tif")
    assert image.flavour == "tiff"
    assert image.axes == "TYX"
    np.testing.assert_array_equal(image.data, data)
    _assert_sizes(image, {"y": 0.5, "x": 0.5})
    assert image.description_params == PARAMS
    with pytest.raises(ValueError, match="ImageJ holds"):
        write_image(tmp_path / "i32b.tif", data, "TYX", flavour="imagej")


# --- OME ---------------------------------------------------------------------------

@pytest.mark.parametrize("axes,shape,dtype", [("ZYX", (6, 16, 12), np.uint16),
                                              ("CZYX", (3, 4, 10, 12), np.float32)])
def test_ome_round_trip(tmp_path, axes, shape, dtype):
    data = _rng_data(shape, dtype)
    path = write_image(tmp_path / "x.ome.tif", data, axes, SIZES, params=PARAMS)
    image = read_image(path)
    assert image.flavour == "ome"
    assert image.axes == axes  # OME keeps any TZC order
    np.testing.assert_array_equal(image.data, data)
    _assert_sizes(image, SIZES)
    assert image.unit == "um"
    assert image.description_params == PARAMS


def test_ome_units_are_converted_to_um(tmp_path):
    path = tmp_path / "nm.ome.tif"
    tifffile.imwrite(path, np.zeros((2, 8, 8), np.uint8), ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeX": 100, "PhysicalSizeXUnit": "nm",
        "PhysicalSizeY": 100, "PhysicalSizeYUnit": "nm",
        "PhysicalSizeZ": 0.001, "PhysicalSizeZUnit": "mm"})
    image = read_image(path)
    assert image.unit == "um"
    _assert_sizes(image, {"x": 0.1, "y": 0.1, "z": 1.0})
    assert image.description_params is None


# --- plain TIFF and PNG -------------------------------------------------------------

def test_plain_2d_tiff_uint8(tmp_path):
    data = _rng_data((20, 30), np.uint8)
    tifffile.imwrite(tmp_path / "plain.tif", data)  # another program's file, no axes
    image = read_image(tmp_path / "plain.tif")
    assert (image.axes, image.flavour, image.pixel_sizes, image.description_params) == (
        "YX", "tiff", {}, None)
    np.testing.assert_array_equal(image.data, data)


def test_plain_multipage_tiff_is_a_z_stack(tmp_path):
    with tifffile.TiffWriter(tmp_path / "pages.tif") as tif:
        for i in range(3):
            tif.write(np.full((8, 8), i, np.uint16), photometric="minisblack", metadata=None)
    image = read_image(tmp_path / "pages.tif")
    assert image.axes == "ZYX"
    assert image.data[:, 0, 0].tolist() == [0, 1, 2]


def test_planar_rgb_tiff_gets_samples_last(tmp_path):
    data = _rng_data((3, 10, 12), np.uint8)
    tifffile.imwrite(tmp_path / "planar.tif", data, photometric="rgb", planarconfig="separate")
    image = read_image(tmp_path / "planar.tif")
    assert image.axes == "YXS"
    np.testing.assert_array_equal(image.data, np.moveaxis(data, 0, -1))


def test_png_rgb_uint8(tmp_path):
    data = _rng_data((12, 17, 3), np.uint8)
    write_image(tmp_path / "rgb.png", data, "YXS", params=PARAMS)
    image = read_image(tmp_path / "rgb.png")
    assert (image.axes, image.flavour) == ("YXS", "png")
    np.testing.assert_array_equal(image.data, data)
    assert image.description_params == PARAMS


def test_png_gray_uint16(tmp_path):
    data = _rng_data((12, 17), np.uint16)
    write_image(tmp_path / "g16.png", data, "YX")
    image = read_image(tmp_path / "g16.png")
    assert image.axes == "YX"
    assert image.data.dtype == np.uint16
    np.testing.assert_array_equal(image.data, data)


@pytest.mark.parametrize("data,axes", [(np.zeros((4, 8, 8), np.uint8), "ZYX"),
                                       (np.zeros((8, 8, 3), np.uint16), "YXS"),
                                       (np.zeros((8, 8), np.float32), "YX")])
def test_png_refuses_what_it_cannot_hold(tmp_path, data, axes):
    with pytest.raises(ValueError, match="PNG"):
        write_image(tmp_path / "bad.png", data, axes)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shape,dtype,axes", [
    ((8, 9), np.uint16, "YX"), ((8, 9, 3), np.uint8, "YXS"), ((8, 9, 3), np.float32, "ZYX"),
    ((5, 8, 9), np.uint16, "ZYX"), ((2, 5, 8, 9), np.uint16, "CZYX"),
    ((40, 5, 8, 9), np.uint16, "TZYX"), ((2, 3, 2, 8, 9), np.uint16, "TZCYX"),
    ((4, 8, 9, 4), np.uint8, "ZYXS")])
def test_guess_axes(shape, dtype, axes):
    assert guess_file_axes(shape, dtype) == axes


@pytest.mark.parametrize("raw", ["µm", "μm", "\\u00B5m", "\\u00b5m", "micron", "microns", "UM"])
def test_canonical_unit(raw):
    assert canonical_unit(raw) == "um"


# --- safety: overwrite, atomicity, bad input ----------------------------------------

def test_no_overwrite_without_permission(tmp_path):
    path = tmp_path / "x.tif"
    write_image(path, np.zeros((4, 4), np.uint8), "YX")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="x.tif"):
        write_image(path, np.ones((4, 4), np.uint8), "YX")
    assert path.read_bytes() == before
    write_image(path, np.ones((4, 4), np.uint8), "YX", overwrite=True)
    assert read_image(path).data.min() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tif"]


def test_unserialisable_params_write_nothing(tmp_path):
    with pytest.raises(ValueError, match="JSON"):
        write_image(tmp_path / "x.tif", np.zeros((4, 4), np.uint8), "YX", params={"f": object()})
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "x.tif"
    write_image(path, np.zeros((4, 4), np.uint8), "YX")
    before = path.read_bytes()

    def broken_imwrite(fh, *args, **kwargs):
        fh.write(b"II*\0half a file")
        raise OSError("disk full")

    monkeypatch.setattr(io_write.tifffile, "imwrite", broken_imwrite)
    with pytest.raises(OSError, match="disk full"):
        write_image(path, np.ones((4, 4), np.uint8), "YX", overwrite=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tif"]


def test_written_file_has_normal_permissions(tmp_path):
    path = write_image(tmp_path / "x.tif", np.zeros((4, 4), np.uint8), "YX")
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_corrupt_file(tmp_path):
    path = tmp_path / "x.tif"
    path.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(ImageReadError, match="x.tif.*not a TIFF"):
        read_image(path)


def test_truncated_tiff(tmp_path):
    path = tmp_path / "cut.tif"
    write_image(path, _rng_data((16, 64, 64), np.uint16), "ZYX")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageReadError, match="cut.tif: cannot read TIFF"):
        read_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="nope.tif: no such file"):
        read_image(tmp_path / "nope.tif")


def test_errors_are_one_line(tmp_path):
    path = tmp_path / "cut.tif"
    path.write_bytes(b"II*\0" + b"\xff" * 50)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("dtype", [np.complex64, bool])
def test_complex_and_bool_refused(tmp_path, dtype):
    with pytest.raises(ValueError, match="cannot write"):
        write_image(tmp_path / "c.tif", np.zeros((4, 4), dtype), "YX")
    assert list(tmp_path.iterdir()) == []
    tifffile.imwrite(tmp_path / "c.tif", np.zeros((4, 4), dtype))  # someone else's file
    with pytest.raises(ImageReadError, match="unsupported data type"):
        read_image(tmp_path / "c.tif")


@pytest.mark.parametrize("axes,sizes", [("ZQX", {}), ("ZZX", {}), ("SYX", {}), ("ZY", {}),
                                        ("YX", {"q": 1.0}), ("YX", {"x": -1.0}), ("YXZ", {})])
def test_bad_axes_or_sizes(tmp_path, axes, sizes):
    data = np.zeros((3, 4, 4) if len(axes) == 3 else (4, 4), np.uint8)
    if axes == "YXZ":  # valid axes, but a wrong number of letters for the data
        data = data[0]
    with pytest.raises(ValueError):
        write_image(tmp_path / "x.tif", data, axes, sizes)
    assert list(tmp_path.iterdir()) == []


def test_params_json_is_plain_json_in_ome_description(tmp_path):
    # other tools can find the parameters without our reader
    path = write_image(tmp_path / "p.ome.tif", np.zeros((4, 4), np.uint8), "YX", params=PARAMS)
    with tifffile.TiffFile(path) as tif:
        xml = tif.ome_metadata
    assert "<Description>" in xml
    start = xml.index("<Description>") + len("<Description>")
    assert json.loads(html.unescape(xml[start:xml.index("</Description>")])) == {"zssr": PARAMS}


# --- the shipped samples ------------------------------------------------------------

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "napari_zssr" / "sample_data"


@pytest.mark.parametrize("name,axes,shape,sizes", [
    ("fluorescence_2d", "YX", (256, 256), {"y": 0.1, "x": 0.1}),
    ("anisotropic_zstack", "ZCYX", (24, 2, 192, 192), {"z": 0.8, "y": 0.2, "x": 0.2}),
    ("timeseries", "TYX", (8, 128, 128), {"y": 0.16, "x": 0.16})])
def test_shipped_samples_match_their_readme(name, axes, shape, sizes):
    image = read_image(SAMPLE_DIR / f"{name}.tif")
    assert (image.flavour, image.axes, image.data.shape, image.data.dtype) == (
        "imagej", axes, shape, np.uint16)
    _assert_sizes(image, sizes)
    assert image.unit == "um"
    assert image.data.std() > 5  # an image, not a blank


def test_samples_are_small():
    assert sum(p.stat().st_size for p in SAMPLE_DIR.glob("*.tif")) < 5e6
