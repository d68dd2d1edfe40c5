"""Where a result may be written: extensions, folders, existing files, and never onto an input.

The one home of the output-path rules; `zssr`, `zssr batch` and the writer call these.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

OUTPUT_EXTS = (".tif", ".tiff", ".png")  # .ome.tif(f) included


class OutputPathError(ValueError):
    """An output path that must not be written; the message is one line."""


def same_file(a, b) -> bool:
    """True when `a` and `b` name one file: equal paths, a symlink or hard link, `..` detours."""
    try:
        if os.path.samefile(a, b):               # same inode: hard links, symlinks, other spellings
            return True
    except OSError:                              # one of them does not exist (yet)
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def check_not_input(output, inputs: Iterable) -> None:
    """Refuse to write `output` when it is one of `inputs` by any path (even with overwrite)."""
    for src in inputs:
        if src is not None and same_file(output, src):
            how = "" if os.path.abspath(output) == os.path.abspath(src) else f" (the same file as {src})"
            raise OutputPathError(f"{output}: is the input{how}; a result never replaces its input, "
                                  f"choose another output")


def check_output_path(output, overwrite: bool, inputs: Iterable = ()) -> Path:
    """A bad extension, a folder, a missing or read-only folder, an input, or an existing file
    without overwrite -> OutputPathError (one line). Returns the path."""
    out = Path(output)
    check_not_input(out, inputs)
    if not out.name.lower().endswith(OUTPUT_EXTS):
        raise OutputPathError(f"{out}: unknown output extension (use .tif, .tiff, .ome.tif or .png)")
    if out.is_dir():
        raise OutputPathError(f"{out}: is a directory")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise OutputPathError(f"{out}: directory {parent} does not exist")
    check_writable_dir(out, parent)
    if out.exists() and not overwrite:
        raise OutputPathError(f"{out}: file exists (pass --overwrite to replace it)")
    return out


def check_writable_dir(out, parent) -> None:
    """OutputPathError unless a file can be created in `parent` (the folder `out` goes into).

    A real probe, not only os.access: root passes every permission check, yet cannot write a
    read-only mount or /sys, and the failure would otherwise come after the training."""
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"{out}: directory {parent} is not writable")
    try:
        fd, probe = tempfile.mkstemp(prefix=".zssr-probe-", dir=parent)
    except OSError as exc:
        raise OutputPathError(f"{out}: directory {parent} is not writable ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def check_zarr_output_path(output, inputs: Iterable = ()) -> Path:
    """The output of a chunked run: named *.zarr, neither an input nor inside one (nor holding one),
    in an existing writable folder -> OutputPathError (one line). Whether an existing store may be
    resumed or replaced is the chunked run's rule (nd.chunked.check_output)."""
    out = Path(output)
    if not str(out).rstrip("/").lower().endswith(".zarr"):
        raise OutputPathError(f"{out}: the output of a chunked run is an OME-Zarr; name it *.zarr")
    for src in inputs:
        if src is None:
            continue
        a, b = Path(src).resolve(), out.resolve()
        if a == b or a in b.parents or b in a.parents:
            raise OutputPathError(f"{out}: the output must not be the input or inside it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise OutputPathError(f"{out}: directory {parent} does not exist")
    check_writable_dir(out, parent)
    return out
