"""The dock widget end to end: opened through the manifest, real engine, few iterations.

Run under Xvfb:  xvfb-run -a python -m pytest -q tests
"""
from __future__ import annotations

import time

import numpy as np
import pytest
from napari.utils import progress

import napari_zssr.plugin.qt.widget as widget_module
from napari_zssr.plugin import layer_job as lj
from napari_zssr.plugin.samples import load_sample
from conftest import configure_fast, wait_done


def _image(shape=(32, 32), dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[-2], : shape[-1]]
    base = 0.5 + 0.25 * np.sin(xx / 2.5) * np.cos(yy / 3.0)
    img = np.broadcast_to(base, shape) + 0.05 * rng.standard_normal(shape)
    if np.issubdtype(dtype, np.integer):
        img = np.clip(img * 200, 0, 255)
    return img.astype(dtype)


def _shown(magicgui_widget) -> bool:
    """Not hidden by the widget (the viewer itself may be hidden in these tests)."""
    return not magicgui_widget.native.isHidden()


def _zssr_progress_bars():
    return [p for p in progress._all_instances if str(p.desc).startswith("ZSSR")]


def test_only_image_layers_are_offered(zssr_viewer):
    viewer, open_widget = zssr_viewer()
    viewer.add_labels(np.zeros((16, 16), int), name="labels")
    viewer.add_points(np.zeros((2, 2)), name="points")
    img = viewer.add_image(_image(), name="img")
    widget = open_widget()
    assert widget.image.choices == (img,)
    viewer.add_image(_image(), name="second")
    assert [c.name for c in widget.image.choices] == ["img", "second"]
    viewer.layers["img"].name = "renamed"
    assert sorted(widget.image.native.itemText(i) for i in range(widget.image.native.count())) == ["renamed", "second"]
    viewer.layers.remove("second")
    assert widget.image.choices == (img,)


def test_axes_and_factors_prefilled_from_layer(zssr_viewer):
    viewer, open_widget = zssr_viewer()
    viewer.add_image(_image((6, 32, 32)), scale=(4, 1, 1), name="stack")
    viewer.add_image(_image((32, 32)), scale=(0.6, 0.2), name="rect")
    viewer.add_image(_image((32, 32, 3), np.uint8), rgb=True, name="rgb")
    viewer.add_image(_image((3, 32, 32)), axis_labels=("c", "y", "x"), name="chan")
    widget = open_widget()

    widget.image.value = viewer.layers["stack"]
    assert widget.axes.value == "ZYX"
    widget.mode.value = "axial"
    assert widget.factor_z.value == pytest.approx(4.0)
    assert _shown(widget.factor_z) and not _shown(widget.factor_y)
    assert _shown(widget.axial_method) and _shown(widget.fusion)

    widget.mode.value = "lateral"
    assert not _shown(widget.axial_method)
    widget.image.value = viewer.layers["rect"]
    assert widget.axes.value == "YX"
    assert (widget.factor_y.value, widget.factor_x.value) == (pytest.approx(3.0), pytest.approx(1.0))

    widget.image.value = viewer.layers["rgb"]
    assert widget.axes.value == "YXS"
    assert widget.out_dtype.value == "input"

    widget.image.value = viewer.layers["chan"]
    assert widget.axes.value == "CYX"
    assert _shown(widget.channels)
    widget.kernel.value = "gaussian"
    assert _shown(widget.sigma_y) and not _shown(widget.z_fwhm)

    # advanced: CPU threads, 0 = all cores
    widget.num_threads.value = 0
    assert widget.form_values()["num_threads"] is None
    widget.num_threads.value = 1
    assert widget.form_values()["num_threads"] == 1

    # only the devices this machine has
    import torch

    assert "cpu" in widget.device.choices
    assert ("cuda" in widget.device.choices) == torch.cuda.is_available()


