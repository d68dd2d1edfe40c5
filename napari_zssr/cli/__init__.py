"""The `zssr` command: super-resolve TIFF/PNG files from the shell.

    zssr INPUT -o OUTPUT [options]          one image (napari_zssr.cli.single)
    zssr batch INPUTS... -o OUT_DIR [...]   many images (napari_zssr.cli.batch)
    zssr INPUT -o OUTPUT.zarr [options]     a volume bigger than memory, block by block (napari_zssr.cli.chunked)
    zssr export MODEL -o NAME.zip [...]     a saved network as a bioimage.io package (napari_zssr.cli.export)

Shared options live in napari_zssr.cli.options (add_common_options, config_from_args).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys

__all__ = ["main"]


def main(argv=None) -> int:
    """Entry point of the console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "batch":
        if importlib.util.find_spec("distributed") is None:     # the [batch] extra
            print("zssr batch: error: needs dask.distributed; install it with "
                  "pip install 'napari-zssr[batch]'", file=sys.stderr)
            return 2
        batch = importlib.import_module("napari_zssr.cli.batch")
        return batch.main(argv[1:])
    if argv and argv[0] == "export":     # a saved network as a bioimage.io package (issue 30)
        from .export import main as export_main
        return export_main(argv[1:])
    from .chunked import wants_chunked
    if wants_chunked(argv):                  # a .zarr output or input: the chunked path (issue 15)
        from .chunked import main as chunked_main
        return chunked_main(argv)
    from .single import main as single_main
    return single_main(argv)
