"""The GUI-free layer -> job -> layers functions behind the widget (no viewer, no Qt event loop)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from napari.layers import Image

from napari_zssr.plugin import layer_job as lj
from napari_zssr.engine.config import ZSSRConfig
from napari_zssr.nd import RunSpec
from napari_zssr.axes import guess_axes


@pytest.mark.parametrize(
    "shape, rgb, labels, expected",
    [
        ((8, 8), False, None, "YX"),
        ((3, 8, 8), False, None, "ZYX"),
        ((9, 3, 8, 8), False, None, "TZYX"),
        ((2, 3, 8, 8), False, None, "CZYX"),     # a few leading entries: channels (the io rule too)
        ((2, 3, 2, 8, 8), False, None, "TZCYX"),
        ((8, 8, 3), True, None, "YXS"),
        ((3, 8, 8), False, ("t", "y", "x"), "TYX"),
        ((3, 8, 8), False, ("c", "y", "x"), "CYX"),
        ((2, 3, 8, 8), False, ("Time", "Z", "Y", "X"), "TZYX"),
        ((3, 8, 8), False, ("-3", "-2", "-1"), "ZYX"),     # napari's default labels -> by dimensionality
        ((3, 8, 8), False, ("y", "y", "x"), "ZYX"),        # nonsense labels -> by dimensionality
    ],
)
def test_guess_axes(shape, rgb, labels, expected):
    """One rule for layers and files (axes.guess_axes); the widget asks it with the layer's shape."""
    assert guess_axes(shape, rgb, labels) == expected
    layer = Image(np.zeros(shape, np.uint8), rgb=rgb, axis_labels=labels)
    assert lj.layer_guess_axes(layer) == expected


def test_guess_axes_needs_help_beyond_5d():
    with pytest.raises(ValueError, match="axes"):
        guess_axes((2,) * 6)


@pytest.mark.parametrize(
    "axes, ndim, rgb, msg",
    [
        ("ZYX", 2, False, "letters"),
        ("QYX", 3, False, "unknown"),
        ("YYX", 3, False, "once"),
        ("ZCT", 3, False, "Y and X"),
        ("YXC", 3, True, "RGB"),
        ("SYX", 3, False, "last"),
        ("YXS", 3, False, "RGB layers"),
    ],
)
def test_validate_axes_rejects(axes, ndim, rgb, msg):
    with pytest.raises(ValueError, match=msg):
        lj.validate_axes(axes, ndim, rgb)


def test_typed_axes_are_normalised_and_checked_against_the_layer():
    assert lj.layer_axes_checked(Image(np.zeros((3, 8, 8))), " c y x ") == "CYX"
    assert lj.layer_axes_checked(Image(np.zeros((3, 8, 8)))) == "ZYX"                 # the guess
    with pytest.raises(ValueError, match="RGB"):
        lj.layer_axes_checked(Image(np.zeros((8, 8, 3), np.uint8), rgb=True), "YXC")


def test_form_factors():
    # lateral, square pixels -> 2; non-square -> the coarser axis by the ratio (square result pixels)
    assert lj.form_factors("lateral", "YX", {"y": 0.2, "x": 0.2}) == {"y": 2.0, "x": 2.0}
    assert lj.form_factors("lateral", "YX", {"y": 0.6, "x": 0.2}) == {"y": 3.0, "x": 1.0}
    assert lj.form_factors("lateral", "YX", {"y": 0.1, "x": 0.25}) == {"y": 1.0, "x": 2.5}
    # axial: z spacing / xy spacing (cubic voxels), nd.spec's rule (mean of y and x); 2 when uncalibrated
    assert lj.form_factors("axial", "ZYX", {"z": 0.8, "y": 0.2, "x": 0.2}) == {"z": 4.0}
    assert lj.form_factors("axial", "ZYX", {"z": 0.9, "y": 0.2, "x": 0.4}) == {"z": 3.0}   # not z/sqrt(yx)
    assert lj.form_factors("axial", "ZYX", {"z": 1.0, "y": 1.0, "x": 1.0}) == {"z": 2.0}
    assert lj.form_factors("axial", "ZYX", {}) == {"z": 2.0}
    with pytest.raises(ValueError, match="Z axis"):
        lj.form_factors("axial", "TYX", {"y": 1.0, "x": 1.0})


def test_pixel_sizes_from_scale_skips_channels_and_rgb():
    assert lj.pixel_sizes_from_scale("CZYX", (1, 0.8, 0.2, 0.2)) == {"z": 0.8, "y": 0.2, "x": 0.2}
    assert lj.pixel_sizes_from_scale("YXS", (0.5, 0.5)) == {"y": 0.5, "x": 0.5}


def test_factor_label():
    assert lj.factor_label({"y": 2.0, "x": 2.0}) == "x2"
    assert lj.factor_label({"z": 4.0}) == "x4 (z)"
    assert lj.factor_label({"y": 3.0, "x": 1.0}) == "x3 (y)"
    assert lj.factor_label({"y": 3.0, "x": 1.5}) == "x3/x1.5 (yx)"


