"""OME-Zarr (NGFF 0.4/0.5) and lazy TIFF readers/writer: round trips, interop, bad input."""
import sys

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

from napari_zssr.io import read_image, write_image
from napari_zssr.io.lazy import open_bioio, open_lazy, open_tiff_lazy
from napari_zssr.io.ome_zarr import (
    OmeMetadata,
    pyramid_shapes,
    read_ome_zarr,
    validate_ome_zarr,
    write_ome_zarr,
)


def _volume(shape=(2, 5, 300, 340), dtype=np.uint16, seed=0):
    return (np.random.default_rng(seed).random(shape) * 4000).astype(dtype)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_round_trip_metadata_and_pyramid(tmp_path, version):
    data = _volume()
    meta = OmeMetadata(pixel_sizes={"z": 2.0, "y": 0.25, "x": 0.25}, channel_names=["DAPI", "GFP"],
                       params={"mode": "lateral", "factors": {"y": 2}}, translate={"y": 1.5})
    path = write_ome_zarr(tmp_path / "a.zarr", data, "CZYX", meta=meta, chunks=(1, 1, 128, 128), version=version)
    assert validate_ome_zarr(path) == version
    img = read_ome_zarr(path)
    assert isinstance(img.data, da.Array)                   # lazy: nothing read yet
    assert img.axes == "CZYX" and img.unit == "um" and img.flavour == f"ome-zarr {version}"
    assert img.pixel_sizes == {"z": 2.0, "y": 0.25, "x": 0.25}
    assert img.channel_names == ("DAPI", "GFP")
    assert img.description_params == {"mode": "lateral", "factors": {"y": 2}}
    assert img.translate == {"y": 1.5}
    np.testing.assert_array_equal(img.data.compute(), data)
    g = zarr.open_group(str(path), mode="r")
    assert g.metadata.zarr_format == (3 if version == "0.5" else 2)
    shapes = [g[str(k)].shape for k in range(len(pyramid_shapes(data.shape, "CZYX")))]
    assert shapes == [(2, 5, 300, 340), (2, 5, 150, 170)]
    # level 1 is the 2x2 mean of level 0 (rounded for integers), at twice the pixel size
    want = np.rint(data.astype(np.float64).reshape(2, 5, 150, 2, 170, 2).mean(axis=(3, 5)))
    np.testing.assert_array_equal(g["1"][:], want.astype(np.uint16))
    ms = (g.attrs["ome"] if version == "0.5" else g.attrs)["multiscales"][0]
    assert ms["datasets"][1]["coordinateTransformations"][0]["scale"] == [1.0, 2.0, 0.5, 0.5]
    assert [a["unit"] for a in ms["axes"][1:]] == ["micrometer"] * 3


def test_axes_reordered_to_ngff_and_rgb_as_channels(tmp_path):
    data = _volume((3, 40, 50), np.float32)                  # ZYX already fine; try YXS and TZYX
    rgb = (np.random.default_rng(1).random((40, 50, 3)) * 255).astype(np.uint8)
    p = write_ome_zarr(tmp_path / "rgb.zarr", rgb, "YXS")
    img = read_ome_zarr(p)
    assert img.axes == "CYX" and img.channel_names == ("R", "G", "B")
    np.testing.assert_array_equal(img.data.compute(), np.moveaxis(rgb, -1, 0))
    zt = np.stack([data, data + 1])                           # (T, Z, Y, X) given as ZTYX
    p2 = write_ome_zarr(tmp_path / "zt.zarr", np.swapaxes(zt, 0, 1), "ZTYX", pixel_sizes={"z": 1.0, "y": 0.5,
                                                                                           "x": 0.5})
    img2 = read_ome_zarr(p2)
    assert img2.axes == "TZYX" and img2.data.dtype == np.float32
    np.testing.assert_array_equal(img2.data.compute(), zt)
    validate_ome_zarr(p2)


