"""The `zssr` command: super-resolve TIFF/PNG files from the shell.

    zssr INPUT -o OUTPUT [options]          one image (napari_zssr.cli.single)
    zssr batch INPUTS... -o OUT_DIR [...]   many images (napari_zssr.cli.batch)

Shared options live in napari_zssr.cli.options (add_common_options, config_from_args).
"""
from __future__ import annotations

import importlib
import sys

__all__ = ["main"]


def main(argv=None) -> int:
    """Entry point of the console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "batch":
        try:
            batch = importlib.import_module("napari_zssr.cli.batch")
        except ModuleNotFoundError as exc:
            if exc.name != "napari_zssr.cli.batch":
                raise
            print("zssr: error: the batch subcommand is not available in this installation", file=sys.stderr)
            return 2
        return batch.main(argv[1:])
    from .single import main as single_main
    return single_main(argv)
