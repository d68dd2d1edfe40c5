"""Running image files: one end to end (file), many on a dask.distributed cluster (batch, tasks,
manifest). Reads and writes through io, computes through nd; no argparse and no terminal output
(the `zssr` command in napari_zssr.cli parses the options and prints what these report)."""
