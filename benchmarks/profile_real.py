"""The slice-profile estimate on every real row of `axial_real.py`, without training (seconds a row).

    python benchmarks/profile_real.py                      # all rows -> results/real/profile_real.md
    python benchmarks/profile_real.py --rows iso-x4 --out /tmp/p.md

Each row's input is made exactly as `axial_real.py` makes it (reference, z blurred by a Gaussian slice
profile of p new z steps, sampled every f planes); `quality.profile_estimate.profile_record` then reads
the profile as a run would. Pass (issue 32): within +-25 % of p, or not used (the run falls back to one
step). This is the quick loop for work on the estimate; `axial_real.py` says what each reading costs.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from axial_real import degrade_z, iso_sigma, load_volumes, reference, row_names
from report import describe_device

from napari_zssr.quality.profile_estimate import profile_record

HERE = Path(__file__).resolve().parent


def verdict(rec: dict | None, p: float) -> str:
    """within (reliable and within 25 %), fallback (not used: one step), or off (used while off)."""
    if rec is None:
        return "fallback"
    if rec["reliable"] and abs(rec["z_fwhm_steps"] / p - 1) <= 0.25:
        return "within"
    return "fallback" if not rec["used"] else "off"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="iso,acq", help="comma-separated row-name prefixes")
    ap.add_argument("--out", default=str(HERE / "results" / "real" / "profile_real.md"))
    ap.add_argument("--records", default=str(HERE / "results" / "real" / "axial_real_profile.jsonl"),
                    help="each row's profile record, which axial_real.py's table merges by row ('' : none)")
    args = ap.parse_args(argv)
    vols = load_volumes()
    if not vols:
        print("no real volumes in ../shared/data/real: skipped")
        return 0
    sigmas = {v: iso_sigma(a) for v, a in vols.items()}
    wanted = [w for w in args.rows.split(",") if w]
    lines = ["# The slice-profile estimate on the real rows (issue 32)", "",
             f"Command: `python benchmarks/profile_real.py {' '.join(sys.argv[1:])}`", "", describe_device(), "",
             "| row | true (steps) | estimate | reliable | used | verdict | seconds |", "|---|---|---|---|---|---|---|"]
    counts: dict = {}
    records: list = []
    for name in row_names(vols):
        if not any(name.startswith(w) for w in wanted):
            continue
        kind, fs, ps, vname = name.split("-", 3)
        f, p = int(fs[1:]), float(ps[1:])
        raw = degrade_z(reference(vols[vname], kind, sigmas[vname]), f, p)
        t0 = time.perf_counter()
        rec = profile_record(raw, f)
        sec = time.perf_counter() - t0
        v = verdict(rec, p)
        records.append({"row": name, "profile_check": rec})
        counts[(kind, v)] = counts.get((kind, v), 0) + 1
        if rec is not None and abs(rec["z_fwhm_steps"] / p - 1) <= 0.25:      # reliable or not
            counts[(kind, "close")] = counts.get((kind, "close"), 0) + 1
        est = "-" if rec is None else f"{rec['z_fwhm_steps']:.2f}"
        lines.append(f"| {name} | {p:g} | {est} | {rec is not None and bool(rec['reliable'])} | "
                     f"{rec is not None and bool(rec['used'])} | {v} | {sec:.1f} |")
        print(lines[-1], flush=True)
    lines.append("")
    for kind in ("iso", "acq"):
        n = sum(c for (k, v), c in counts.items() if k == kind and v != "close")
        if n:
            lines.append(f"- **{kind}** ({n} rows): within 25 % on {counts.get((kind, 'within'), 0)}, not used "
                         f"(one step assumed) on {counts.get((kind, 'fallback'), 0)}, used while off by more than "
                         f"25 % on {counts.get((kind, 'off'), 0)}; the reading itself within 25 % on "
                         f"{counts.get((kind, 'close'), 0)} (reliable or not)")
    if args.records:
        Path(args.records).write_text("".join(json.dumps(r) + "\n" for r in records))
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print("\n".join(lines[-2:]))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
