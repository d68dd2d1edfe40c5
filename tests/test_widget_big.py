"""The widget on a result too big for memory: block by block into an OME-Zarr store, shown lazily.

The threshold (lj.CHUNKED_OUTPUT_BYTES) is lowered so that tiny layers take the chunked path.
Run under Xvfb:  xvfb-run -a python -m pytest -q tests/test_widget_big.py
"""
from __future__ import annotations

import json
import time

import dask.array as da
import numpy as np
import pytest
import zarr

import napari_zssr.plugin.qt.worker as worker_module
import napari_zssr.nd as nd
import napari_zssr.nd.chunked as chunked
from napari_zssr.plugin import layer_job as lj
from napari_zssr.nd.blocks import MARKERS
from conftest import wait_done


def _volume(shape=(4, 24, 26), seed=0):
    """Smooth structure (something for the network), float32."""
    x = np.random.default_rng(seed).random(shape)
    for ax in (-2, -1):
        x = (x + np.roll(x, 1, ax) + np.roll(x, -1, ax)) / 3
    return (x * 1000 + 100).astype(np.float32)


def _close(a, ref) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - ref))) / float(np.ptp(ref))


@pytest.fixture
def events(monkeypatch):
    """Every progress event the worker posts to the widget."""
    seen = []
    put = worker_module.Inbox.put

    def spy(self, ev):
        seen.append(ev)
        put(self, ev)
    monkeypatch.setattr(worker_module.Inbox, "put", spy)
    return seen