def _job(layer, axes=None, **values):
    return lj.build_job(layer, *lj.form_to_run(values), axes=axes)


def test_build_job_is_plain_data_captured_at_build_time():
    layer = Image(np.zeros((8, 16, 16), np.uint16), scale=(4, 1, 1), translate=(2, 0, 0),
                  name="stack", colormap="magma", contrast_limits=(10, 500))
    job = _job(layer, mode="axial", factors={"z": 4.0}, preset="fast", max_iters=7, seed=3, device="cpu")
    layer.name = "renamed"
    layer.scale = (1, 1, 1)
    assert job.source.name == "stack"
    assert job.source.axes == "ZYX"
    assert job.source.scale == (4.0, 1.0, 1.0)
    assert job.source.contrast_limits == (10.0, 500.0)
    assert isinstance(job.spec, RunSpec) and job.spec.mode == "axial" and job.spec.factors == (4.0,)
    assert job.pixel_sizes == {"z": 4.0, "y": 1.0, "x": 1.0}
    assert job.config.max_iters == 7 and job.config.seed == 3 and job.config.device == "cpu"
    assert job.spec.axial_method == "isotropic" and job.spec.fusion == "geometric"
    assert job.spec.z_fwhm is None and job.spec.kernel is None   # bicubic: nd's default slice profile
    layer.scale = (4, 1, 1)
    job = _job(layer, mode="axial", kernel="gaussian", z_fwhm=1.6, z_fwhm_unit="um",
               axial_method="zssr", fusion="arithmetic")
    assert (job.spec.z_fwhm, job.spec.z_fwhm_unit) == (1.6, "um")
    assert (job.spec.axial_method, job.spec.fusion) == ("zssr", "arithmetic")
    assert job.spec.factors == (4.0,)                  # no factor given: from the pixel sizes (spec.resolve)
    with pytest.raises(ValueError, match="axial_method"):
        _job(layer, mode="axial", axial_method="magic")


def test_build_job_lateral_kernel_and_errors():
    layer = Image(np.zeros((16, 16), np.float32))
    job = _job(layer, factors={"y": 2, "x": 3}, kernel="gaussian", sigma=(0.8, 1.2))
    assert job.spec.factors == (2.0, 3.0)
    assert job.spec.kernel == ("gaussian", 0.8, 1.2)
    with pytest.raises(ValueError, match="axial"):
        _job(layer, mode="axial")
    with pytest.raises(ValueError, match="scale factors"):
        _job(layer, factors={"y": 1, "x": 1})
    with pytest.raises(ValueError, match="unknown"):
        _job(layer, axes="QX")
    with pytest.raises(ValueError):
        _job(layer, max_iters=5, not_a_setting=1)


def test_form_limits_and_choices_come_from_the_spec():
    """The widget's form refuses what RunSpec refuses: the same limits as the CLI and batch."""
    from napari_zssr.nd import spec as S
    layer = Image(np.zeros((6, 32, 32), np.float32), scale=(4, 1, 1))
    with pytest.raises(ValueError, match="too large"):
        _job(layer, mode="axial", factors={"z": S.MAX_FACTOR + 1})
    with pytest.raises(ValueError, match="too large"):
        _job(layer, factors={"y": S.MAX_FACTOR + 1, "x": 1.0})
    with pytest.raises(ValueError, match="sigma"):
        _job(layer, kernel="gaussian", sigma=(S.MAX_SIGMA + 1, 1.0))
    with pytest.raises(ValueError, match="init"):
        _job(layer, init="zeros")
    spec, cfg = lj.form_to_run(dict(init="random", preset="fast"))
    assert spec.init == "random" and isinstance(cfg, ZSSRConfig)
    assert lj.form_to_run(dict(preset="paper"))[1].init == "random"


def _fake_result(data, axes, factors, params=None):
    return SimpleNamespace(data=data, axes=axes, pixel_sizes={}, factors=factors,
                           params=params or {"run": 1}, clipped=0)


def test_result_layer_data_overlays_source():
    layer = Image(np.zeros((16, 16), np.uint16), scale=(0.5, 0.5), translate=(10, 20), name="img",
                  colormap="viridis", blending="additive", contrast_limits=(0, 1000),
                  units=("um", "um"), axis_labels=("y", "x"))
    job = _job(layer)
    out = np.ones((32, 32), np.float32)
    (data, kw, kind), = lj.result_layer_data(job, _fake_result(out, "YX", {"y": 2.0, "x": 2.0}))
    assert kind == "image" and data.shape == (32, 32)
    assert kw["name"] == "img ZSSR x2"
    np.testing.assert_allclose(kw["scale"], [0.25, 0.25])
    np.testing.assert_allclose(kw["translate"], [10 - 0.125, 20 - 0.125])
    assert kw["colormap"].name == "viridis" and kw["blending"] == "additive"
    assert kw["contrast_limits"] == (1.0, 2.0)          # dtype changed (uint16 -> float32): recomputed
    assert kw["metadata"]["zssr"] == {"run": 1}
    assert kw["axis_labels"] == ["y", "x"]
    # same dtype -> the source's contrast limits
    (_, kw2, _), = lj.result_layer_data(job, _fake_result(out.astype(np.uint16), "YX", {"y": 2.0, "x": 2.0}))
    assert kw2["contrast_limits"] == (0.0, 1000.0)


