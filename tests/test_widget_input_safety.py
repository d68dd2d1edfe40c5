"""Issue 28 in the widget: a store made from another layer is refused (never shown as this layer's
result); a run that would not fit in memory is refused (or goes block by block) before any work.

Run under Xvfb:  xvfb-run -a python -m pytest -q tests/test_widget_input_safety.py
"""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

import napari_zssr.nd as nd
from napari_zssr.plugin import layer_job as lj
from conftest import wait_done


def _volume(shape=(4, 24, 26), seed=0):
    x = np.random.default_rng(seed).random(shape)
    for ax in (-2, -1):
        x = (x + np.roll(x, 1, ax) + np.roll(x, -1, ax)) / 3
    return (x * 1000 + 100).astype(np.float32)


def _tree_hash(path):
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode() + f.read_bytes())
    return h.hexdigest()


def test_a_store_made_from_another_layer_is_refused(zssr_viewer, qtbot, tmp_path, monkeypatch):
    viewer, open_widget = zssr_viewer()
    monkeypatch.setattr(lj, "CHUNKED_OUTPUT_BYTES", 1000)            # tiny layers take the chunked path
    kw = dict(scale=(1.0, 0.5, 0.5), contrast_limits=(100.0, 1100.0))
    a = viewer.add_image(_volume(seed=0), name="volume_a", **kw)
    b = viewer.add_image(_volume(seed=1), name="volume_b", **kw)   # same shape and dtype
    widget = open_widget()
    out = tmp_path / "out.zarr"
    widget.image.value = a
    widget.zarr_output.value = str(out)
    assert widget.run() is not None
    wait_done(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    assert viewer.layers[-1].name == "volume_a ZSSR x2"
    n_layers, before = len(viewer.layers), _tree_hash(out)

    widget.image.value = b                                         # the output left at out.zarr
    widget.zarr_output.value = str(out)
    worker = widget.run()
    if worker is not None:                                         # refused in the worker
        wait_done(qtbot, widget)
    err = widget.last_error
    assert err is not None and "this store was made from another input" in err and "volume_a" in err
    assert "\n" not in err
    assert len(viewer.layers) == n_layers                          # nothing added as volume_b's result
    assert not any(layer.name.startswith("volume_b ZSSR") for layer in viewer.layers)
    assert _tree_hash(out) == before

    widget.image.value = a                                         # the first layer again: resumes
    widget.zarr_output.value = str(out)
    widget.run()
    wait_done(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    assert "4 resumed" in widget.status.text()


def test_a_run_too_big_for_memory_is_refused_before_any_work(zssr_viewer, qtbot, monkeypatch):
    import napari_zssr.nd.memory as memory

    viewer, open_widget = zssr_viewer()
    # the result is far below the 1 GiB rule, but the machine has (pretend) 1 MiB free
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 20)
    data = _volume()
    layer = viewer.add_image(data, name="v", scale=(1.0, 0.5, 0.5))
    widget = open_widget()
    widget.image.value = layer
    monkeypatch.setattr(nd, "super_resolve_nd", lambda *a, **k: pytest.fail("in-memory path taken"))
    assert widget.result_is_big() and not widget.zarr_output.native.isHidden()   # the store field shows up
    assert widget.run() is None
    err = widget.last_error
    assert "GiB" in err and "available" in err and "OME-Zarr" in err and "\n" not in err
    assert len(viewer.layers) == 1
