"""The one way napari-zssr reaches a dask cluster: chunked runs (nd.chunked) and `zssr batch`
(runs.batch_runner) both connect here.

    with connect(ClusterOptions(n_workers=2)) as cluster:     # or scheduler="tcp://...", or client=...
        cluster.client.submit(...)

A caller's client is used as it is (and left open); a scheduler address or scheduler JSON file is
connected to (20 s timeout; one-line ValueError when it cannot be reached); otherwise a
LocalCluster of our own is started and closed again. distributed's own log lines stay quiet
unless ZSSR_DEBUG is set.
"""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

QUIET_LOGGERS = ("distributed", "distributed.worker", "distributed.scheduler", "distributed.nanny",
                 "distributed.core", "distributed.comm", "tornado")


@dataclass(frozen=True)
class ClusterOptions:
    """Where a run's dask tasks go."""
    client: object = None                 # the caller's distributed.Client (left open)
    scheduler: Optional[str] = None       # a running scheduler: address, or its scheduler JSON file
    n_workers: int = 1                    # a LocalCluster of our own: workers ...
    threads_per_worker: int = 1           # ... threads each
    processes: bool = False               # ... as processes (else threads of this process)
    resources: Optional[dict] = None      # ... each offering these resources (e.g. {"zssr": 1})
    dashboard: Optional[str] = None       # ... with a dashboard at this address (None: none)


@dataclass
class Cluster:
    """A connected client; close() closes what connect() opened (never the caller's client)."""
    client: object
    cluster: object = None
    owned: bool = True

    def close(self) -> None:
        if not self.owned:
            return
        for obj in (self.client, self.cluster):
            if obj is None:
                continue
            try:
                obj.close(timeout=10) if obj is self.client else obj.close()
            except Exception:  # noqa: BLE001 -- closing is best effort
                pass

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def one_line(exc) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def quiet_logs() -> None:
    if not os.environ.get("ZSSR_DEBUG"):
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)


def connect(opts: ClusterOptions) -> Cluster:
    """The caller's client, a running scheduler, or a LocalCluster of our own (see the module)."""
    if opts.client is not None:
        return Cluster(opts.client, None, owned=False)
    from distributed import Client, LocalCluster

    quiet_logs()
    if opts.scheduler:
        try:
            if opts.scheduler.endswith(".json") and Path(opts.scheduler).is_file():
                client = Client(scheduler_file=opts.scheduler, timeout="20s")
            else:
                client = Client(opts.scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ValueError(f"cannot connect to the dask scheduler {opts.scheduler} ({one_line(exc)})") from None
        return Cluster(client)
    with warnings.catch_warnings():     # another cluster's port: distributed picks another, and says so
        warnings.filterwarnings("ignore", message=r"Port \d+ is already in use")   # in 4 lines on stderr
        cluster = LocalCluster(n_workers=opts.n_workers, threads_per_worker=opts.threads_per_worker,
                               processes=opts.processes, resources=opts.resources,
                               dashboard_address=opts.dashboard,
                               silence_logs=logging.WARNING if os.environ.get("ZSSR_DEBUG") else logging.ERROR)
    return Cluster(Client(cluster), cluster)
