"""Bookkeeping of a batch: inputs, output names, checksums, the manifest and the summary.

No algorithm and no dask here. The manifest (`zssr-manifest.json` in OUT_DIR) records per input:
its path, size, mtime and sha256, the parameters (and their sha256), the output path and its
sha256, the status (done / failed / cancelled / pending), times and the quality figure. A rerun
skips an input whose record says done and whose input, parameters and output checksums still
match; everything else is redone. Only the batch's client process writes the manifest, always
atomically (temp file + rename), so a crash leaves the previous version intact.
"""
from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy as np

from ..io._write import atomic_file

MANIFEST_NAME = "zssr-manifest.json"
SUMMARY_NAME = "zssr-summary.json"
LOCK_NAME = ".zssr-batch.lock"
MANIFEST_FORMAT = "napari-zssr-batch-manifest/1"
SUMMARY_FORMAT = "napari-zssr-batch-summary/1"
IMAGE_EXTS = (".tif", ".tiff", ".png")
STATUSES = ("done", "skipped", "failed", "cancelled")


class UsageError(ValueError):
    """Bad inputs or output folder for the batch as a whole (exit status 2); one line."""


# --- inputs and output names ------------------------------------------------------------------

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


# --- checksums and parameters -----------------------------------------------------------------

def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def file_facts(path: Path) -> dict:
    st = path.stat()
    return {"input_size": st.st_size, "input_mtime": st.st_mtime, "input_sha256": sha256_file(path)}


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return {"array_sha256": hashlib.sha256(np.ascontiguousarray(value, dtype=np.float64).tobytes()).hexdigest(),
                "shape": list(value.shape)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


# config fields that change where/how fast a result is computed, not what it is
_NOT_PARAMS = ("device", "num_threads", "tile")


def run_params(config, spec, *, axes: Optional[str], model_sha256: Optional[str],
               suffix: str) -> dict:
    """What decides the output of a task: the JSON the manifest stores and compares."""
    cfg = {k: v for k, v in config.to_dict().items() if k not in _NOT_PARAMS}
    nd = {k: v for k, v in spec.to_record().items() if k not in ("model", "tile")}
    nd["kernel"] = spec.kernel if spec.kernel is not None else "bicubic"   # an array: by its checksum
    return _jsonable({"config": cfg, "nd": nd, "axes": axes, "model_sha256": model_sha256, "suffix": suffix})


def params_sha256(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


# --- quality figure ---------------------------------------------------------------------------

def gain_db(rec_error: Optional[float], cubic_rec_error: Optional[float]) -> Optional[float]:
    """Gain of the network's reconstruction over cubic interpolation: 10 log10(cubic / rec) dB."""
    if not rec_error or not cubic_rec_error or rec_error <= 0 or cubic_rec_error <= 0:
        return None
    return float(10 * math.log10(cubic_rec_error / rec_error))


def quality(params: dict) -> dict:
    """rec_error / cubic_rec_error lists (one per trained network) -> per-file figures (means)."""
    rec = [r for r in params.get("rec_error") or [] if r is not None]
    cub = [c for c in params.get("cubic_rec_error") or [] if c is not None]
    gains = [g for g in (gain_db(r, c) for r, c in zip(params.get("rec_error") or [],
                                                          params.get("cubic_rec_error") or []))
             if g is not None]
    from ..quality.holdout import expected_gain
    return {
        # measured on held-out parts of the image (nd/holdout.py); gain_db is the in-sample figure
        "expected_gain_db": expected_gain(params),
        "rec_error": float(np.mean(rec)) if rec else None,
        "cubic_rec_error": float(np.mean(cub)) if cub else None,
        "gain_db": float(np.mean(gains)) if gains else None,
        "rec_errors": list(params.get("rec_error") or []),
        "cubic_rec_errors": list(params.get("cubic_rec_error") or []),
    }


# --- the manifest -----------------------------------------------------------------------------

def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def atomic_write_json(path: Path, obj) -> None:
    with atomic_file(Path(path), overwrite=True) as fh:
        fh.write((json.dumps(obj, indent=1, sort_keys=False) + "\n").encode("utf-8"))


@dataclass
class Manifest:
    path: Path
    entries: Dict[str, dict] = field(default_factory=dict)
    _saved_at: float = 0.0

    @classmethod
    def load(cls, out_dir: Path) -> "Manifest":
        path = out_dir / MANIFEST_NAME
        if not path.exists():
            return cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            entries = raw["entries"] if raw.get("format") == MANIFEST_FORMAT else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            entries = None
        if not isinstance(entries, dict):
            raise UsageError(f"{path}: not a zssr batch manifest (move it away to start afresh)")
        return cls(path, entries)

    def save(self, force: bool = True, every_s: float = 1.0) -> None:
        """Write now (force) or at most every `every_s` seconds."""
        if not force and time.monotonic() - self._saved_at < every_s:
            return
        atomic_write_json(self.path, {"format": MANIFEST_FORMAT, "updated": now_iso(), "entries": self.entries})
        self._saved_at = time.monotonic()

    def is_current(self, key: str, facts: dict, psha: str, output: Path) -> bool:
        """Done before with this input (sha256), these parameters and this output (sha256)?"""
        e = self.entries.get(key)
        if not e or e.get("status") != "done":
            return False
        if e.get("input_sha256") != facts["input_sha256"] or e.get("params_sha256") != psha:
            return False
        if e.get("output") != str(output) or not output.is_file() or not e.get("output_sha256"):
            return False
        return sha256_file(output) == e["output_sha256"]

    def owns(self, key: str, output: Path) -> bool:
        """The output at this path was (or was going to be) written by a batch for this input."""
        e = self.entries.get(key)
        return bool(e) and e.get("output") == str(output)


# --- the lock: one batch per OUT_DIR at a time --------------------------------------------------

class BatchLock:
    def __init__(self, out_dir: Path):
        self.path = out_dir / LOCK_NAME
        self.held = False

    def acquire(self) -> "BatchLock":
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self._stale():
                    self.path.unlink(missing_ok=True)
                    continue
                raise UsageError(f"another zssr batch is writing to {self.path.parent} ({self._holder()}); "
                                 f"remove {self.path} if it is not running") from None
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            self.held = True
            return self
        raise UsageError(f"cannot lock {self.path}")

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def _holder(self) -> str:
        info = self._read()
        return f"pid {info.get('pid', '?')} on {info.get('host', '?')} since {info.get('since', '?')}"

    def _stale(self) -> bool:
        """The holder was a process on this host that no longer runs."""
        info = self._read()
        if info.get("host") != socket.gethostname() or not isinstance(info.get("pid"), int):
            return False
        try:
            os.kill(info["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


# --- the summary ------------------------------------------------------------------------------

def summary_rows(records: List[dict]) -> List[dict]:
    keys = ("input", "output", "status", "seconds", "expected_gain_db", "rec_error", "cubic_rec_error", "gain_db",
            "message")
    return [{k: r.get(k) for k in keys} for r in records]


def write_summary(out_dir: Path, rows: List[dict], *, started: str, wall_s: float, exit_status: int,
                  argv: List[str], extra: Optional[dict] = None) -> Path:
    counts = {s: sum(r.get("status") == s for r in rows) for s in STATUSES}
    obj = {"format": SUMMARY_FORMAT, "started": started, "finished": now_iso(), "wall_s": round(wall_s, 3),
           "exit_status": exit_status, "argv": [str(a) for a in argv], "counts": counts, "files": rows}
    if extra:
        obj.update(extra)
    path = out_dir / SUMMARY_NAME
    atomic_write_json(path, obj)
    return path
