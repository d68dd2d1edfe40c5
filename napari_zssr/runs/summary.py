"""The batch's summary file (zssr-summary.json): what happened to each input, counts, timing."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from .manifest import atomic_write_json, now_iso

SUMMARY_NAME = "zssr-summary.json"
SUMMARY_FORMAT = "napari-zssr-batch-summary/1"
STATUSES = ("done", "skipped", "failed", "cancelled")


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
