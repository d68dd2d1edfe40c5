"""`zssr INPUT -o OUTPUT.zarr`: volumes bigger than memory, block by block into OME-Zarr.

Chosen by `zssr` when the output ends in .zarr or the input is an OME-Zarr (see wants_chunked). The
work is nd.chunked.run_chunked; this module only parses, prints and maps errors to exit codes.
Exit status: 0 done; 2 bad input, options or output path (one line, the input untouched);
130 cancelled (Ctrl-C; rerun the same command to resume); 1 unexpected failure.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading

from ..engine.progress import Cancelled
from ..quality.holdout import summary as holdout_summary
from . import _ui
from .options import (
    OptionError,
    ZSSRArgumentParser,
    add_chunked_options,
    add_common_options,
    add_model_options,
    config_from_args,
    normalise_argv,
)

EPILOG = """\
examples:
  zssr volume.zarr -o volume_x2.zarr --scale 2
  zssr stack.tif -o stack_iso.zarr --axial --workers 2
  zssr volume.zarr -o volume_iso.zarr --axial --scheduler tcp://10.0.0.5:8786

Blocks run as tasks on a dask cluster (a local one by default). A rerun of the same command after
a crash or Ctrl-C skips the blocks already written (each is verified) and gives the same result.
"""


def _output_arg(argv) -> str:
    for i, tok in enumerate(argv):
        if tok in ("-o", "--output") and i + 1 < len(argv):
            return argv[i + 1]
        if tok.startswith("--output="):
            return tok.split("=", 1)[1]
    return ""


def wants_chunked(argv) -> bool:
    """Whether a `zssr` command line is a chunked run: a .zarr output, or an OME-Zarr input."""
    from ..io.ome_zarr import is_zarr_path

    if argv and argv[0] == "batch":
        return False
    if _output_arg(argv).rstrip("/").lower().endswith(".zarr"):
        return True
    first = next((t for t in argv if not t.startswith("-")), None)
    return first is not None and is_zarr_path(first)


def build_parser() -> argparse.ArgumentParser:
    p = ZSSRArgumentParser(
        prog="zssr", description="Zero-Shot Super-Resolution of a volume bigger than memory, block by block,\n"
                                 "into an OME-Zarr store (NGFF 0.5 with a pyramid).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="INPUT", help="OME-Zarr (.zarr), TIFF, or a bioio format (.czi, .nd2, .lif)")
    p.add_argument("-o", "--output", metavar="OUTPUT", required=True, help="output OME-Zarr (.zarr)")
    add_common_options(p)
    add_model_options(p, save=False)
    g = p.add_argument_group("chunked runs (volumes bigger than memory)")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run the blocks on a running dask cluster")
    g.add_argument("--workers", type=int, default=1, metavar="N",
                   help="local cluster: N worker processes, one thread each (default 1)")
    add_chunked_options(g)
    return p


def main(argv=None) -> int:
    from ..nd.chunked import ClusterOptions, Source, TrainingSample, plan_summary, run_chunked

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(normalise_argv(argv))
        config, spec = config_from_args(args)
        if spec.planes != "shared":
            raise OptionError("a chunked run trains one network per channel; --per-plane/--warm-start do not apply")
        if args.workers < 1:
            raise OptionError("--workers must be at least 1")
    except SystemExit as exc:  # --help, or argparse's own exit 2
        return int(exc.code or 0)
    except OptionError as exc:
        _ui.error(str(exc))
        return 2
    cancel = threading.Event()
    bar = _ui.ProgressBar(disable=args.quiet)
    try:
        with _ui.sigint_cancels(cancel):
            res = run_chunked(Source(args.input, axes=args.axes), args.output, spec, config,
                              cluster=ClusterOptions(scheduler=args.scheduler, n_workers=args.workers,
                                                     processes=args.workers > 1),
                              sample=TrainingSample(args.train_planes), overwrite=args.overwrite,
                              progress=bar, cancel=cancel)
        bar.close()
        if res.cancelled:
            raise Cancelled("cancelled")
    except (Cancelled, KeyboardInterrupt):
        bar.close()
        _ui.error("cancelled; rerun the same command to resume")
        return 130
    except (ValueError, FileExistsError, OSError) as exc:
        bar.close()
        _ui.error(str(exc))
        return 2
    except Exception as exc:
        bar.close()
        if os.environ.get("ZSSR_DEBUG"):
            raise
        _ui.error(f"{type(exc).__name__}: {exc} (set ZSSR_DEBUG=1 for the traceback)")
        return 1
    quality, worse = holdout_summary(res.params)
    if worse:                                  # worse than cubic: said even with -q
        _ui.warning(worse)
    if not args.quiet:
        for notice in res.params.get("notices", []):
            _ui.info(notice)
        _ui.info(plan_summary(res))
        if quality:
            _ui.info(quality)
    return 0
