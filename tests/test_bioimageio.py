"""bioimage.io export and import (issue 30): lateral x2 (one channel, RGB) and axial x4 networks
trained on the bundled samples export, validate, pass bioimageio.core's test and reproduce
`zssr --model`; --model takes napari-zssr's packages and refuses corrupt, foreign or mismatched ones
with one line, writing nothing.

End to end by hand:  python -m pytest -q tests/test_bioimageio.py -s   (or see docs: zssr export)
"""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from napari_zssr.cli import main
from napari_zssr.engine.model_package import package_info
from napari_zssr.io import read_image, write_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")
spec = pytest.importorskip("bioimageio.spec", reason="the [bioimageio] extra is not installed")

SAMPLES = Path(__file__).resolve().parent.parent / "napari_zssr" / "sample_data"
# few iterations, one-jump, bicubic; back-projection on so the package must reproduce it too
FAST = ["--max-iters", "8", "--no-ensemble", "--seed", "0", "-q", "--dtype", "float32", "--n-steps", "1",
        "--back-projection-iters", "2"]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("bmz")
    fl = read_image(SAMPLES / "fluorescence_2d.tif")
    crop = fl.data[96:144, 100:148]                                             # 48 x 48 of the sample
    write_image(d / "fluo.tif", crop, "YX", {"y": 0.1, "x": 0.1})
    lo, hi = np.percentile(crop, [1, 99.5])
    u8 = np.clip((crop - lo) / (hi - lo), 0, 1)
    rgb = (np.stack([u8, u8[::-1], u8[:, ::-1]], axis=-1) * 255).astype(np.uint8)  # three different channels
    write_image(d / "rgb.tif", rgb, "YXS", {"y": 0.1, "x": 0.1})
    st = read_image(SAMPLES / "anisotropic_zstack.tif")                        # ZCYX, z 0.8 um, xy 0.2 um
    vol = st.data[:12, 0, 80:104, 80:104]                                      # 12 planes x 24 x 24, nuclei
    write_image(d / "stack.tif", vol, "ZYX", {"z": 0.8, "y": 0.2, "x": 0.2})
    return d


CASES = {          # name: (input, extra options)
    "lateral": ("fluo.tif", ["--scale", "2"]),
    "rgb": ("rgb.tif", ["--scale", "2"]),
    "axial": ("stack.tif", ["--axial", "4", "--z-fwhm", "1"]),
}


@pytest.fixture(scope="module")
def exported(images):
    """Each case trained once with --save-model NAME.zip (and once more as a plain model file)."""
    out = {}
    for name, (src, opts) in CASES.items():
        d = images
        assert main([str(d / src), "-o", str(d / f"{name}_trained.tif"), "--save-model", str(d / f"{name}.zip"),
                     "--author", "Test Author", *opts, *FAST]) == 0
        out[name] = d / f"{name}.zip"
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_package_validates_passes_core_test_and_reproduces_zssr_model(name, images, exported):
    from bioimageio.core import create_prediction_pipeline, load_description, predict, test_model
    pkg = exported[name]
    d = images
    assert pkg.stat().st_size < 5 * 2 ** 20
    summary = test_model(pkg)
    assert summary.status == "passed", [(x.name, [e.msg for e in x.errors]) for x in summary.details if x.errors]
    descr = load_description(pkg)
    assert descr.license == "CC-BY-4.0" and descr.authors[0].name == "Test Author"
    assert {"torchscript", "pytorch_state_dict"} <= {w for w, e in descr.weights if e is not None}
    cfg = package_info(pkg)                                          # rdf.yaml's config.napari_zssr
    assert cfg["mode"] == ("axial" if name == "axial" else "lateral")
    src, opts = CASES[name]
    # --model NAME.zip applies the network as the run that trained it
    assert main([str(d / src), "-o", str(d / f"{name}_applied.tif"), "--model", str(pkg), *opts, *FAST]) == 0
    applied = read_image(d / f"{name}_applied.tif").data
    trained = read_image(d / f"{name}_trained.tif").data
    assert np.array_equal(applied, trained)
    # the package run by bioimageio.core on the whole training image gives the same within 1e-4
    img = read_image(d / src)
    x = img.data.astype(np.float32)
    x = np.moveaxis(x, -1, 0)[None] if img.axes.endswith("S") else x[None, None]
    out = predict(model=create_prediction_pipeline(descr, weight_format="torchscript"), inputs={"input": x})
    y = out.members["output"].data.values[0]
    want = np.moveaxis(applied, -1, 0) if img.axes.endswith("S") else applied[None]
    assert y.shape == want.shape
    span = max(n["hi"] - n["lo"] for n in cfg["normalisation"])
    assert np.abs(y - want).max() / span <= 1e-4
    # the README says what it was trained on and its limit
    readme = zipfile.ZipFile(pkg).read("README.md").decode()
    assert src in readme and "same acquisition" in readme


