"""Chunked inference on a dask cluster into OME-Zarr: equals the in-memory path, resumes after a kill."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr

from napari_zssr.engine.config import ZSSRConfig
from napari_zssr.io.ome_zarr import read_ome_zarr, validate_ome_zarr, write_ome_zarr
from napari_zssr.nd import super_resolve_nd
from napari_zssr.nd.blocks import MARKERS
from _chunked_run import chunked_run
from napari_zssr.nd.intensity import Normalizer
from napari_zssr.nd.sample import choose_planes

CFG = ZSSRConfig.from_preset("fast", max_iters=24, n_steps=1, crop_size=24, test_every=12, num_threads=1,
                             device="cpu", precision="fp32", seed=3)


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def _blobs(shape, seed=0):
    """A smooth-ish uint16 volume: structure for the network, not noise."""
    rng = np.random.default_rng(seed)
    x = rng.random(shape)
    for ax in range(-2, 0):
        x = (x + np.roll(x, 1, ax) + np.roll(x, -1, ax)) / 3
    return (x * 3000 + 200).astype(np.uint16)


def _loud(models):
    """The same networks with a 400x larger residual: a few dozen iterations barely move the output
    away from cubic + back-projection, and a comparison should see the network's contribution."""
    import torch
    with torch.no_grad():
        for m in models:
            m.net.body[-1].weight.mul_(400.0)
    return models


def _close(chunked, memory):
    span = float(memory.max() - memory.min())
    return float(np.max(np.abs(chunked.astype(np.float64) - memory))) / span


def test_lateral_chunked_equals_in_memory(tmp_path, client):
    data = _blobs((2, 3, 30, 34))                                   # C, Z, Y, X
    trained = super_resolve_nd(data, "CZYX", mode="lateral", scale=2, config=CFG)
    mem = super_resolve_nd(data, "CZYX", mode="lateral", scale=2, config=CFG, model=_loud(trained.models))
    assert _close(mem.data, trained.data) > 2e-3               # 20x the tolerance: the network shows
    norms = [Normalizer(**d) for d in mem.params["normalisation"]]
    res = chunked_run(da.from_array(data, chunks=(1, 1, 30, 34)), tmp_path / "out.zarr", axes="CZYX",
                         scale=2, config=CFG, model=mem.models, normalizers=norms, client=client)
    assert res.blocks == 6 and res.computed == 6 and res.skipped == 0
    out = read_ome_zarr(tmp_path / "out.zarr")
    assert out.axes == "CZYX" and out.data.shape == mem.data.shape == (2, 3, 60, 68)
    assert _close(out.data.compute(), mem.data) <= 1e-4
    validate_ome_zarr(tmp_path / "out.zarr")


def test_axial_chunked_equals_in_memory(tmp_path, client):
    data = _blobs((8, 20, 22), seed=1)                               # Z, Y, X
    sizes = {"z": 2.0, "y": 0.5, "x": 0.5}
    trained = super_resolve_nd(data, "ZYX", mode="axial", pixel_sizes=sizes, config=CFG)
    mem = super_resolve_nd(data, "ZYX", mode="axial", pixel_sizes=sizes, config=CFG, model=_loud(trained.models))
    assert _close(mem.data, trained.data) > 2e-3
    norms = [Normalizer(**d) for d in mem.params["normalisation"]]
    src = write_ome_zarr(tmp_path / "in.zarr", data, "ZYX", pixel_sizes=sizes, chunks=(1, 8, 8))
    res = chunked_run(src, tmp_path / "out.zarr", mode="axial", config=CFG, model=mem.models,
                         normalizers=norms, client=client, slab=4, tile=8, zband=16)
    # slabs of 4 rows and 4 columns, then fusion tiles of 16 x 8 x 8
    assert res.blocks == 5 + 6 + 2 * 3 * 3
    out = read_ome_zarr(tmp_path / "out.zarr")
    assert out.data.shape == mem.data.shape == (32, 20, 22)
    assert out.pixel_sizes == pytest.approx({"z": 0.5, "y": 0.5, "x": 0.5})
    assert out.translate == pytest.approx({"z": -0.75})              # pixel centres stay in place
    assert _close(out.data.compute(), mem.data) <= 1e-4
    assert not (tmp_path / "out.zarr" / MARKERS / "xz").exists()       # scratch removed
    validate_ome_zarr(tmp_path / "out.zarr")


