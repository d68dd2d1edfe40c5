"""`zssr INPUT -o OUTPUT [options]`: super-resolve one TIFF/PNG image into a new file.

Exit status: 0 done; 2 bad command line, input or output path (one line on stderr, nothing
written); 130 cancelled with Ctrl-C (nothing written); 1 unexpected failure (one line).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading

from ..engine.progress import Cancelled
from ..quality.holdout import summary as holdout_summary
from ..runs import file as _run
from . import _ui
from .options import (OptionError, ZSSRArgumentParser, add_common_options, add_model_options, config_from_args,
                      normalise_argv)

EPILOG = """\
examples:
  zssr cells.tif -o cells_x2.tif --scale 2
  zssr scan.png -o scan_x2.png --scale 2 --kernel gaussian:1.2
  zssr stack.tif -o stack_iso.tif --axial --z-fwhm 1.5um
  zssr batch *.tif -o results/ --scale 2        (many files; see zssr batch --help)

The output keeps the input's bit depth (integer results are rounded and clipped to its range,
the count is reported); use --dtype float32 and a .tif output for unclipped values.
Exit status: 0 done, 2 bad input or options (nothing written), 130 cancelled (Ctrl-C), 1 failure.
"""


def build_parser() -> argparse.ArgumentParser:
    p = ZSSRArgumentParser(
        prog="zssr",
        description="Zero-Shot Super-Resolution (Shocher, Cohen & Irani, CVPR 2018) of one TIFF or PNG\n"
                    "image, trained on the image itself. Writes a new file with updated pixel sizes\n"
                    "and the run's parameters.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="INPUT", help="input image (.tif/.tiff/.png)")
    p.add_argument("-o", "--output", metavar="OUTPUT", required=True,
                   help="output file; .tif/.tiff/.ome.tif or .png (8/16-bit only)")
    add_common_options(p)
    add_model_options(p)
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(normalise_argv(argv))
        config, spec = config_from_args(args)
        bar = _ui.ProgressBar(disable=args.quiet)
        with _ui.slow_stage(bar, "reading", str(args.input)):      # a big file: a stage from the first second
            prep = _run.prepare(args.input, args.output, spec, axes=args.axes, overwrite=args.overwrite)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except (OptionError, _run.InputError) as exc:
        if "bar" in locals():
            bar.close()
        _ui.error(str(exc))
        return 2
    except KeyboardInterrupt:
        _ui.error("cancelled; nothing written")
        return 130
    return _execute(prep, config, args, argv, bar)


class _WriteError(Exception):
    """Writing the result failed after the work (one line; the input is untouched)."""


def _execute(prep, config, args, argv, bar=None) -> int:
    from ..engine.progress import ProgressEvent

    cancel = threading.Event()
    bar = bar or _ui.ProgressBar(disable=args.quiet)
    like = prep.image.meta
    try:
        with _ui.sigint_cancels(cancel):
            result = _run.run(prep, config, progress=bar, cancel=cancel)
            if cancel.is_set():
                bar.close()
                raise Cancelled("cancelled")
            params = _run.output_params(result, like, argv, input=prep.input, output=prep.output)
            bar(ProgressEvent(stage="writing", message=str(prep.output)))
            try:
                _run.write(prep.output, result, like, params, input=prep.input, overwrite=args.overwrite)
            except FileExistsError:
                raise
            except OSError as exc:       # the folder became unwritable, or the disk is full
                raise _WriteError(f"{prep.output}: cannot write the output ({exc.strerror or exc})") from None
            if args.save_model and str(args.save_model).lower().endswith(".zip"):
                from dataclasses import replace

                from ..modelzoo import export_result          # a bioimage.io package (issue 30)
                export_result(result, replace(prep.image, axes=prep.axes), args.save_model,
                              overwrite=args.overwrite, inputs=[prep.input, prep.output],
                              license=args.license, authors=args.author)
            elif args.save_model:
                from ..nd import save_result_models
                save_result_models(result, args.save_model, overwrite=args.overwrite,
                                   inputs=[prep.input, prep.output])
    except (Cancelled, KeyboardInterrupt):
        bar.close()
        _ui.error("cancelled; nothing written")
        return 130
    except _WriteError as exc:
        bar.close()
        _ui.error(str(exc))
        return 2
    except FileExistsError as exc:       # appeared while we were working
        bar.close()
        _ui.error(f"{exc}")
        return 2
    except ValueError as exc:            # nd / io refuse the data (one-line messages)
        bar.close()
        _ui.error(f"{prep.input}: {exc}")
        return 2
    except Exception as exc:             # noqa: BLE001 -- one line, traceback on request
        bar.close()
        if os.environ.get("ZSSR_DEBUG"):
            raise
        _ui.error(f"{type(exc).__name__}: {exc} (set ZSSR_DEBUG=1 for the traceback)")
        return 1
    bar.close()
    for notice in result.notices:              # e.g. a constant channel: shown even with -q
        _ui.info(notice)
    quality, worse = holdout_summary(result.params)
    if worse:                                  # worse than cubic: said even with -q
        _ui.warning(worse)
    if not args.quiet:
        _ui.info(_run.summary(prep.output, result, like.unit))
        if quality:
            _ui.info(quality)
        if args.save_model:
            kind = "as a bioimage.io package " if str(args.save_model).lower().endswith(".zip") else ""
            _ui.info(f"saved the trained network(s) {kind}to {args.save_model} (apply with --model)")
    return 0