def test_export_subcommand_from_a_model_file_and_its_errors(images, capsys, monkeypatch):
    d = images
    assert main([str(d / "fluo.tif"), "-o", str(d / "f_t.tif"), "--save-model", str(d / "fluo.zssr"),
                 "--scale", "2", *FAST]) == 0
    import httpx
    online = []                                   # the export never goes on the network (cited URLs included)
    monkeypatch.setattr(httpx, "request", lambda *a, **k: online.append(a) or (_ for _ in ()).throw(OSError("net")))
    monkeypatch.setattr(httpx, "get", lambda *a, **k: online.append(a) or (_ for _ in ()).throw(OSError("net")))
    assert main(["export", str(d / "fluo.zssr"), "-o", str(d / "fluo_export.zip"), "--license", "CC0-1.0",
                 "-q"]) == 0
    assert online == []
    monkeypatch.undo()
    with zipfile.ZipFile(d / "fluo_export.zip") as zf:
        names = set(zf.namelist())
        assert {"rdf.yaml", "weights_torchscript.pt", "weights_state_dict.pt", "zssr_inference.py", "cover.png",
                "test_input.npy", "test_output.npy", "napari_zssr_model.safetensors"} <= names
        inside = zf.read("napari_zssr_model.safetensors")
        assert "CC0-1.0" in zf.read("rdf.yaml").decode()
    # the attached model file is the saved one, less the training image's folder
    from safetensors.torch import load as load_tensors
    saved = (d / "fluo.zssr").read_bytes()
    def header(b: bytes) -> str:
        return b[8:8 + int.from_bytes(b[:8], "little")].decode()
    assert str(d) in header(saved) and str(d) not in header(inside) and "fluo.tif" in header(inside)
    a, b = load_tensors(inside), load_tensors(saved)
    assert a.keys() == b.keys() and all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    from bioimageio.spec import load_description
    from bioimageio.spec.model.v0_5 import ModelDescr
    assert isinstance(load_description(d / "fluo_export.zip"), ModelDescr)        # validates (format 0.5)
    capsys.readouterr()
    cases = [
        (["export", str(d / "fluo.zssr"), "-o", str(d / "bad.zip"), "--license", "not-a-licence"], "licence"),
        (["export", str(d / "fluo.zssr"), "-o", str(d / "bad.zip"), "--image", str(d / "rgb.tif")], "channel"),
        (["export", str(d / "fluo.zssr"), "-o", str(d / "bad.zssr")], ".zip"),
        (["export", str(d / "nothing.zssr"), "-o", str(d / "bad.zip")], "no such model file"),
        (["export", str(d / "fluo.zssr"), "-o", str(d / "fluo_export.zip")], "exists"),
    ]
    for argv, why in cases:
        assert main(argv) == 2, argv
        assert why in _one_error_line(capsys)
    assert not (d / "bad.zip").exists() and not (d / "bad.zssr").exists()