def test_trains_on_a_recorded_subset_and_resumes_after_damage(tmp_path, client):
    data = _blobs((6, 26, 28), seed=2)
    src = write_ome_zarr(tmp_path / "in.zarr", data, "ZYX", pixel_sizes={"z": 1.0, "y": 0.4, "x": 0.4})
    out = tmp_path / "out.zarr"
    res = chunked_run(src, out, scale=2, config=CFG, train_planes=3, client=client, out_dtype="input")
    sub = res.params["training_subset"]
    assert sub["planes"] == [list(p) for p in choose_planes(1, 6, 3, CFG.seed)] and sub["of"] == 6
    img = read_ome_zarr(out)
    assert img.description_params["training_subset"] == sub and img.data.dtype == np.uint16
    first = img.data.compute()

    # damage: one marker lost, one chunk overwritten after its block had finished
    markers = sorted((out / MARKERS).glob("lateral_*.json"))
    assert len(markers) == 6
    markers[0].unlink()
    arr = zarr.open_array(str(out / "0"), mode="r+")
    arr[4] = 0
    again = chunked_run(src, out, scale=2, config=CFG, train_planes=3, client=client, out_dtype="input")
    assert (again.computed, again.skipped) == (2, 4)                  # checked, not assumed
    np.testing.assert_array_equal(read_ome_zarr(out).data.compute(), first)
    # a different run does not resume into this store
    with pytest.raises(ValueError, match="different run"):
        chunked_run(src, out, scale=3, config=CFG, train_planes=3, client=client)
    with pytest.raises(ValueError, match="must not be the input"):
        chunked_run(src, src, scale=2, config=CFG, client=client)
    with pytest.raises(ValueError, match=r"\*\.zarr"):
        chunked_run(src, tmp_path / "out.tif", scale=2, config=CFG, client=client)


_KILLED_RUN = textwrap.dedent("""
    import sys
    from napari_zssr.engine.config import ZSSRConfig
    from napari_zssr.nd import RunSpec
    from napari_zssr.nd.chunked import TrainingSample, run_chunked
    cfg = ZSSRConfig.from_preset("fast", max_iters=24, n_steps=1, crop_size=24, test_every=12, num_threads=1,
                                 device="cpu", precision="fp32", seed=3)
    run_chunked(sys.argv[1], sys.argv[2], RunSpec(factors=2), cfg, sample=TrainingSample(4))
""")


def test_rerun_after_sigkill_of_the_client_finishes_identically(tmp_path):
    data = _blobs((12, 40, 44), seed=4)
    src = write_ome_zarr(tmp_path / "in.zarr", data, "ZYX")
    out = tmp_path / "out.zarr"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, str(src), str(out)], env=env)
    deadline = time.time() + 240
    while time.time() < deadline and len(list((out / MARKERS).glob("lateral_*.json"))) < 2:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished_before = len(list((out / MARKERS).glob("lateral_*.json")))
    assert 2 <= finished_before < 12
    assert not json.loads((out / "zarr.json").read_text())["attributes"]["zssr_run"]["complete"]

    resumed = chunked_run(src, out, scale=2, config=CFG, train_planes=4)
    assert resumed.skipped >= finished_before and resumed.computed + resumed.skipped == 12
    clean = chunked_run(src, tmp_path / "clean.zarr", scale=2, config=CFG, train_planes=4)
    assert clean.computed == 12
    np.testing.assert_array_equal(read_ome_zarr(out).data.compute(), read_ome_zarr(clean.path).data.compute())
    assert json.loads((out / "zarr.json").read_text())["attributes"]["zssr_run"]["complete"]


