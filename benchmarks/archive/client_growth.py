"""The client process of a chunked run, block by block: its RSS and the asyncio tasks on its event loop.

Issue 15's axial runs grew the client process by ~12 MiB per finished block; this records, for each
finished block, the client's RSS (psutil), the number of tasks alive on the client's event loop
(which also runs the LocalCluster's scheduler) and the time, as CSV on stdout.

    OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/client_growth.py --size 1024 --planes 16 \\
        --mode axial --iters 10 --set depth=2 width=8 back_projection_iters=1
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--planes", type=int, default=16)
    ap.add_argument("--mode", default="axial", choices=["lateral", "axial"])
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON")
    ap.add_argument("--workdir", default="/tmp/zssr-client-growth")
    ap.add_argument("--every", type=int, default=1, help="a row every this many blocks")
    args = ap.parse_args(argv)

    import psutil
    from distributed import Client, LocalCluster

    from big_volume import make_input
    from napari_zssr.engine.config import ZSSRConfig
    from napari_zssr.nd.chunked import run_big_volume

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    inp = make_input(work / f"in_{args.size}_{args.planes}.zarr", args.planes, args.size)
    out = work / f"out_{args.mode}.zarr"
    shutil.rmtree(out, ignore_errors=True)
    overrides = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    cfg = ZSSRConfig(max_iters=args.iters, num_threads=1).replace(**overrides)
    me = psutil.Process()
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    loop = client.loop.asyncio_loop

    async def n_tasks():
        return len(asyncio.all_tasks())

    t0 = time.perf_counter()
    print("block,seconds,client_rss_mib,loop_tasks", flush=True)

    def progress(ev):
        if ev.stage != "blocks" or not ev.total or (ev.iteration % args.every and ev.iteration != ev.total):
            return
        tasks = asyncio.run_coroutine_threadsafe(n_tasks(), loop).result()
        print(f"{ev.iteration},{time.perf_counter() - t0:.1f},{me.memory_info().rss / 2**20:.1f},{tasks}",
              flush=True)
    try:
        res = run_big_volume(str(inp), out, mode=args.mode, scale=2 if args.mode == "lateral" else None,
                             config=cfg, client=client, progress=progress)
        print(f"# blocks {res.blocks}, seconds {res.seconds}", flush=True)
    finally:
        client.close()
        cluster.close()
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