def test_corrupt_foreign_or_mismatched_packages_are_refused_with_one_line(images, exported, capsys):
    d = images
    good = exported["lateral"].read_bytes()
    (d / "corrupt.zip").write_bytes(good[: len(good) // 2])                      # truncated download
    (d / "notzip.zip").write_bytes(b"not a zip at all")
    with zipfile.ZipFile(d / "foreign.zip", "w") as zf:                          # another tool's package
        zf.writestr("rdf.yaml", "format_version: 0.5.4\ntype: model\nname: UNet 2D nuclei\n")
    with zipfile.ZipFile(exported["lateral"]) as src, zipfile.ZipFile(d / "tampered.zip", "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "napari_zssr_model.safetensors":
                data = data[:-4] + b"\0\0\0\0"                                   # weights changed after export
            dst.writestr(item, data)
    assert hashlib.sha256(good).hexdigest()                                      # (the good one is untouched)
    capsys.readouterr()
    cases = [
        ("corrupt.zip", [], "not a readable bioimage.io package"),
        ("notzip.zip", [], "not a readable bioimage.io package"),
        ("foreign.zip", [], "not exported by napari-zssr"),
        ("tampered.zip", [], "checksum"),
        ("lateral.zip", ["--axial", "2"], "lateral mode"),                      # another mode
        ("lateral.zip", ["--scale", "3"], "factors"),                           # another factor
        ("rgb.zip", [], "channel"),                                             # 3-channel net, 1-channel image
    ]
    for pkg, extra, why in cases:
        out = d / f"refused_{pkg}.tif"
        code = main([str(d / "fluo.tif"), "-o", str(out), "--model", str(d / pkg), *extra, *FAST])
        assert code == 2, pkg
        line = _one_error_line(capsys)
        assert why in line, line
        assert not out.exists()


def test_widget_saves_the_network_as_model_file_and_package_and_reuses_them(zssr_viewer, qtbot, tmp_path):
    from conftest import wait_done
    viewer, open_widget = zssr_viewer()
    crop = read_image(SAMPLES / "fluorescence_2d.tif").data[136:168, 128:160].astype(np.float32)
    viewer.add_image(crop, name="cells", scale=(0.1, 0.1))
    widget = open_widget(max_iters=5)
    assert not widget.save_button.isEnabled()
    assert widget.save_network(str(tmp_path / "early.zip")) is None and "run ZSSR first" in widget.last_error
    widget.image.value = viewer.layers["cells"]
    widget.run()
    wait_done(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    first = np.asarray(viewer.layers["cells ZSSR x2"].data)
    assert widget.save_button.isEnabled()
    pkg, plain = widget.save_network(str(tmp_path / "cells.zip")), widget.save_network(str(tmp_path / "cells.zssr"))
    assert pkg.is_file() and plain.is_file()
    info = package_info(pkg)
    assert info["mode"] == "lateral" and info["factors"] == {"y": 2.0, "x": 2.0} and info["pixel_sizes"]["x"] == 0.1
    from bioimageio.spec import load_description
    from bioimageio.spec.model.v0_5 import ModelDescr
    assert isinstance(load_description(pkg), ModelDescr)
    assert widget.save_network(str(tmp_path / "cells.zip")) is None and "exists" in widget.last_error
    # the package is a model the widget reuses: the same result without training
    widget.model_path.value = str(pkg)
    widget.run()
    wait_done(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    assert np.array_equal(np.asarray(viewer.layers[-1].data), first)


@pytest.mark.parametrize("gain, withheld, says", [(2.5, False, "+2.50 dB PSNR over cubic"),
                                                  (None, True, "not reported: the z lines differ"),
                                                  (None, False, "not measured")])
def test_the_package_readme_withholds_an_expected_gain_the_run_withheld(gain, withheld, says):
    from napari_zssr.modelzoo import _doc
    net = {"channels": 1, "depth": 8, "width": 32, "ensemble": False, "bp_iters": [0]}
    info = {"factors": {"Z": 4.0}, "mode": "axial", "networks": [net],
            "expected_gain_db": gain, "expected_gain_withheld": withheld, "axes": "ZYX"}
    text = _doc(info, "n", "n.zip")
    assert says in text and ("over cubic interpolation, estimated" in text) is (gain is not None)
