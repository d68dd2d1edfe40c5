"""`zssr export MODEL -o NAME.zip`: a saved network as a bioimage.io (BioImage Model Zoo) package.

Exit status: 0 written; 2 bad command line, model, image or output (one line on stderr, nothing
written); 1 unexpected failure (one line).
"""
from __future__ import annotations

import argparse
import os
import sys

from . import _ui
from .options import ZSSRArgumentParser, add_package_options

EPILOG = """\
examples:
  zssr cells.tif -o cells_x2.tif --scale 2 --save-model cells.zssr
  zssr export cells.zssr -o cells_x2.zip --author "Ada Lovelace" --license CC-BY-4.0
  zssr more_cells.tif -o more_x2.tif --model cells_x2.zip        (apply the package)

The package (bioimage.io format 0.5) holds torchscript and pytorch_state_dict weights of the
whole ZSSR inference, test tensors cut from the image the network was trained on (found through
the model file, or given with --image), a cover, documentation and the napari-zssr model file.
Needs bioimageio.spec: pip install 'napari-zssr[bioimageio]'.
"""


def build_parser() -> argparse.ArgumentParser:
    p = ZSSRArgumentParser(prog="zssr export", description="Export a network saved with --save-model as a "
                                                           "bioimage.io model package (.zip).",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="a model file written by --save-model (or a napari-zssr package)")
    p.add_argument("-o", "--output", metavar="NAME.zip", required=True, help="the package to write")
    p.add_argument("--image", metavar="PATH",
                   help="the image the network was trained on (default: the file the model records)")
    add_package_options(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing package")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary")
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:        # --help, or argparse's own usage error
        return int(exc.code or 0)
    from ..modelzoo import export_model_file
    try:
        out = export_model_file(args.model, args.output, image=args.image, license=args.license,
                                authors=args.author, overwrite=args.overwrite)
    except (ValueError, FileExistsError, OSError) as exc:      # ExportError, model or image refused
        _ui.error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return 2
    except Exception as exc:         # noqa: BLE001 -- one line, traceback on request
        if os.environ.get("ZSSR_DEBUG"):
            raise
        _ui.error(f"{type(exc).__name__}: {exc} (set ZSSR_DEBUG=1 for the traceback)")
        return 1
    if not args.quiet:
        _ui.info(f"wrote the bioimage.io package {out} ({out.stat().st_size / 2 ** 20:.2f} MB); "
                 f"apply it with zssr IN -o OUT --model {out}")
    return 0