def test_sigkill_of_a_worker_process_is_survived(tmp_path):
    """Process workers (as on a real cluster): the context pickles, a killed worker's block is redone."""
    import threading

    from distributed import Client, LocalCluster

    data = _blobs((10, 48, 52), seed=5)
    src = write_ome_zarr(tmp_path / "in.zarr", data, "ZYX")
    out = tmp_path / "out.zarr"
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    try:
        box = {}
        run = threading.Thread(target=lambda: box.setdefault("res", chunked_run(
            src, out, scale=2, config=CFG, train_planes=4, client=client)))
        run.start()
        deadline = time.time() + 240
        while time.time() < deadline and not list((out / MARKERS).glob("lateral_*.json")):
            time.sleep(0.02)
        pids = client.run(os.getpid)
        assert run.is_alive()                                         # killed mid-run
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        run.join(300)
        res = box["res"]
    finally:
        client.close()
        cluster.close()
    assert res.computed + res.skipped == 10
    clean = chunked_run(src, tmp_path / "clean.zarr", scale=2, config=CFG, train_planes=4)
    np.testing.assert_array_equal(read_ome_zarr(out).data.compute(), read_ome_zarr(clean.path).data.compute())


def test_cancel_stops_between_blocks_and_leaves_a_resumable_store(tmp_path, client):
    import threading

    data = _blobs((8, 24, 26), seed=6)
    src = write_ome_zarr(tmp_path / "in.zarr", data, "ZYX")
    flag, seen = threading.Event(), []

    def progress(ev):
        if ev.stage == "blocks" and ev.total:
            seen.append(time.perf_counter())
            flag.set()                                           # cancel after the first finished block

    res = chunked_run(src, tmp_path / "out.zarr", scale=2, config=CFG, train_planes=2, client=client,
                         progress=progress, cancel=flag)
    assert res.cancelled and 1 <= res.computed < 8
    assert time.perf_counter() - seen[0] < 5                     # returned promptly after the flag
    again = chunked_run(src, tmp_path / "out.zarr", scale=2, config=CFG, train_planes=2, client=client)
    assert not again.cancelled and again.skipped >= 1 and again.computed + again.skipped == 8
    clean = chunked_run(src, tmp_path / "clean.zarr", scale=2, config=CFG, train_planes=2, client=client)
    np.testing.assert_array_equal(read_ome_zarr(again.path).data.compute(), read_ome_zarr(clean.path).data.compute())


def test_a_corrupt_chunk_met_by_a_block_is_one_line(tmp_path, client):
    import pickle

    from napari_zssr.io import ImageReadError

    data = _blobs((4, 20, 22), seed=7)
    src = write_ome_zarr(tmp_path / "in.zarr", data, "ZYX", chunks=(1, 20, 22))
    assert choose_planes(1, 4, 1, CFG.seed) == [(0, 3)]                  # trains on plane 3 only
    (src / "0" / "c" / "0" / "0" / "0").write_bytes(b"not a chunk")       # plane 0: met by its block
    with pytest.raises(ValueError) as e:
        chunked_run(src, tmp_path / "out.zarr", scale=2, config=CFG, train_planes=1, client=client)
    assert "cannot read a chunk" in str(e.value) and "\n" not in str(e.value)
    # the error survives the trip back from a process worker
    err = pickle.loads(pickle.dumps(ImageReadError(src, "cannot read a chunk (x)")))
    assert isinstance(err, ValueError) and str(err) == f"{src}: cannot read a chunk (x)"


def test_trained_chunked_axial_run_holds_out_estimates_and_equals_in_memory(tmp_path, client):
    # every plane fits in the training subset: the chunked run trains, holds out, measures and
    # picks back-projection exactly as the run in memory does
    from napari_zssr.testing.simulate import simulate_acquisition
    data = simulate_acquisition((36, 48, 48), z_step=3, seed=4, photons=300.0).raw     # 12 planes
    sizes = {"z": 1.5, "y": 0.5, "x": 0.5}
    mem = super_resolve_nd(data, "ZYX", mode="axial", pixel_sizes=sizes, config=CFG)
    src = write_ome_zarr(tmp_path / "in.zarr", data, "ZYX", pixel_sizes=sizes, chunks=(1, 16, 16))
    res = chunked_run(src, tmp_path / "out.zarr", mode="axial", config=CFG, client=client, slab=8, tile=16)
    (q,) = res.params["quality"]
    assert q == mem.params["quality"][0] and q["held_out"] == {"planes": [6]}
    assert q["fusion"]["disagreement_mse"] > 0          # corrected for fusion, from the fuse blocks' sums
    assert res.params["expected_gain_db"] == mem.params["expected_gain_db"]
    assert res.params["z_fwhm_estimate"] == mem.params["z_fwhm_estimate"]
    assert res.params["z_fwhm"] == mem.params["z_fwhm"]
    assert _close(read_ome_zarr(tmp_path / "out.zarr").data.compute(), mem.data) <= 1e-4