def test_result_layer_data_one_layer_per_channel():
    layer = Image(np.zeros((2, 8, 8), np.float32), scale=(1, 0.4, 0.4), name="cells")
    job = _job(layer, axes="CYX")
    out = np.stack([np.zeros((16, 16)), np.ones((16, 16))]).astype(np.float32)
    layers = lj.result_layer_data(job, _fake_result(out, "CYX", {"y": 2.0, "x": 2.0}))
    assert [kw["name"] for _, kw, _ in layers] == ["cells ZSSR x2 [ch0]", "cells ZSSR x2 [ch1]"]
    assert [kw["colormap"] for _, kw, _ in layers] == ["magenta", "green"]
    for c, (data, kw, _) in enumerate(layers):
        assert data.shape == (16, 16) and float(data.mean()) == c
        np.testing.assert_allclose(kw["scale"], [0.2, 0.2])
        assert kw["metadata"]["zssr_run"]["channel"] == c


def test_result_layer_data_rgb():
    layer = Image(np.zeros((8, 8, 3), np.uint8), rgb=True, name="he")
    job = _job(layer)
    assert job.source.axes == "YXS"
    (data, kw, _), = lj.result_layer_data(job, _fake_result(np.zeros((16, 16, 3), np.uint8), "YXS",
                                                           {"y": 2.0, "x": 2.0}))
    assert kw["rgb"] is True and len(kw["scale"]) == 2


def test_build_job_reuses_a_saved_model(tmp_path):
    """The widget's "reuse model": a saved network is applied without training, same output."""
    from napari_zssr.nd import save_result_models

    rng = np.random.default_rng(0)
    layer = Image((rng.random((24, 24)) * 1000).astype(np.uint16), name="cells")
    kw = dict(preset="fast", max_iters=8, seed=1, device="cpu", num_threads=1)
    first = lj.run_job(_job(layer, **kw))
    path = tmp_path / "cells.zssr"
    save_result_models(first, path)
    job = _job(layer, model=str(path), **kw)
    assert job.spec.model == str(path)
    again = lj.run_job(job)
    assert again.params["iterations"] == [0]           # applied, not trained
    np.testing.assert_array_equal(again.data, first.data)
    with pytest.raises(ValueError, match="no such model file"):
        _job(layer, model=str(tmp_path / "missing.zssr"), **kw)
    with pytest.raises(ValueError, match="factors"):
        lj.run_job(_job(layer, model=str(path), factors={"y": 3.0, "x": 3.0}, **kw))


def test_result_layers_keep_the_channel_names_the_reader_recorded():
    """A layer with a C axis whose metadata names its channels (napari_zssr's reader, OME/ImageJ):
    the result layers are named after the channels and keep the names in their metadata."""
    layer = Image(np.zeros((2, 8, 8), np.float32), name="cells",
                  metadata={"channel_names": ["AF647", "DAPI"], "unrelated": 1})
    job = _job(layer, axes="CYX")
    assert job.source.metadata == {"channel_names": ["AF647", "DAPI"]}
    out = np.zeros((2, 16, 16), np.float32)
    layers = lj.result_layer_data(job, _fake_result(out, "CYX", {"y": 2.0, "x": 2.0}))
    assert [kw["name"] for _, kw, _ in layers] == ["cells ZSSR x2 [AF647]", "cells ZSSR x2 [DAPI]"]
    assert [kw["metadata"]["zssr_run"]["channel_name"] for _, kw, _ in layers] == ["AF647", "DAPI"]


def test_a_chunked_axial_job_passes_the_runs_notices(tmp_path, monkeypatch):
    """The widget's big-output path tells what the in-memory path tells (the slice-profile estimate)."""
    from napari_zssr.testing.simulate import simulate_acquisition
    monkeypatch.setattr(lj, "CHUNKED_OUTPUT_BYTES", 1000)
    raw = simulate_acquisition((24, 48, 48), z_step=3, seed=0, photons=1000.0, z_fwhm_px=3.0).raw
    layer = Image(raw.astype(np.float32), scale=(3.0, 1.0, 1.0))
    spec, _ = lj.form_to_run(dict(mode="axial", factors={"z": 3.0}))
    cfg = ZSSRConfig(max_iters=3, crop_size=16, ensemble=False, num_threads=1, device="cpu", seed=0)
    job = lj.build_job(layer, spec, cfg, output=str(tmp_path / "out.zarr"))
    res = lj.run_chunked_job(job)
    assert res.notices and res.notices == res.params["notices"]
    assert res.notices[0].startswith(("slice profile estimated", "the slice-profile estimate"))
