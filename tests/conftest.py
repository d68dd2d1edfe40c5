"""Shared fixtures and markers.

Markers (registered in pyproject.toml): `gui` is set here on every test that opens a napari viewer or
uses qtbot (and on the widget modules); `slow` is set in the modules on the tests that cost most.
The quick loop skips both:  python -m pytest -q -m "not slow and not gui" tests
CI runs everything:         xvfb-run -a python -m pytest -q tests
"""
from __future__ import annotations

from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

# a test is a GUI test when it asks for a viewer or qtbot, or lives in a widget module
GUI_FIXTURES = {"make_napari_viewer", "make_napari_viewer_proxy", "qtbot", "zssr_viewer"}
GUI_MODULES = {"test_widget.py", "test_widget_big.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if GUI_FIXTURES & set(getattr(item, "fixturenames", ())) or item.path.name in GUI_MODULES:
            item.add_marker(pytest.mark.gui)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module (`pytestmark = pytest.mark.usefixtures("one_torch_thread")`): on a
    busy 2-core machine two spinning threads are many times slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

# Few iterations, no self-ensemble, tiny crops: the real engine, in seconds on 2 CPU cores.
# One CPU thread: the Qt main thread keeps a core, and a busy machine cannot stall torch's
# thread pool (two OpenMP threads sharing one free core made runs ~10x slower).
FAST = dict(max_iters=30, ensemble=False, crop_size=32, back_projection_iters=2, n_steps=1, seed=0, num_threads=1)
WIDGET_NAME = "Zero-Shot Super-Resolution"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def configure_fast(widget, **overrides) -> None:
    """Set the widget's form for a quick run (preset first: it resets the other fields)."""
    widget.preset.value = "default"
    values = dict(FAST, **overrides)
    for name, value in values.items():
        getattr(widget, name).value = value
    widget.device.value = "cpu"


@pytest.fixture
def zssr_viewer(make_napari_viewer_proxy):
    """A viewer (public-API proxy) and a function that docks the widget through the manifest."""
    def make(show: bool = False):
        viewer = make_napari_viewer_proxy(show=show)

        def open_widget(**fast_overrides):
            _dock, widget = viewer.window.add_plugin_dock_widget("napari-zssr", WIDGET_NAME)
            configure_fast(widget, **fast_overrides)
            return widget

        return viewer, open_widget

    return make


def wait_done(qtbot, widget, timeout: int = 300_000) -> None:
    """Wait until the widget's worker has finished (and the main-thread slots have run)."""
    qtbot.waitUntil(lambda: not widget.running, timeout=timeout)


def read_only_dirs(tmp_path: Path) -> list:
    """Folders nobody can create a file in: a chmod 555 folder (only when not root: root ignores the
    mode bits, and CI runs as root) and /sys (sysfs refuses new files to root too)."""
    import os

    dirs = []
    if os.geteuid() != 0:
        ro = tmp_path / "read_only"
        ro.mkdir()
        ro.chmod(0o555)
        dirs.append(ro)
    if Path("/sys").is_dir():
        dirs.append(Path("/sys"))
    assert dirs, "no read-only folder to test with on this machine"
    return dirs
