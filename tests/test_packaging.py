"""Packaging: the `zssr` command works without napari, magicgui, Qt or dask; setup.cfg declares
every third-party package the code imports."""
from __future__ import annotations

import ast
import configparser
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BLOCKED = ["napari", "magicgui", "qtpy", "superqt", "PyQt5", "PyQt6", "PySide2", "PySide6", "pint", "npe2",
           "dask", "distributed"]
# import name -> distribution name where they differ
DIST = {"PIL": "pillow", "skimage": "scikit-image", "yaml": "pyyaml", "distributed": "dask",
        "ome_zarr_models": "ome-zarr-models", "bioimageio": "bioimageio.spec"}


def _run_blocked(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Python with the GUI stack and dask made unimportable (sys.modules[name] = None)."""
    prelude = f"import sys\nfor m in {BLOCKED!r}: sys.modules[m] = None\n"
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", prelude + code], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=600)


def test_cli_imports_and_runs_without_napari_qt_or_dask(tmp_path):
    from napari_zssr.io import write_image
    rng = np.random.default_rng(0)
    write_image(tmp_path / "in.tif", (rng.random((16, 16)) * 1000).astype(np.uint16), "YX")
    code = (
        "import napari_zssr.cli, napari_zssr.cli.single, napari_zssr.nd, napari_zssr.io, napari_zssr.engine\n"
        "from napari_zssr.cli import main\n"
        f"assert not [m for m in {BLOCKED!r} if sys.modules.get(m) is not None]\n"
        "sys.exit(main(['in.tif', '-o', 'out.tif', '--max-iters', '3', '--no-ensemble', '--device', 'cpu', "
        "'--num-threads', '1', '-q']))\n")
    proc = _run_blocked(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.tif").exists()
    # `zssr batch` says what to install instead of a traceback
    proc = _run_blocked("from napari_zssr.cli import main\nsys.exit(main(['batch', 'in.tif', '-o', 'res']))\n",
                        tmp_path)
    assert proc.returncode == 2 and "napari-zssr[batch]" in proc.stderr and "Traceback" not in proc.stderr


def _requirements() -> tuple:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")

    def names(text):
        return {re.split(r"[\[<>=;! ]", line.strip())[0].lower() for line in text.splitlines() if line.strip()}
    install = names(cfg["options"]["install_requires"])
    extras = {k: names(v) for k, v in cfg["options.extras_require"].items()}
    return install, extras


def _imports(paths) -> set:
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"napari_zssr"}


def test_every_imported_package_is_declared():
    install, extras = _requirements()
    declared = install | set().union(*extras.values())
    used = {DIST.get(m, m).lower() for m in _imports((ROOT / "napari_zssr").rglob("*.py"))}
    assert used <= declared, f"imported but not declared: {sorted(used - declared)}"
    # the engine, nd, io and the CLI need only install_requires (the GUI and dask are extras; the
    # big-volume modules import zarr/dask/bioio lazily, for the [zarr] and [bioio] extras)
    extra_only = ("batch.py", "batch_runner.py", "tasks.py", "lazy.py", "ome_zarr.py", "blocks.py", "chunked.py",
                  "cluster.py")
    core = [p for sub in ("engine", "quality", "nd", "io", "runs", "cli")
            for p in (ROOT / "napari_zssr" / sub).rglob("*.py")
            if p.name not in extra_only]
    core_used = {DIST.get(m, m).lower() for m in _imports(core)}
    assert core_used <= install, f"core imports outside install_requires: {sorted(core_used - install)}"
    assert not {"napari", "magicgui", "qtpy", "superqt", "dask"} & install
    assert "scikit-image" not in install                     # only benchmarks use it
