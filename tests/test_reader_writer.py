"""npe2 reader and writer: TIFF <-> layers with physical scale, units, axis labels and ZSSR params."""
from __future__ import annotations

import numpy as np
import pytest

from napari_zssr.plugin.reader import napari_get_reader, read_tiff
from napari_zssr.plugin.writer import write_image_layer
from napari_zssr.io import read_image, write_image


def test_reader_claims_only_tiff(tmp_path):
    assert napari_get_reader(str(tmp_path / "a.tif")) is read_tiff
    assert napari_get_reader([str(tmp_path / "a.tif"), str(tmp_path / "b.TIFF")]) is read_tiff
    assert napari_get_reader(str(tmp_path / "a.png")) is None
    assert napari_get_reader(str(tmp_path / "a.zarr")) is None


def test_reader_zstack_has_scale_units_labels(tmp_path):
    path = tmp_path / "stack.tif"
    data = np.arange(5 * 8 * 9, dtype=np.uint16).reshape(5, 8, 9)
    write_image(path, data, "ZYX", pixel_sizes={"z": 0.8, "y": 0.2, "x": 0.2}, unit="um",
                params={"factors": {"z": 4}})
    (out, kw, kind), = read_tiff(str(path))
    assert kind == "image"
    np.testing.assert_array_equal(out, data)
    np.testing.assert_allclose(kw["scale"], [0.8, 0.2, 0.2])
    assert kw["units"] == ["um", "um", "um"]
    assert kw["axis_labels"] == ["z", "y", "x"]
    assert kw["name"] == "stack"
    assert kw["metadata"]["zssr"] == {"factors": {"z": 4}}


def test_reader_channels_become_layers_in_viewer(make_napari_viewer_proxy, tmp_path):
    path = tmp_path / "cells.tif"
    data = np.random.default_rng(0).integers(0, 4000, (2, 4, 16, 16)).astype(np.uint16)
    write_image(path, data, "CZYX", pixel_sizes={"z": 0.8, "y": 0.2, "x": 0.2})
    viewer = make_napari_viewer_proxy()
    layers = viewer.open(str(path), plugin="napari-zssr")
    assert [layer.name for layer in layers] == ["cells [ch0]", "cells [ch1]"]
    for c, layer in enumerate(layers):
        np.testing.assert_array_equal(layer.data, data[c])
        np.testing.assert_allclose(layer.scale, [0.8, 0.2, 0.2])
        assert [str(u) for u in layer.units] == ["micrometer"] * 3
        assert tuple(layer.axis_labels) == ("z", "y", "x")


def test_reader_rgb(make_napari_viewer_proxy, tmp_path):
    path = tmp_path / "he.tif"
    data = np.random.default_rng(1).integers(0, 255, (16, 20, 3)).astype(np.uint8)
    write_image(path, data, "YXS", pixel_sizes={"y": 0.5, "x": 0.5})
    viewer = make_napari_viewer_proxy()
    layer, = viewer.open(str(path), plugin="napari-zssr")
    assert layer.rgb and layer.data.shape == (16, 20, 3)
    np.testing.assert_allclose(layer.scale, [0.5, 0.5])


def test_writer_round_trip_through_viewer(make_napari_viewer_proxy, tmp_path):
    viewer = make_napari_viewer_proxy()
    data = np.random.default_rng(2).random((3, 16, 16)).astype(np.float32)
    viewer.add_image(data, name="res", scale=(0.25, 0.05, 0.05), units=("um", "um", "um"),
                     axis_labels=("z", "y", "x"), metadata={"zssr": {"max_iters": 30}})
    path = tmp_path / "res.tif"
    written = viewer.layers.save(str(path), plugin="napari-zssr")
    assert [str(p) for p in written] == [str(path)]
    img = read_image(path)
    assert img.axes == "ZYX"
    np.testing.assert_array_equal(img.data, data)
    assert img.pixel_sizes == pytest.approx({"z": 0.25, "y": 0.05, "x": 0.05})
    assert img.unit == "um"
    assert img.description_params == {"max_iters": 30}
    # and back into napari through the reader
    layer, = viewer.open(str(path), plugin="napari-zssr")
    np.testing.assert_allclose(layer.scale, [0.25, 0.05, 0.05])


def test_writer_direct_nm_units_converted_and_rgb(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 1] = 200
    path = tmp_path / "rgb.tif"
    assert write_image_layer(str(path), rgb, {"rgb": True, "scale": [100.0, 100.0],
                                              "units": ["nanometer", "nanometer"],
                                              "axis_labels": ["-2", "-1"]}) == [str(path)]
    img = read_image(path)
    assert img.axes == "YXS"
    assert img.pixel_sizes == pytest.approx({"y": 0.1, "x": 0.1})
    np.testing.assert_array_equal(img.data, rgb)


def test_writer_time_series_keeps_t(tmp_path):
    data = np.zeros((4, 8, 8), np.uint8)
    path = tmp_path / "t.tif"
    write_image_layer(str(path), data, {"scale": [5.0, 0.3, 0.3], "units": ["second", "micrometer", "micrometer"],
                                        "axis_labels": ["t", "y", "x"]})
    img = read_image(path)
    assert img.axes == "TYX"
    assert img.pixel_sizes == pytest.approx({"y": 0.3, "x": 0.3})