def test_run_lateral_adds_bound_layer(zssr_viewer, qtbot, artifacts_dir):
    viewer, open_widget = zssr_viewer(show=True)
    viewer.window.resize(1400, 900)
    # a 32x32 crop of the bundled fluorescence sample, as float32 (same size as the other tests:
    # the CPU kernels compiled for one run serve the next)
    sample = load_sample("fluorescence_2d")[0][0]
    crop = np.asarray(sample[136:168, 128:160], dtype=np.float32)
    src = viewer.add_image(crop, name="cells", scale=(0.5, 0.5), translate=(10.0, 20.0),
                           colormap="viridis", blending="additive", contrast_limits=(100.0, 360.0),
                           units=("um", "um"), axis_labels=("y", "x"))
    widget = open_widget()
    widget.image.value = src
    worker = widget.run()
    assert worker is not None and widget.running
    assert widget.run_button.text() == "Cancel"
    assert widget.run() is None                      # a second Run while running is impossible
    assert len(_zssr_progress_bars()) == 1
    # what happens to the source meanwhile changes nothing
    src.name = "renamed meanwhile"
    viewer.layers.move(viewer.layers.index(src), 0)
    src.scale = (1.0, 1.0)
    wait_done(qtbot, widget)

    assert widget.last_error is None, widget.last_error
    assert widget.run_button.text() == "Run"
    assert _zssr_progress_bars() == []
    out = viewer.layers["cells ZSSR x2"]
    assert viewer.layers[-1].name == "cells ZSSR x2"
    assert out.data.shape == (64, 64)
    assert out.data.dtype == np.float32
    np.testing.assert_allclose(out.scale, [0.25, 0.25])
    np.testing.assert_allclose(out.translate, [10.0 - 0.125, 20.0 - 0.125])
    assert out.colormap.name == "viridis"
    assert out.blending == "additive"
    assert out.contrast_limits == pytest.approx([100.0, 360.0])  # same dtype -> source's limits
    assert [str(u) for u in out.units] == ["micrometer", "micrometer"]
    assert tuple(out.axis_labels) == ("y", "x")
    params = out.metadata["zssr"]
    assert isinstance(params, dict) and params
    assert out.metadata["zssr_run"]["factors"] == {"y": 2.0, "x": 2.0}
    assert out.metadata["zssr_run"]["source"] == "cells"
    assert np.isfinite(out.data).all()
    assert "done" in widget.status.text()

    # the artefact: source and result side by side (grid), the widget docked on the right
    src.scale = (0.5, 0.5)
    src.blending = out.blending = "translucent"
    canvas = getattr(viewer, "canvas", None)                   # napari >= 0.9; viewer.grid before
    (canvas.grid if canvas is not None else viewer.grid).enabled = True
    viewer.reset_view()
    qtbot.wait(200)
    shot = viewer.screenshot(canvas_only=False, flash=False)
    import imageio.v3 as iio

    iio.imwrite(artifacts_dir / "widget_after_run.png", shot)
    assert shot.ndim == 3 and shot.shape[0] > 100


