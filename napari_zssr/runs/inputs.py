"""A batch's inputs and their output names: paths, globs and folders -> files; files -> stable,
unique output paths."""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from .errors import UsageError

IMAGE_EXTS = (".tif", ".tiff", ".png")


def _is_image(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(IMAGE_EXTS) and not path.name.startswith(".")


def expand_inputs(items: Iterable[str], out_dir: Optional[Path] = None, suffix: str = "_zssr") -> List[Path]:
    """Paths, globs or folders (-> their *.tif/*.tiff/*.png) as sorted, unique absolute paths.

    Files that look like this batch's own outputs (inside OUT_DIR, named *SUFFIX.tif) are not
    picked up by a folder or a glob, so `zssr batch data/ -o data/` does not eat its results.
    A path that does not exist or a pattern that matches nothing is a UsageError.
    """
    out_dir = out_dir.resolve() if out_dir else None
    found: Dict[str, Path] = {}

    def ours(p: Path) -> bool:
        if out_dir is None or p.parent != out_dir:
            return False
        low = p.name.lower()
        return any(low.endswith(f"{suffix.lower()}{e}") for e in (".tif", ".ome.tif"))

    for item in items:
        item = str(item)
        p = Path(item).expanduser()
        if p.is_dir():
            files = [c for c in sorted(p.iterdir()) if _is_image(c)]
            files = [f for f in files if not ours(f.resolve())]
            if not files:
                raise UsageError(f"{item}: folder holds no .tif/.tiff/.png files")
        elif p.exists():
            if not p.is_file():
                raise UsageError(f"{item}: not a regular file")
            files = [p]
        elif glob.has_magic(item):
            files = [Path(m) for m in sorted(glob.glob(os.path.expanduser(item), recursive=True))]
            files = [f for f in files if _is_image(f) and not ours(f.resolve())]
            if not files:
                raise UsageError(f"{item}: pattern matches no .tif/.tiff/.png files")
        else:
            raise UsageError(f"{item}: no such file or folder")
        for f in files:
            r = f.resolve()
            found.setdefault(str(r), r)
    if not found:
        raise UsageError("no input files")
    return sorted(found.values(), key=str)


def _stem(path: Path) -> str:
    name = path.name
    for ext in (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".png"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return path.stem


def output_names(inputs: List[Path], out_dir: Path, suffix: str = "_zssr",
                 previous: Optional[Dict[str, dict]] = None) -> Dict[str, Path]:
    """input -> OUT_DIR/<stem><suffix>.tif (.ome.tif for OME inputs); unique, stable over reruns.

    A name the manifest already gives an input is kept; clashing stems get their folder's name
    (then a number) in front.
    """
    previous = previous or {}
    names: Dict[str, Path] = {}
    taken = set()
    for p in inputs:                               # outputs already recorded keep their name
        prev = previous.get(str(p), {}).get("output")
        if prev and Path(prev).parent == out_dir and prev not in taken:
            names[str(p)] = Path(prev)
            taken.add(prev)
    stems: Dict[str, int] = {}
    for p in inputs:
        stems[_stem(p).lower()] = stems.get(_stem(p).lower(), 0) + 1
    for p in inputs:
        if str(p) in names:
            continue
        ext = ".ome.tif" if p.name.lower().endswith((".ome.tif", ".ome.tiff")) else ".tif"
        stem = _stem(p)
        if stems[stem.lower()] > 1:
            stem = f"{p.parent.name}_{stem}" if p.parent.name else stem
        cand, k = out_dir / f"{stem}{suffix}{ext}", 2
        while str(cand) in taken or str(cand).lower() in {t.lower() for t in taken}:
            cand, k = out_dir / f"{stem}-{k}{suffix}{ext}", k + 1
        names[str(p)] = cand
        taken.add(str(cand))
    return names
