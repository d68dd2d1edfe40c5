"""The batch manifest: what a rerun may skip.

The manifest (`zssr-manifest.json` in OUT_DIR) records per input: its path, size, mtime and
sha256, the parameters (and their sha256), the output path and its sha256, the status (done /
failed / cancelled / pending), times and the quality figure. A rerun skips an input whose record
says done and whose input, parameters and output checksums still match; everything else is redone.
Only the batch's client process writes the manifest, always atomically (temp file + rename), so a
crash leaves the previous version intact. Beside it: inputs.py (discovery and output names),
checksums.py, quality_figures.py, lock.py, summary.py, errors.py.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path
from typing import Dict

from ..io import atomic_file
from .checksums import sha256_file
from .errors import UsageError

MANIFEST_NAME = "zssr-manifest.json"
MANIFEST_FORMAT = "napari-zssr-batch-manifest/1"


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
