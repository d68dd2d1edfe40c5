"""The `zssr` progress bar: one bar per run whose count, rate and ETA hold across gradual stages
and jobs (tested on the events, not the terminal)."""
from __future__ import annotations

import io

import numpy as np

from napari_zssr.cli._ui import ProgressBar, RunCounter
from napari_zssr.engine.config import ZSSRConfig
from napari_zssr.engine.progress import ProgressEvent
from napari_zssr.nd import super_resolve_nd


def _gradual_job(job, n_jobs, stages=4, per_stage=50, every=10):
    """What the engine sends for one gradual job: stage names change, iterations count on."""
    total = stages * per_stage
    for s in range(stages):
        for i in range(0, per_stage, every):
            yield ProgressEvent(stage=f"train {s + 1}/{stages}", iteration=s * per_stage + i, total=total,
                                job=job, n_jobs=n_jobs)
    yield ProgressEvent(stage="infer", job=job, n_jobs=n_jobs)


def test_counter_is_monotone_across_stages_and_jobs():
    counter = RunCounter()
    seen = [counter.update(ev) for job in range(3) for ev in _gradual_job(job, 3)]
    seen.append(counter.update(ProgressEvent(stage="done", job=3, n_jobs=3)))
    counts = [n for n, _ in seen]
    assert counts == sorted(counts), "the count went back (a stage or job restarted it)"
    assert all(n <= t for n, t in seen)
    assert seen[0][1] == 3 * 200                       # the whole run's total from the first event
    assert all(t == 600 for _, t in seen)              # equal jobs: the total never moves
    assert seen[-1] == (600, 600)
    # a stage change inside a job does not reset: 4 stages of 50 are one stretch of 200
    assert counts[5] == 51 and counts[4] == 41
    assert counts[20] == 200 and counts[21] == 201      # job 0's inference, then job 1's first iteration


def test_counter_with_a_job_that_stops_early():
    """The paper's plateau rule may stop before max_iters: the job counts whole once it ends, so the
    next job starts where its share of the total does (no jump back, no total below the count)."""
    counter = RunCounter()
    counter.update(ProgressEvent(stage="train", iteration=0, total=100, job=0, n_jobs=2))
    assert counter.update(ProgressEvent(stage="train", iteration=59, total=100, job=0, n_jobs=2)) == (60, 200)
    assert counter.update(ProgressEvent(stage="infer", job=0, n_jobs=2)) == (100, 200)
    assert counter.update(ProgressEvent(stage="train", iteration=0, total=100, job=1, n_jobs=2)) == (101, 200)
    assert counter.update(ProgressEvent(stage="done", job=2, n_jobs=2)) == (200, 200)


def test_bar_counts_increments_so_rate_and_eta_hold():
    bar = ProgressBar(file=io.StringIO())
    ns, totals = [], []
    for job in range(2):
        for ev in _gradual_job(job, 2):
            bar(ev)
            ns.append(bar.bar.n)
            totals.append(bar.bar.total)
            started = bar.bar.start_t
    assert ns == sorted(ns) and ns[-1] == 400 and set(totals) == {400}
    assert bar.bar.start_t == started                  # tqdm's clock was never restarted
    assert bar.bar.format_dict["rate"] is None or bar.bar.format_dict["rate"] > 0
    bar.close()


def test_real_run_events_give_one_monotone_bar():
    """The events of a real two-channel gradual run (two jobs of 2 stages each)."""
    rng = np.random.default_rng(0)
    data = (rng.random((2, 16, 16)) * 1000).astype(np.uint16)
    events = []
    cfg = ZSSRConfig(max_iters=20, prior_iters=20, n_steps=2, ensemble=False, crop_size=8, back_projection_iters=1,
                     test_every=10, num_threads=1, device="cpu", seed=0)
    super_resolve_nd(data, "CYX", scale=2, config=cfg, progress=events.append)
    assert {e.stage for e in events} >= {"train 1/2", "train 2/2", "done"}
    counter = RunCounter()
    seen = [counter.update(e) for e in events]
    counts = [n for n, _ in seen]
    assert counts == sorted(counts) and all(n <= t for n, t in seen)
    assert seen[-1] == (40, 40)                          # 2 jobs x 20 iterations
