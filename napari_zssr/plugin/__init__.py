"""The napari front end: everything napari-facing, contributed through napari.yaml (npe2).

qt/: the dock widget, its loss plot and the worker (all the Qt code); layer_job: the form ->
RunSpec + config, a layer -> a job, a result -> layers (no Qt, tested without a GUI); reader,
zarr_reader, writer, samples, save_network: the reader, writer, sample-data and save commands.
Nothing below this package imports napari or Qt (tests/test_import_graph.py).
"""