def test_uint16_input_keeps_dtype_on_request(zssr_viewer, qtbot):
    viewer, open_widget = zssr_viewer()
    src = viewer.add_image(_image(dtype=np.uint16), name="u16", contrast_limits=(0, 255))
    widget = open_widget()
    widget.image.value = src
    widget.out_dtype.value = "input"
    widget.run()
    wait_done(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    out = viewer.layers[-1]
    assert out.data.dtype == np.uint16 and out.data.shape == (64, 64)
    assert tuple(out.contrast_limits) == (0, 255)


def test_cancel_mid_run_leaves_nothing(zssr_viewer, qtbot):
    viewer, open_widget = zssr_viewer()
    viewer.add_image(_image(), name="img")
    widget = open_widget(max_iters=1_000_000)
    widget.run()
    qtbot.waitUntil(lambda: widget.last_event is not None, timeout=120_000)   # training has begun
    assert widget.running
    t0 = time.monotonic()
    widget.run_button.click()                        # the Run button is Cancel now
    wait_done(qtbot, widget, timeout=10_000)
    assert time.monotonic() - t0 < 2.0               # takes effect within about a second
    assert len(viewer.layers) == 1
    assert widget.run_button.text() == "Run" and widget.run_button.isEnabled()
    assert "cancel" in widget.status.text()
    assert _zssr_progress_bars() == []
    assert widget.last_error is None


def test_multichannel_gives_one_layer_per_channel(zssr_viewer, qtbot):
    viewer, open_widget = zssr_viewer()
    data = np.stack([_image(seed=1), 2 * _image(seed=2)])
    src = viewer.add_image(data, name="two", scale=(1.0, 0.3, 0.3))
    widget = open_widget()
    widget.image.value = src
    widget.axes.value = "CYX"                        # override: the first axis is channels
    widget.run()
    wait_done(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    names = [layer.name for layer in viewer.layers]
    assert names == ["two", "two ZSSR x2 [ch0]", "two ZSSR x2 [ch1]"]
    for c in (0, 1):
        out = viewer.layers[f"two ZSSR x2 [ch{c}]"]
        assert out.data.shape == (64, 64)
        np.testing.assert_allclose(out.scale, [0.15, 0.15])
        np.testing.assert_allclose(out.translate, [-0.075, -0.075])
        assert out.metadata["zssr_run"]["channel"] == c
    assert {viewer.layers[-2].colormap.name, viewer.layers[-1].colormap.name} == {"magenta", "green"}


def test_axial_mode_on_anisotropic_stack(zssr_viewer, qtbot):
    viewer, open_widget = zssr_viewer()
    src = viewer.add_image(_image((6, 32, 32)), name="stack", scale=(4.0, 1.0, 1.0))
    widget = open_widget()
    widget.image.value = src
    widget.mode.value = "axial"
    assert widget.factor_z.value == pytest.approx(4.0)
    widget.run()
    wait_done(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    out = viewer.layers[-1]
    assert out.name == "stack ZSSR x4 (z)"
    assert out.data.shape[1:] == (32, 32)
    assert out.data.shape[0] == 24
    np.testing.assert_allclose(out.scale, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(out.translate, [-1.5, 0.0, 0.0])
    assert out.metadata["zssr_run"]["factors"] == {"z": 4.0}


def test_rgb_gives_rgb_layer(zssr_viewer, qtbot):
    viewer, open_widget = zssr_viewer()
    src = viewer.add_image(_image((32, 32, 3), np.uint8), rgb=True, name="he")
    widget = open_widget()
    widget.image.value = src
    widget.run()
    wait_done(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    out = viewer.layers[-1]
    assert out.rgb and out.data.shape == (64, 64, 3) and out.data.dtype == np.uint8


def test_bad_input_is_a_notification_not_a_traceback(zssr_viewer, monkeypatch):
    shown = []
    monkeypatch.setattr(widget_module, "show_error", shown.append)
    viewer, open_widget = zssr_viewer()
    viewer.add_image(_image(), name="img")
    widget = open_widget()
    widget.axes.value = "QX"
    assert widget.run() is None
    assert not widget.running and len(shown) == 1 and "QX" in shown[0]


def test_engine_error_is_a_notification(zssr_viewer, qtbot, monkeypatch):
    shown = []
    monkeypatch.setattr(widget_module, "show_error", shown.append)

    def boom(job, progress=None, cancel=None):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(widget_module.lj, "run_job", boom)
    viewer, open_widget = zssr_viewer()
    viewer.add_image(_image(), name="img")
    widget = open_widget()
    widget.run()
    wait_done(qtbot, widget)
    assert shown == ["ZSSR failed: out of memory (simulated)"]
    assert len(viewer.layers) == 1 and widget.run_button.text() == "Run"
    assert _zssr_progress_bars() == []


def test_closing_the_viewer_during_a_run(zssr_viewer, qtbot):
    viewer, open_widget = zssr_viewer()
    viewer.add_image(_image(), name="img")
    widget = open_widget(max_iters=1_000_000)
    worker = widget.run()
    qtbot.waitUntil(lambda: widget.last_event is not None, timeout=120_000)
    finished = []
    worker.finished.connect(lambda: finished.append(True))
    viewer.close()                                   # cancels the run (napari quits its workers)
    qtbot.waitUntil(lambda: bool(finished), timeout=10_000)
    qtbot.wait(50)
    assert _zssr_progress_bars() == []


def test_removing_the_dock_widget_cancels_the_run(zssr_viewer, qtbot):
    viewer, _ = zssr_viewer()
    viewer.add_image(_image(), name="img")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-zssr", "Zero-Shot Super-Resolution")
    configure_fast(widget, max_iters=1_000_000)
    worker = widget.run()
    qtbot.waitUntil(lambda: widget.last_event is not None, timeout=120_000)
    finished = []
    worker.finished.connect(lambda: finished.append(True))
    viewer.window.remove_dock_widget(dock)
    qtbot.waitUntil(lambda: bool(finished), timeout=10_000)
    qtbot.wait(50)
    assert len(viewer.layers) == 1
    assert _zssr_progress_bars() == []


def test_empty_channel_is_added_as_is_with_a_notice(zssr_viewer, qtbot, monkeypatch):
    shown = []
    monkeypatch.setattr(widget_module, "show_info", shown.append)
    viewer, open_widget = zssr_viewer()
    src = viewer.add_image(np.stack([_image(), np.zeros((32, 32), np.float32)]), name="two")
    widget = open_widget()
    widget.image.value = src
    widget.axes.value = "CYX"
    widget.run()
    wait_done(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    good, empty = viewer.layers[-2:]
    assert empty.data.shape == (64, 64) and np.all(np.asarray(empty.data) == 0)
    assert np.asarray(good.data).std() > 0
    assert len(shown) == 1 and "channel 1 is constant" in shown[0]


def test_form_uses_the_spec_limits_and_names(zssr_viewer):
    """The form's limits and choices are nd.spec's; its fields carry the settings' names."""
    from napari_zssr.nd import spec as S
    viewer, open_widget = zssr_viewer()
    viewer.add_image(_image(), name="img")
    widget = open_widget()
    assert widget.factor_z.max == widget.factor_y.max == S.MAX_FACTOR
    assert widget.sigma_y.max == S.MAX_SIGMA
    assert tuple(widget.planes.choices) == S.PLANES and tuple(widget.init.choices) == S.INITS
    values = widget.form_values()
    assert {"back_projection_iters", "noise_std", "num_threads", "init", "n_steps"} <= set(values)
    widget.init.value = "random"
    widget.factor_y.value = 3.0
    spec, cfg = lj.form_to_run(widget.form_values())
    assert spec.init == "random" and spec.factors == (3.0, 2.0) and cfg.back_projection_iters == 2
    widget.preset.value = "paper"
    assert widget.init.value == "random"               # the paper preset starts from random weights


def test_the_status_shows_the_held_out_estimate_and_warns_below_cubic(zssr_viewer, qtbot, monkeypatch):
    from napari_zssr.quality.gain import GainEstimate
    from napari_zssr.quality import holdout
    warned = []
    monkeypatch.setattr(widget_module, "show_warning", warned.append)
    viewer, open_widget = zssr_viewer()
    src = viewer.add_image(_image((96, 96)), name="big enough")         # a 16-row band is held out
    widget = open_widget()
    widget.image.value = src
    widget.run()
    wait_done(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    assert "expected gain over cubic: " in widget.status.text()
    meta = viewer.layers[-1].metadata["zssr"]
    assert meta["quality"][0]["held_out"]["band"]["size"] == 16 and meta["expected_gain_db"] is not None
    # a gain whose range (where the truth fell on real planes) reaches below 0 dB may lose to cubic: said once
    may_lose = meta["quality"][0]["expected_gain_range_db"][0] < 0
    assert len(warned) == int(may_lose) and all("may be no better than cubic" in w for w in warned)
    warned.clear()
    monkeypatch.setattr(holdout, "held_out_gain",
                        lambda model, fathers, **kw: GainEstimate(-1.5, 28.5, 30.0, len(fathers), 0.0))
    widget.run()
    wait_done(qtbot, widget)
    assert len(warned) == 1 and "1.5 dB WORSE than cubic" in warned[0]
