"""Real-volume axial benchmark (issue 32): the axial defaults judged on real microscopy.

    python benchmarks/axial_real.py                     # every row into results/axial_real.jsonl, then the table
    python benchmarks/axial_real.py --rows iso-x4-p1-   # rows whose name starts with this (comma-separated)
    python benchmarks/axial_real.py --report            # only regenerate results/axial_real.md from the .jsonl

Volumes (read from ../shared/data/real, skipped cleanly when absent): the NEUBIAS nucleus, confocal
and widefield channels (z 0.499, xy 0.512 um), and two z halves of the brainreg mouse-brain crop.
Protocol (as the issue that asked for it): z is blurred by a Gaussian slice profile of FWHM p new z
steps and sampled every f planes (`simulate.degrade`, pixel-centre convention, no noise added: the
data has its own), then restored with `zssr --axial f` (`axial_with_estimate`), and compared with:
- **iso**: the volume after an xy Gaussian blur that makes its xy spectrum match its z spectrum (the
  sigma is fitted per volume, printed): xy planes then look like z lines, which is what an
  isotropic result should look like (the primary reference);
- **acq**: the volume as acquired (its z carries the microscope's wider axial blur).
Columns: cubic; the default; the default given the true profile (`--z-fwhm p`); and on the
`--alt-rows` rows the simple alternatives: always / never back-project (the default's network,
inference only), no noise on the sons, random init, `--preset paper`; `--columns oracle`: the same
network and schedule trained on the truth's own z lines (an upper bound, see `oracle`). Every run's record is one JSON
line, appended as it finishes, so a long run can be stopped and resumed (`--resume` skips rows done).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from axial import interp_z
from realistic_rows import metrics

from napari_zssr.quality.profile_estimate import FWHM_PER_SIGMA

HERE = Path(__file__).resolve().parent
REAL = HERE.parent.parent / "shared" / "data" / "real"
FACTORS = (2, 3, 4, 6)
PROFILES = (0.7, 1.0, 1.5)
ALTERNATIVES = ("always_bp", "never_bp", "no_noise_sons", "random_init", "paper")


def load_volumes(root: Path = REAL) -> dict:
    """name -> float32 (Z, Y, X) volume; {} when the shared data is absent."""
    import tifffile
    vols = {}
    nb, br = root / "neubias_dna_conf_wf.tif", root / "brainreg_brain_crop_zyx.tif"
    if nb.exists():
        a = tifffile.imread(nb).astype(np.float32)          # ZCYX
        vols["conf"], vols["wf"] = a[:, 0], a[:, 1]
    if br.exists():
        b = tifffile.imread(br).astype(np.float32)          # ZYX 128 x 128 x 160
        vols["brain-a"], vols["brain-b"] = b[:64], b[64:]
    return vols


def _spectrum(vol: np.ndarray, axis: int) -> np.ndarray:
    """Mean power spectrum of the lines along `axis` (mean removed, Hann window), rfft bins."""
    x = np.moveaxis(vol, axis, -1).astype(np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    x = x * np.hanning(x.shape[-1])
    return (np.abs(np.fft.rfft(x, axis=-1)) ** 2).reshape(-1, x.shape[-1] // 2 + 1).mean(0)


def iso_sigma(vol: np.ndarray) -> float:
    """The xy Gaussian sigma (pixels) that makes the xy lines' power spectrum match the z lines'
    (shape only, over 0.05-0.35 cycles per pixel, xy resampled to the z lines' bins)."""
    pz = _spectrum(vol, 0)
    kz = np.fft.rfftfreq(vol.shape[0])
    pxy = [np.interp(kz, np.fft.rfftfreq(vol.shape[a]), _spectrum(vol, a)) for a in (1, 2)]
    pxy = 0.5 * (pxy[0] + pxy[1])
    band = (kz >= 0.05) & (kz <= 0.35)
    d = np.log(pz[band]) - np.log(pxy[band])          # z over xy: offset free (object extents differ)
    best, best_cost = 0.0, np.inf
    for s in np.arange(0.0, 2.001, 0.02):
        r = d + (2 * np.pi * kz[band] * s) ** 2
        cost = float(np.var(r))
        if cost < best_cost:
            best, best_cost = float(s), cost
    return best


def reference(vol: np.ndarray, kind: str, sigma: float) -> np.ndarray:
    from scipy import ndimage
    if kind == "acq" or sigma == 0:
        return vol
    return ndimage.gaussian_filter(vol, (0, sigma, sigma), mode="reflect").astype(np.float32)


def degrade_z(ref: np.ndarray, f: int, p: float) -> np.ndarray:
    from napari_zssr.testing.simulate import degrade
    return degrade(ref, z_step=f, z_sigma_px=p * f / FWHM_PER_SIGMA, xy_sigma=0.0, photons=None, read_noise=0.0)


def row_names(vols, refs=("iso", "acq")):
    """Every row, the most telling first (x4, one-step profile) so a stopped run has told the most."""
    names = [f"{r}-x{f}-p{p:g}-{v}" for r in refs for f in FACTORS for p in PROFILES for v in vols]
    order = {2: 1, 3: 3, 4: 0, 6: 2}
    return sorted(names, key=lambda n: (n.split("-")[0] != "iso", n.split("-")[2] != "p1",
                                        order[int(n.split("-")[1][1:])]))


def run_row(name: str, vol: np.ndarray, sigma: float, cfg, columns: set) -> dict:
    """One row's record: cubic, and each of `columns` ("default" with its network re-applied with and
    without back-projection, "given": --z-fwhm p, "one_step": --z-fwhm 1, "alternatives")."""
    from napari_zssr.engine import ZSSRConfig
    from napari_zssr.nd import super_resolve_nd
    from napari_zssr.testing.estimates import axial_with_estimate
    ref_kind, fs, ps, vname = name.split("-", 3)
    f, p = int(fs[1:]), float(ps[1:])
    ref = reference(vol, ref_kind, sigma)
    raw = degrade_z(ref, f, p)
    rec = {"row": name, "ref": ref_kind, "factor": f, "profile": p, "volume": vname, "sigma_iso": sigma,
           "shape_in": list(raw.shape)}
    rec["cubic"] = metrics(ref, interp_z(raw, f, "cubic"))

    def one(key, **kw):
        c0 = time.process_time()
        run = axial_with_estimate(raw, scale=f, **kw)
        q = (run.result.params.get("quality") or [None])[0] or {}
        prof = run.result.params.get("z_fwhm_estimate") or {}
        rec[key] = {"metrics": metrics(ref, run.result.data), "cpu_s": time.process_time() - c0,
                    "expected_db": q.get("expected_gain_db"),
                    "bp": (q.get("back_projection") or {}).get("used", not prof.get("narrower_than_one_step")),
                    "fwhm_est_steps": prof.get("z_fwhm_steps"), "fwhm_reliable": prof.get("reliable"),
                    "fwhm_used": prof.get("used"), "fit_cost": prof.get("fit_cost"),
                    "held_out_trusted": q.get("held_out_trusted", True), "quality": q}
        print(f"  {name} {key}: {rec[key]['metrics'][0]:.2f} dB (cubic {rec['cubic'][0]:.2f}), "
              f"expected {q.get('expected_gain_db')}, {rec[key]['cpu_s']:.0f} CPU s", flush=True)
        return run

    if "given" in columns:
        one("given", config=cfg, z_fwhm=p)
    if "one_step" in columns:
        one("one_step", config=cfg, z_fwhm=1.0)
    for col in sorted(c for c in columns if c.startswith("assume")):     # e.g. assume0.8: another fallback
        one(col, config=cfg, z_fwhm=float(col[len("assume"):]))
    if "default" in columns:      # the default's network with and without back-projection: inference only
        run = one("default", config=cfg)
        for key, bp in (("always_bp", cfg.back_projection_iters or 10), ("never_bp", 0)):
            c0 = time.process_time()
            icfg = cfg.replace(back_projection_auto=False, back_projection_iters=bp, holdout_fraction=0.0)
            prof = run.result.params.get("z_fwhm_estimate") or {}
            z_fwhm = prof.get("z_fwhm_steps") if prof.get("used") else None
            out = super_resolve_nd(raw, "ZYX", mode="axial", scale=f, config=icfg, model=run.result.models,
                                   z_fwhm=z_fwhm)
            rec[key] = {"metrics": metrics(ref, out.data), "cpu_s": time.process_time() - c0}
        # the same network with the geometric self-ensemble on every slice (off for axial runs today)
        c0 = time.process_time()
        icfg = cfg.replace(stack_ensemble=True, back_projection_auto=False, holdout_fraction=0.0,
                           back_projection_iters=cfg.back_projection_iters if rec["default"]["bp"] else 0)
        out = super_resolve_nd(raw, "ZYX", mode="axial", scale=f, config=icfg, model=run.result.models, z_fwhm=z_fwhm)
        rec["ensemble"] = {"metrics": metrics(ref, out.data), "cpu_s": time.process_time() - c0}
        print(f"  {name} ensemble: {rec['ensemble']['metrics'][0]:.2f} dB, {rec['ensemble']['cpu_s']:.0f} CPU s",
              flush=True)
    if "oracle" in columns:
        c0 = time.process_time()
        out = oracle(raw, ref, f, p, cfg)
        rec["oracle"] = {"metrics": metrics(ref, out), "cpu_s": time.process_time() - c0}
        print(f"  {name} oracle: {rec['oracle']['metrics'][0]:.2f} dB", flush=True)
    if "alternatives" in columns:
        one("no_noise_sons", config=cfg, noise_aware=False)
        one("random_init", config=cfg.replace(init="random"))
        one("paper", config=ZSSRConfig.from_preset("paper", num_threads=cfg.num_threads))
    return rec


def oracle(raw: np.ndarray, ref: np.ndarray, f: int, p: float, cfg) -> np.ndarray:
    """The default's network, prior and schedule, given the true profile, but trained on the xz and yz
    slices of the reference itself (degraded in z by the engine as the input was) instead of on xy
    planes. It has seen the very lines it is scored on, so it is an upper bound for what learning
    from the data can reach with this network, not a method: where it gains little over the
    default, the content limits the gain, not the choice of training data."""
    from unittest import mock

    import napari_zssr.nd.in_memory as in_memory
    from napari_zssr.nd import super_resolve_nd
    from napari_zssr.nd.intensity import Normalizer
    norm = Normalizer.fit(raw)                                  # the run's own intensity mapping
    r = norm.forward(ref)
    lines = [r[:, y][None] for y in range(r.shape[1])] + [r[:, :, x][None] for x in range(r.shape[2])]
    real = in_memory.train_checked

    def on_truth(*a, **kw):                                     # the one place training data is chosen
        return real(*a, **{**kw, "sources": lines})
    with mock.patch.object(in_memory, "train_checked", on_truth):
        out = super_resolve_nd(raw, "ZYX", mode="axial", scale=f, z_fwhm=p, axial_method="zssr",
                               config=cfg.replace(holdout_fraction=0.0))
    return out.data


def _age(commit) -> int:
    """How many commits lead to `commit` (a later commit counts more; unknown: 0)."""
    out = os.popen(f"git -C {HERE} rev-list --count {commit} 2>/dev/null").read().strip() if commit else ""
    return int(out) if out.isdigit() else 0


def report(jsonl: Path, out: Path) -> str:
    from report import describe_device
    recs = {}
    for path in sorted(jsonl.parent.glob(jsonl.stem + "*.jsonl")):     # the parallel halves of one run
        for line in path.read_text().splitlines():
            r = json.loads(line)
            old = recs.get(r["row"], {})
            if "default" in r and "default" in old and _age(r.get("commit")) < _age(old.get("default_commit")):
                r = {k: v for k, v in r.items() if k not in ("default", "always_bp", "never_bp", "ensemble")}
            recs[r["row"]] = old | r                          # columns from several runs of a row
            if "default" in r:                                # the newest code's default wins
                recs[r["row"]]["default_commit"] = r.get("commit", "?")
    recs = {k: r for k, r in recs.items() if "default" in r}
    rows = sorted(recs.values(), key=lambda r: (r["ref"] != "iso", r["factor"], r["profile"], r["volume"]))
    head = rows[0] if rows else {}
    lines = ["# Real-volume axial benchmark (issue 32)", "",
             f"Machine: {head.get('device', describe_device())}; each row names the commit that made it "
             f"(the default is the code's at that commit); regenerate: `python benchmarks/axial_real.py --report`.",
             "",
             "Gain: ZSSR - cubic PSNR (dB); SSIM run / cubic; exp.: the run's expected gain over cubic "
             "(err = expected - true gain); FWHM est: the slice-profile estimate in z steps (true: p), "
             "'u' unreliable (then one step is used). given: the run with `--z-fwhm p`. 'w' after exp.: the figure "
             "is withheld from the user (the z lines differ from the xy planes beyond a slice profile: "
             "`quality.holdout.held_out_untrusted`), only a range is reported; the held-out measurement is shown.", "",
             "| row | sigma iso | cubic dB | default gain | SSIM run / cubic | exp. | err | BP | FWHM est "
             "| always BP | never BP | given gain | given SSIM | given exp. | one step gain | CPU s | made by |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c, d = r["cubic"], r["default"]
        g = r.get("given") or {"metrics": [float("nan")] * 2, "expected_db": None}
        gain = d["metrics"][0] - c[0]
        err = (d["expected_db"] - gain) if d["expected_db"] is not None else float("nan")
        est = d.get("fwhm_est_steps")
        shown = f"{(d['expected_db'] or float('nan')):+.2f}" + ("" if trusted(r) else " w")
        lines.append(
            f"| {r['row']} | {r['sigma_iso']:.2f} | {c[0]:.2f} | {gain:+.2f} | {d['metrics'][1]:.3f} / {c[1]:.3f} | "
            f"{shown} | {err:+.2f} | {d['bp']} | "
            f"{'-' if est is None else f'{est:.2f}'}{_profile_flag(d)} | "
            f"{r['always_bp']['metrics'][0] - c[0]:+.2f} | {r['never_bp']['metrics'][0] - c[0]:+.2f} | "
            f"{g['metrics'][0] - c[0]:+.2f} | {g['metrics'][1]:.3f} | {(g['expected_db'] or float('nan')):+.2f} | "
            f"{r['one_step']['metrics'][0] - c[0] if 'one_step' in r else float('nan'):+.2f} | {d['cpu_s']:.0f} | "
            f"{r.get('default_commit', '?')} |")
    alt = [r for r in rows if "paper" in r or "oracle" in r]
    if alt:
        lines += ["", "## The simple alternatives (gain over cubic, dB; SSIM)", "",
                  "| row | cubic SSIM | default | given | " + " | ".join(ALTERNATIVES) + " | oracle (bound) |",
                  "|---|---|---|---|" + "---|" * (len(ALTERNATIVES) + 1)]
        for r in alt:
            c = r["cubic"]
            cell = [f"{r[k]['metrics'][0] - c[0]:+.2f} / {r[k]['metrics'][1]:.5f}" if k in r else "-"
                    for k in ("default", "given") + ALTERNATIVES + ("oracle",)]
            lines.append(f"| {r['row']} | {c[1]:.5f} | " + " | ".join(cell) + " |")
        lines += ["", "oracle: the default's network, prior and schedule trained on the reference's own xz/yz "
                  "slices (it has seen the lines it is scored on): an upper bound for this network, not a method."]
    lines += ["", summary(rows)]
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    return text


def _profile_flag(d) -> str:
    """' u': the estimate said it is unreliable; ' n': reliable but not used (wider than one step
    with a poor Gaussian fit); either way the run assumed one step."""
    if not d.get("fwhm_reliable"):
        return " u"
    return "" if d.get("fwhm_used", True) else " n"


def profile_check(rs) -> str:
    """The slice-profile estimate within +-25 % of the applied profile, or falling back to one step."""
    ok = fell_back = 0
    for r in rs:
        d = r["default"]
        est, used = d.get("fwhm_est_steps"), d.get("fwhm_reliable") and d.get("fwhm_used", True)
        if est is not None and d.get("fwhm_reliable") and abs(est / r["profile"] - 1) <= 0.25:
            ok += 1
        elif not used:
            fell_back += 1
    return (f"slice-profile estimate within 25 % on {ok}, off by more and so not used (one step assumed) on "
            f"{fell_back}, used while off by more than 25 % on {len(rs) - ok - fell_back}")


def alternatives_check(rows) -> str:
    """The default against the best simple alternative, on the rows that ran them."""
    rs = [r for r in rows if all(k in r for k in ALTERNATIVES[2:])]
    if not rs:
        return ""
    diffs = []
    for r in rs:
        best = max(r[k]["metrics"][0] for k in ALTERNATIVES[2:])
        diffs.append(current(r)[0] - max(best, r["always_bp"]["metrics"][0], r["never_bp"]["metrics"][0]))
    d = np.array(diffs)
    return (f"\n- **alternatives** ({len(rs)} rows): the default minus the best simple alternative: mean "
            f"{d.mean():+.2f} dB, worst row {d.min():+.2f} dB")


def bp_check(rows) -> str:
    """The default against the same network always and never back-projected, on every isotropic row."""
    rs = [r for r in rows if r["ref"] == "iso" and "always_bp" in r and "never_bp" in r]
    if not rs:
        return ""
    d = np.array([current(r)[0] - max(r["always_bp"]["metrics"][0], r["never_bp"]["metrics"][0]) for r in rs])
    worst = rs[int(np.argmin(d))]["row"]
    return (f"\n- **back-projection** ({len(rs)} iso rows): the default minus the better of always / never "
            f"back-projecting its network: mean {d.mean():+.2f} dB, worst row {d.min():+.2f} dB ({worst}); "
            f"more than 0.3 dB below on {int((d < -0.3).sum())}")


def fallback_check(rows) -> str:
    """Another fallback for an unknown profile (assumeF columns) against the default's one step, by
    the true profile, on the rows that ran it."""
    out = []
    for col in sorted({k for r in rows for k in r if k.startswith("assume")}):
        parts = []
        for p in PROFILES:
            rs = [r for r in rows if col in r and r["profile"] == p]
            if rs:
                d = np.array([r[col]["metrics"][0] - current(r)[0] for r in rs])
                parts.append(f"true profile {p:g}: {d.mean():+.2f} dB ({d.min():+.2f} to {d.max():+.2f}, "
                             f"{len(rs)} rows)")
        out.append(f"\n- **{col}** (`--z-fwhm {col[len('assume'):]}`) minus the default (one step when the estimate "
                   f"is not taken): " + "; ".join(parts))
    return "".join(out)


def trusted(r) -> bool:
    """Whether today's rules report the row's expected gain as a figure: the run's own record where it
    has one, else its slice-profile record from `profile_real.py --records` (the same estimate)."""
    from napari_zssr.quality.holdout import held_out_untrusted
    d = r["default"]
    if "held_out_trusted" in d and d.get("fit_cost") is not None:
        return bool(d["held_out_trusted"])
    return not held_out_untrusted(r.get("profile_check"))


def row_range(r) -> tuple:
    """The error range today's rules report for a row: wider when its slice profile was assumed or the
    held-out test cannot speak for z."""
    from napari_zssr.quality.holdout import (AXIAL_ASSUMED_ERROR_DB, AXIAL_ERROR_DB, AXIAL_UNTRUSTED_ERROR_DB,
                                             profile_assumed)
    from napari_zssr.quality.profile_estimate import NEAR_ONE_STEP
    d = r["default"]
    if not trusted(r):
        return AXIAL_UNTRUSTED_ERROR_DB
    est, reliable = d.get("fwhm_est_steps"), bool(d.get("fwhm_reliable"))
    near = reliable and est is not None and 1 / NEAR_ONE_STEP <= est <= NEAR_ONE_STEP
    prof = {"used": bool(d.get("fwhm_used")), "near_one_step": near}      # the default column: none given
    return AXIAL_ASSUMED_ERROR_DB if profile_assumed(prof) else AXIAL_ERROR_DB


def summary(rows) -> str:
    if not rows:
        return "No rows yet."
    out = []
    for kind in ("iso", "acq"):
        rs = [r for r in rows if r["ref"] == kind]
        if not rs:
            continue
        now = [current(r) for r in rs]
        gains = np.array([m[0] - r["cubic"][0] for r, m in zip(rs, now)])
        ssim_win = sum(m[1] > r["cubic"][1] for r, m in zip(rs, now))
        errs = np.array([(r["default"]["expected_db"] or np.nan) - g for r, g in zip(rs, gains)])
        spans = [row_range(r) for r in rs]
        in_range = sum(e + lo <= g <= e + hi for e, g, (lo, hi) in zip(errs + gains, gains, spans))
        given = np.array([r["given"]["metrics"][0] - r["cubic"][0] for r in rs if "given" in r] or [np.nan])
        x4 = [g for r, g in zip(rs, gains) if r["factor"] == 4 and r["profile"] == 1.0]
        told = np.array([trusted(r) for r in rs])
        terr = errs[told]
        out.append(f"- **{kind}**: {len(rs)} rows; default beats cubic in PSNR on {int((gains > 0).sum())}, "
                   f"SSIM on {ssim_win}; mean gain {gains.mean():+.2f} dB (x4 p1: "
                   f"{np.mean(x4) if x4 else float('nan'):+.2f}); given profile beats cubic on "
                   f"{int((given > 0).sum())} of {int(np.isfinite(given).sum())}, mean {np.nanmean(given):+.2f}; "
                   f"held-out measurement within 0.5 dB on "
                   f"{int((np.abs(errs) <= 0.5).sum())}, more than 1 dB high on {int((errs > 1).sum())}, "
                   f"mean error {np.nanmean(errs):+.2f}; a figure reported to the user on {int(told.sum())} "
                   f"(withheld on {int((~told).sum())}: only a range), of those within 0.5 dB on "
                   f"{int((np.abs(terr) <= 0.5).sum())}, more than 1 dB high on {int((terr > 1).sum())}; "
                   f"the reported range held the truth on {in_range}; "
                   f"{profile_check(rs)}")
    return ("Summary under the current rules (a row made before the axial back-projection margin takes the same "
            "network's always-back-project column where the held-out near-tie had dropped it):\n" + "\n".join(out)
            + alternatives_check(rows) + bp_check(rows) + fallback_check(rows))


def current(r) -> list:
    """(PSNR, SSIM) of a row's default under today's rules: a default made before the back-projection margin
    (quality.holdout.AXIAL_BP_MARGIN_DB) that dropped it for a near tie is the same network back-projected."""
    from napari_zssr.quality.holdout import AXIAL_BP_MARGIN_DB
    bp = (r["default"].get("quality") or {}).get("back_projection") or {}
    if bp and not bp.get("used") and bp["gain_without_db"] - bp["gain_with_db"] <= AXIAL_BP_MARGIN_DB:
        return r["always_bp"]["metrics"]
    return r["default"]["metrics"]


def parse_config(text: str, cfg) -> dict:
    """'a=1,b=True' -> {"a": 1, "b": True}, each value read as the type of cfg's field."""
    out = {}
    for item in filter(None, text.split(",")):
        key, val = item.split("=", 1)
        kind = type(getattr(cfg, key))
        out[key] = (val == "True") if kind is bool else kind(val)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="iso,acq", help="comma-separated row-name prefixes (iso-x4, acq-x2-p1-conf)")
    ap.add_argument("--given-rows", default="acq", help="row-name prefixes that also run with --z-fwhm p")
    ap.add_argument("--alt-rows", default="iso-x4-p1-",
                    help="row-name prefixes that also run the simple alternatives")
    ap.add_argument("--columns", default=None,
                    help="only these columns (default,given,one_step,assumeF,oracle,alternatives; assumeF: "
                         "--z-fwhm F, another fallback for an unknown profile); default: default, plus "
                         "given / alternatives on --given-rows / --alt-rows")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=None, help="training iterations (smoke runs only)")
    ap.add_argument("--config", default="",
                    help="a variant of the default: ZSSRConfig fields, e.g. prior_iters=2000,max_iters=4000; "
                         "write it to its own --out stem (not axial_real*), or the table takes it as the default")
    ap.add_argument("--resume", action="store_true", help="skip rows already in the .jsonl")
    ap.add_argument("--report", action="store_true", help="only regenerate the table from the .jsonl")
    ap.add_argument("--out", default=str(HERE / "results" / "real" / "axial_real.jsonl"),
                    help="records file; the table reads every <stem>*.jsonl beside it (parallel halves)")
    args = ap.parse_args(argv)
    jsonl = Path(args.out)
    if args.report:
        print(report(jsonl, jsonl.with_suffix(".md")))
        return 0
    vols = load_volumes()
    if not vols:
        print(f"no real volumes at {REAL}: skipped")
        return 0
    from report import append_record, describe_device

    from napari_zssr.engine import ZSSRConfig
    cfg = ZSSRConfig.from_preset("default", num_threads=args.threads, max_iters=args.iters)
    variant = parse_config(args.config, cfg)
    cfg = cfg.replace(**variant)
    sigmas = {v: iso_sigma(a) for v, a in vols.items()}
    print("xy sigma making xy look like z:", {k: round(s, 2) for k, s in sigmas.items()}, flush=True)
    done = set()
    if args.resume and jsonl.exists():
        done = {json.loads(ln)["row"] for ln in jsonl.read_text().splitlines()}
    wanted = [w for w in args.rows.split(",") if w]
    alt = [w for w in args.alt_rows.split(",") if w]
    giv = [w for w in args.given_rows.split(",") if w]
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    commit = os.popen(f"git -C {HERE} rev-parse --short HEAD").read().strip()
    for name in row_names(vols):
        if name in done or not any(name.startswith(w) for w in wanted):
            continue
        vname = name.split("-", 3)[3]
        cols = (set(args.columns.split(",")) if args.columns else
                {"default"} | ({"alternatives"} if any(name.startswith(a) for a in alt) else set())
                | ({"given"} if any(name.startswith(a) for a in giv) else set()))
        rec = run_row(name, vols[vname], sigmas[vname], cfg, cols)
        rec.update(device=describe_device(), commit=commit, iters=args.iters)
        if variant:
            rec["config"] = variant
        append_record(jsonl, rec)
    print(report(jsonl, jsonl.with_suffix(".md")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