def test_a_chunked_run_checks_a_given_profile_against_the_data(tmp_path, client, monkeypatch):
    from napari_zssr.nd import chunked
    from napari_zssr.testing.simulate import simulate_acquisition
    data = simulate_acquisition((36, 48, 48), z_step=3, seed=4, photons=300.0).raw
    src = write_ome_zarr(tmp_path / "in.zarr", data, "ZYX", pixel_sizes={"z": 1.5, "y": 0.5, "x": 0.5},
                         chunks=(1, 16, 16))
    # as if the data were clear about a profile twice the given one
    monkeypatch.setattr(chunked, "_column_profile", lambda full, channels, factor: {
        "z_fwhm_px": 6.0, "z_fwhm_steps": 2.0, "interval_px": [5.8, 6.2], "reliable": True, "noise_var": 0.0})
    res = chunked_run(src, tmp_path / "out.zarr", mode="axial", z_fwhm=1.0, config=CFG, client=client,
                         slab=8, tile=16)
    assert res.params["z_fwhm"] == 1.0 and res.params["z_fwhm_estimate"]["disagrees"] is True
    assert any(n.startswith("the z FWHM given (1.00 z steps) is far from") for n in res.params["notices"])


def test_a_chunked_run_that_assumes_one_step_where_z_reads_sharper_does_not_back_project(tmp_path, client,
                                                                                            monkeypatch):
    from napari_zssr.nd import chunked
    from napari_zssr.testing.simulate import simulate_acquisition
    data = simulate_acquisition((36, 48, 48), z_step=3, seed=4, photons=300.0).raw
    src = write_ome_zarr(tmp_path / "in.zarr", data, "ZYX", pixel_sizes={"z": 1.5, "y": 0.5, "x": 0.5},
                         chunks=(1, 16, 16))
    narrower = {"z_fwhm_px": 1.8, "z_fwhm_steps": 0.6, "interval_px": [1.2, 3.0], "reliable": False,
                "noise_var": 0.0, "used": False, "near_one_step": False, "narrower_than_one_step": True}
    monkeypatch.setattr(chunked, "_column_profile", lambda full, channels, factor: dict(narrower))
    res = chunked_run(src, tmp_path / "out.zarr", mode="axial", config=CFG, client=client, slab=8, tile=16)
    (q,) = res.params["quality"]
    assert "back_projection" not in q and res.params["z_fwhm"] is None
    assert any("not back-projected" in n for n in res.params["notices"])


def _slow_block(i):
    time.sleep(0.15)
    return {"i": i}


def test_gather_releases_each_future_and_leaves_no_waiters_on_the_loop(client):
    """Issue 15: the client of a long axial run grew by ~12 MiB per block. Polling
    distributed.wait(pending, timeout, FIRST_COMPLETED) left a waiter task per pending future on
    the client's event loop at every poll. _gather must keep the loop's tasks bounded by the number
    of blocks, whatever the number of polls, and release each block's future once it is read."""
    import asyncio

    from napari_zssr.nd.chunked import _gather

    async def n_tasks():
        return len(asyncio.all_tasks())

    def tasks():
        return asyncio.run_coroutine_threadsafe(n_tasks(), client.loop.asyncio_loop).result()

    base, n, seen = tasks(), 8, []

    def on_done(info):
        seen.append((info["i"], tasks(), f"zssr-leak-test-{info['i']}" in client.refcount))
    futures = [client.submit(_slow_block, i, key=f"zssr-leak-test-{i}", pure=False) for i in range(n)]
    # ~30 polls before the first block ends: the old polling left hundreds of tasks by then
    results = _gather(client, futures, None, on_done, poll=0.005)
    assert results == [{"i": i} for i in range(n)] and not futures
    assert sorted(i for i, _, _ in seen) == list(range(n))
    assert max(t for _, t, _ in seen) - base < 3 * n + 20, seen
    assert not any(held for _, _, held in seen), seen