def test_dask_layer_above_the_threshold_is_written_to_ome_zarr_and_shown_lazily(
        zssr_viewer, qtbot, tmp_path, monkeypatch, events):
    viewer, open_widget = zssr_viewer()
    data = _volume()
    kw = dict(scale=(2.0, 0.5, 0.5), translate=(1.0, 10.0, 20.0), contrast_limits=(100.0, 1100.0))
    small = viewer.add_image(data, name="small", **kw)
    widget = open_widget()

    # below the threshold: in memory, as always (the reference), and no output field
    widget.image.value = small
    assert not widget.zarr_output.visible and not widget.result_is_big()
    widget.run()
    wait_done(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    ref = viewer.layers[-1]
    assert isinstance(ref.data, np.ndarray)

    # above it: the output field appears and is required
    monkeypatch.setattr(lj, "CHUNKED_OUTPUT_BYTES", 1000)
    lazy = viewer.add_image(da.from_array(data, chunks=(1, 24, 26)), name="lazy", **kw)
    widget.image.value = lazy
    assert widget.result_is_big() and not widget.zarr_output.native.isHidden()
    assert widget.run() is None and "choose an OME-Zarr output" in widget.last_error
    # the in-memory path must not run (it would np.asarray the whole layer)
    monkeypatch.setattr(nd, "super_resolve_nd", lambda *a, **k: pytest.fail("in-memory path taken"))
    out = tmp_path / "lazy_x2.zarr"
    widget.zarr_output.value = str(out)
    n_layers = len(viewer.layers)
    events.clear()                                              # the in-memory run's are not counted
    assert widget.run() is not None
    wait_done(qtbot, widget)
    assert widget.last_error is None, widget.last_error

    assert (out / "zarr.json").is_file()
    assert json.loads((out / "zarr.json").read_text())["attributes"]["zssr_run"]["complete"]
    assert len(viewer.layers) == n_layers + 1
    res = viewer.layers[-1]
    assert res.name == "lazy ZSSR x2"
    assert isinstance(res.data, da.Array) and res.data.shape == ref.data.shape == (4, 48, 52)
    np.testing.assert_allclose(res.scale, ref.scale)
    np.testing.assert_allclose(res.scale, [2.0, 0.25, 0.25])
    np.testing.assert_allclose(res.translate, ref.translate)
    np.testing.assert_allclose(res.translate, [1.0, 9.875, 19.875])
    assert res.metadata["zssr_run"]["path"] == str(out)
    assert _close(res.data.compute(), ref.data) <= 1e-4
    assert str(out) in widget.status.text()
    # progress counted the blocks, one plane each, and the bar moved forward only
    blocks = [ev for ev in events if ev.stage == "blocks" and ev.total]
    assert [ev.iteration for ev in blocks] == [1, 2, 3, 4] and {ev.total for ev in blocks} == {4}
    fractions = [ev.fraction for ev in events if ev.fraction]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert "block 4 of 4" in worker_module.format_event(blocks[-1])


def test_cancel_between_blocks_leaves_a_store_that_run_resumes(zssr_viewer, qtbot, tmp_path, monkeypatch):
    """A zarr-backed layer; each block is slowed down so that Cancel lands between blocks."""
    viewer, open_widget = zssr_viewer()
    data = _volume((10, 24, 26), seed=1)
    src = zarr.create_array(str(tmp_path / "in.zarr"), shape=data.shape, chunks=(1, 24, 26), dtype="f4")
    src[...] = data
    monkeypatch.setattr(lj, "CHUNKED_OUTPUT_BYTES", 1000)
    real_block, delay = chunked.run_block, {"s": 0.4}

    def slow_block(*a, **k):
        time.sleep(delay["s"])
        return real_block(*a, **k)
    monkeypatch.setattr(chunked, "run_block", slow_block)
    layer = viewer.add_image(src, name="zarr", scale=(1.0, 0.5, 0.5), contrast_limits=(100.0, 1100.0))
    widget = open_widget()
    widget.image.value = layer
    out = tmp_path / "out.zarr"
    widget.zarr_output.value = str(out)
    widget.run()
    qtbot.waitUntil(lambda: getattr(widget.last_event, "stage", "") == "blocks", timeout=120_000)
    t0 = time.monotonic()
    widget.run_button.click()                                   # Cancel
    wait_done(qtbot, widget, timeout=20_000)
    stopped = time.monotonic() - t0
    assert stopped < 2.0, stopped                              # the running block finishes, no more start
    assert len(viewer.layers) == 1 and widget.last_error is None
    assert "Run again resumes" in widget.status.text()
    done = list((out / MARKERS).glob("lateral_*.json"))
    assert 1 <= len(done) < 10
    assert not json.loads((out / "zarr.json").read_text())["attributes"]["zssr_run"]["complete"]

    delay["s"] = 0.0
    widget.run()                                                # the same settings: resumes
    wait_done(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    assert f"{len(done)} resumed" in widget.status.text()         # verified, not recomputed
    res = viewer.layers[-1]
    assert isinstance(res.data, da.Array) and res.data.shape == (10, 48, 52)
    # equal to the in-memory run with the same settings and seed
    monkeypatch.setattr(lj, "CHUNKED_OUTPUT_BYTES", 1 << 30)
    job = lj.build_job(viewer.add_image(data, name="copy", scale=(1.0, 0.5, 0.5)),
                       *lj.form_to_run(widget.form_values()))
    ref = lj.run_job(job)
    assert _close(res.data.compute(), ref.data) <= 1e-4


def test_big_output_refusals_are_one_line(zssr_viewer, tmp_path, monkeypatch):
    viewer, open_widget = zssr_viewer()
    monkeypatch.setattr(lj, "CHUNKED_OUTPUT_BYTES", 1000)
    from napari_zssr.io.ome_zarr import write_ome_zarr

    store = write_ome_zarr(tmp_path / "vol.zarr", _volume(), "ZYX")
    [layer] = viewer.open(str(store), plugin="napari-zssr")         # the project's reader: lazy
    assert isinstance(layer.data, da.Array) and layer.source.path == str(store)
    widget = open_widget()
    widget.image.value = layer

    def refused(path, overwrite=False) -> str:
        widget.zarr_output.value = str(path)
        widget.overwrite_output.value = overwrite
        assert widget.run() is None and not widget.running
        assert "\n" not in widget.last_error
        return widget.last_error

    assert "must not be the input" in refused(tmp_path / "vol.zarr")
    assert "must not be the input" in refused(tmp_path / "vol.zarr" / "inside.zarr")
    assert "*.zarr" in refused(tmp_path / "out.tif")
    assert "does not exist" in refused(tmp_path / "nodir" / "out.zarr")
    other = tmp_path / "other.zarr"
    other.mkdir()
    (other / "data.bin").write_bytes(b"x")
    assert "exists" in refused(other)
    assert (other / "data.bin").read_bytes() == b"x"                # untouched
    widget.planes.value = "per-plane"
    assert "planes must be 'shared'" in refused(tmp_path / "new.zarr")
    assert not (tmp_path / "new.zarr").exists()
    assert len(viewer.layers) == 1
