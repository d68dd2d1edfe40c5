"""What an axial run hands its held-out measure and its fusion, for benchmarks that look inside
(holdout_diagnose.py; archive/holdout_edges.py): the network, the held-out parts, the inference settings
the measure chose, its record, and the xz and yz results before fusion."""
from __future__ import annotations


def spy_axial_runs() -> dict:
    """From now on (for the rest of the script) every axial run fills the returned dict, which the
    caller clears per run: model, hold, icfg (after the back-projection choice), record, xz, yz."""
    from napari_zssr.nd import in_memory as plan
    from napari_zssr.quality import holdout

    seen = {}
    measure, fuse = holdout.measure, plan.fuse

    def spy_measure(model, hold, icfg, **kw):
        seen.update(model=model, hold=hold)
        record, out_cfg = measure(model, hold, icfg, **kw)
        seen.update(icfg=out_cfg, record=record)
        return record, out_cfg

    def spy_fuse(a, b, how):
        seen.update(xz=a, yz=b)
        return fuse(a, b, how)

    holdout.measure, plan.fuse = spy_measure, spy_fuse
    return seen


def in_run_units(run, seen: dict, raw, ref, factor):
    """The truth and cubic z interpolation in the units of the run's xz/yz results (de-normalised
    by the fit of the run's output on their geometric fusion), over the planes both have.
    -> (n planes, truth, cubic, fused), float64 (Z, Y, X)."""
    import numpy as np
    from axial import interp_z

    from napari_zssr.nd import in_memory as plan

    n = min(ref.shape[0], run.result.data.shape[0])
    data = run.result.data[:n].astype(np.float64).ravel()
    fused = plan.fuse(seen["xz"], seen["yz"], "geometric")[0, :n].astype(np.float64)
    a, b = np.polyfit(fused.ravel(), data, 1)          # the run's de-normalisation
    truth = (ref[:n].astype(np.float64) - b) / a
    cubic = (interp_z(raw.astype(np.float32), factor, "cubic")[:n].astype(np.float64) - b) / a
    return n, truth, cubic, fused
