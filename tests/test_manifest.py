"""The npe2 manifest: valid, importable, and every contribution reachable from napari."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from npe2 import PluginManifest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ("fluorescence_2d", "anisotropic_zstack", "timeseries")


@pytest.fixture(scope="module")
def manifest() -> PluginManifest:
    return PluginManifest.from_distribution("napari-zssr")


def test_manifest_valid_and_importable(manifest):
    assert manifest.name == "napari-zssr"
    manifest.validate_imports()                      # every python_name resolves
    same = PluginManifest.from_file(ROOT / "napari_zssr" / "napari.yaml")
    assert same.name == manifest.name


def test_manifest_contributions(manifest):
    c = manifest.contributions
    assert [w.display_name for w in c.widgets] == ["Zero-Shot Super-Resolution"]
    assert any("*.tif" in r.filename_patterns for r in c.readers)
    writer, = c.writers
    assert [t.value if hasattr(t, "value") else str(t) for t in writer.layer_types] == ["image"]
    assert ".tif" in writer.filename_extensions
    assert sorted(s.key for s in c.sample_data) == sorted(SAMPLES)


def test_sample_files_are_package_data():
    for key in SAMPLES:
        assert (ROOT / "napari_zssr" / "sample_data" / f"{key}.tif").is_file(), key


def test_samples_load_with_physical_scale(make_napari_viewer_proxy):
    viewer = make_napari_viewer_proxy()
    for key in SAMPLES:
        layers = viewer.open_sample("napari-zssr", key)
        assert layers, key
    stack = [layer for layer in viewer.layers if layer.name.startswith("anisotropic_zstack")]
    assert len(stack) == 2                           # two channels -> two layers
    for layer in stack:
        assert layer.ndim == 3
        np.testing.assert_allclose(layer.scale, [0.8, 0.2, 0.2], rtol=1e-4)
        assert str(layer.units[-1]) == "micrometer"


def test_widget_opens_from_manifest(make_napari_viewer_proxy):
    viewer = make_napari_viewer_proxy()
    dock, widget = viewer.window.add_plugin_dock_widget("napari-zssr", "Zero-Shot Super-Resolution")
    assert type(widget).__name__ == "ZSSRWidget"
    assert widget.run_button.text() == "Run"


@pytest.mark.skipif(not (ROOT / "setup.cfg").exists(), reason="needs the source tree")
def test_wheel_ships_manifest_and_samples(tmp_path):
    """A non-editable install must find napari.yaml and the sample TIFFs inside the package."""
    pytest.importorskip("setuptools")
    # build from a clean copy: an in-tree build/ left by an earlier build could hide a mistake
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "napari_zssr", src / "napari_zssr",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (src / "sample_data").symlink_to("napari_zssr/sample_data")   # as in the repository
    out = tmp_path / "wheel"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel, = out.glob("napari_zssr-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "napari_zssr/napari.yaml" in names
    assert not [n for n in names if n.startswith("sample_data/")]   # no stray top-level package
    for key in SAMPLES:
        assert f"napari_zssr/sample_data/{key}.tif" in names, key
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "napari-zssr = napari_zssr:napari.yaml" in text