def test_reads_what_ome_zarr_py_writes(tmp_path):
    from ome_zarr.writer import write_image as ome_write

    data = _volume((4, 64, 80))
    group = zarr.open_group(str(tmp_path / "lib.zarr"), mode="w")
    ome_write(data, group, axes="zyx", scale={"z": 3.0, "y": 0.5, "x": 0.5},
              axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"})
    img = open_lazy(tmp_path / "lib.zarr")
    assert img.axes == "ZYX"
    assert img.pixel_sizes == pytest.approx({"z": 3.0, "y": 0.5, "x": 0.5})
    np.testing.assert_array_equal(img.data.compute(), data)


def test_nanometre_units_and_multiscale_scale(tmp_path):
    p = write_ome_zarr(tmp_path / "nm.zarr", _volume((3, 30, 30)), "ZYX",
                       meta=OmeMetadata({"z": 500.0, "y": 100.0, "x": 100.0}, unit="nm"))
    g = zarr.open_group(str(p), mode="r+")
    attrs = dict(g.attrs)
    attrs["ome"]["multiscales"][0]["coordinateTransformations"] = [{"type": "scale", "scale": [2.0, 1.0, 1.0]}]
    g.attrs.update(attrs)
    assert read_ome_zarr(p).pixel_sizes == pytest.approx({"z": 1.0, "y": 0.1, "x": 0.1})


def test_write_is_atomic_and_refuses_existing(tmp_path):
    p = write_ome_zarr(tmp_path / "a.zarr", _volume((2, 20, 20)), "ZYX")
    with pytest.raises(FileExistsError):
        write_ome_zarr(p, _volume((2, 20, 20), seed=2), "ZYX")
    np.testing.assert_array_equal(read_ome_zarr(p).data.compute(), _volume((2, 20, 20)))
    write_ome_zarr(p, _volume((2, 20, 20), seed=2), "ZYX", overwrite=True)
    np.testing.assert_array_equal(read_ome_zarr(p).data.compute(), _volume((2, 20, 20), seed=2))
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.zarr"]       # no temp dirs left
    with pytest.raises(ValueError, match="length unit"):
        write_ome_zarr(tmp_path / "b.zarr", _volume((2, 20, 20)), "ZYX", meta=OmeMetadata({"x": 1}, unit="pixel"))
    assert not (tmp_path / "b.zarr").exists()


def _one_line(exc_info):
    msg = str(exc_info.value)
    assert "\n" not in msg
    return msg


def test_bad_input_one_line_errors(tmp_path):
    with pytest.raises(ValueError) as e:
        read_ome_zarr(tmp_path / "missing.zarr")
    assert "no such" in _one_line(e)
    plain = zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    plain.create_array("0", shape=(4, 4), dtype="u2")
    with pytest.raises(ValueError) as e:
        open_lazy(tmp_path / "plain.zarr")
    assert "not an OME-Zarr image" in _one_line(e)
    p = write_ome_zarr(tmp_path / "a.zarr", _volume((2, 40, 40)), "ZYX", chunks=(1, 20, 20))
    # corrupt one chunk: reading that block fails with one line naming the store
    chunk = next(f for f in (p / "0").rglob("*") if f.is_file() and f.name != "zarr.json")
    chunk.write_bytes(b"garbage" * 3)
    img = read_ome_zarr(p)
    with pytest.raises(ValueError) as e:
        img.data.compute()
    assert "cannot read a chunk" in _one_line(e) and str(p) in str(e.value)
    # the level-0 array is gone
    import shutil
    shutil.rmtree(p / "0")
    with pytest.raises(ValueError) as e:
        read_ome_zarr(p)
    assert "level-0 array '0' is missing" in _one_line(e)
    # unsupported version
    p2 = write_ome_zarr(tmp_path / "v.zarr", _volume((2, 20, 20)), "ZYX")
    g = zarr.open_group(str(p2), mode="r+")
    attrs = dict(g.attrs)
    attrs["ome"]["version"] = "9.9"
    g.attrs.update(attrs)
    with pytest.raises(ValueError) as e:
        read_ome_zarr(p2)
    assert "unsupported NGFF version '9.9'" in _one_line(e)
    with pytest.raises(ValueError, match="invalid NGFF"):
        bad = zarr.open_group(str(tmp_path / "bad.zarr"), mode="w")
        bad.attrs.update({"ome": {"version": "0.5", "multiscales": [{"axes": [], "datasets": []}]}})
        validate_ome_zarr(tmp_path / "bad.zarr")


@pytest.mark.parametrize("flavour,name", [("imagej", "v.tif"), ("ome", "v.ome.tif"), ("tiff", "v.tif")])
def test_lazy_tiff_matches_eager_reader(tmp_path, flavour, name):
    data = _volume((6, 3, 64, 48))
    path = write_image(tmp_path / name, data, "ZCYX", pixel_sizes={"z": 2.0, "y": 0.3, "x": 0.3},
                       flavour=flavour, params={"k": 1})
    eager = read_image(path)
    lazy = open_lazy(path)
    assert isinstance(lazy.data, da.Array)
    assert (lazy.axes, lazy.flavour, lazy.unit, lazy.description_params) == \
        (eager.axes, eager.flavour, eager.unit, eager.description_params)
    assert lazy.pixel_sizes == pytest.approx(eager.pixel_sizes)
    np.testing.assert_array_equal(lazy.data.compute(), eager.data)
    # one plane reads only its pages: the chunks are planes
    assert lazy.data.chunksize[-2:] == (64, 48) and np.prod(lazy.data.chunksize[:-2]) == 1


def test_lazy_tiff_tiled_bigtiff_and_errors(tmp_path):
    data = _volume((4, 96, 80))
    tifffile.imwrite(tmp_path / "t.tif", data, bigtiff=True, tile=(32, 32), compression="zlib",
                     photometric="minisblack",
                     metadata={"axes": "ZYX"})
    img = open_tiff_lazy(tmp_path / "t.tif")
    assert img.axes == "ZYX"
    np.testing.assert_array_equal(img.data[2, 10:50, 5:70].compute(), data[2, 10:50, 5:70])
    (tmp_path / "bad.tif").write_bytes(b"II*\0" + b"\0" * 20)
    with pytest.raises(ValueError) as e:
        open_lazy(tmp_path / "bad.tif")
    assert "cannot read TIFF" in _one_line(e)


def test_vendor_format_without_bioio_gives_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bioio", None)          # as if bioio were not installed
    with pytest.raises(ValueError) as e:
        open_bioio(tmp_path / "x.czi")
    msg = _one_line(e)
    assert "pip install 'napari-zssr[bioio]' bioio-czi" in msg
    with pytest.raises(ValueError, match="bioio-nd2"):
        open_lazy(tmp_path / "x.nd2")


def test_napari_opens_a_chunked_result_lazily_with_its_scale(make_napari_viewer_proxy, tmp_path):
    data = _volume((2, 3, 40, 44))
    p = write_ome_zarr(tmp_path / "res.zarr", data, "CZYX", meta=OmeMetadata(
        {"z": 0.5, "y": 0.25, "x": 0.25}, channel_names=["DAPI", "GFP"], translate={"y": -0.125, "x": -0.125}))
    viewer = make_napari_viewer_proxy()
    layers = viewer.open(str(p), plugin="napari-zssr")
    assert [ly.name for ly in layers] == ["res [DAPI]", "res [GFP]"]
    for c, ly in enumerate(layers):
        assert isinstance(ly.data, da.Array)                  # lazy: napari reads what it shows
        assert tuple(ly.scale) == pytest.approx((0.5, 0.25, 0.25))
        assert tuple(ly.translate) == pytest.approx((0.0, -0.125, -0.125))
        np.testing.assert_array_equal(np.asarray(ly.data[1]), data[c, 1])


def test_big_tiff_written_plane_by_plane_from_zarr(tmp_path):
    from napari_zssr.io.big_tiff import write_tiff_planes

    data = _volume((2, 4, 30, 34), np.float32)
    p = write_ome_zarr(tmp_path / "r.zarr", data, "CZYX", pixel_sizes={"z": 1.0, "y": 0.2, "x": 0.2})
    img = read_ome_zarr(p)
    calls = []

    class Counting:                                       # records what the writer reads at a time
        shape, dtype = img.data.shape, img.data.dtype

        def __getitem__(self, idx):
            calls.append(idx)
            return img.data[idx]

    out = write_tiff_planes(tmp_path / "r.ome.tif", Counting(), img.axes, img.pixel_sizes, params={"a": 1})
    assert len(calls) == 8 and all(len(c) == 2 for c in calls)           # one yx plane per read
    back = read_image(out)
    assert back.axes == "CZYX" and back.pixel_sizes == pytest.approx({"z": 1.0, "y": 0.2, "x": 0.2})
    assert back.description_params == {"a": 1}
    np.testing.assert_array_equal(back.data, data)
    with tifffile.TiffFile(out) as tif:
        assert tif.is_bigtiff
    with pytest.raises(FileExistsError):
        write_tiff_planes(out, img.data, img.axes)
