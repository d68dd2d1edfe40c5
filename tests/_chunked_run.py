"""The chunked runner called with every option as a keyword, as the chunked tests write it:
`chunked_run(src, out, mode="axial", slab=8, tile=16, client=client)` builds the RunSpec and
nd.chunked's option objects (BlockLayout, ClusterOptions, TrainingSample) and calls run_chunked."""
from napari_zssr.nd import RunSpec
from napari_zssr.nd.chunked import BlockLayout, ClusterOptions, Source, TrainingSample, run_chunked


def chunked_run(source, output, *, axes=None, pixel_sizes=None, source_name=None, config=None, client=None,
                n_workers=1, normalizers=None, train_planes=16, overwrite=False, progress=None, cancel=None,
                slab=16, tile=256, zband=64, block_planes=1, chunks=None, **spec):
    if "scale" in spec:
        spec["factors"] = spec.pop("scale")
    if axes or pixel_sizes or source_name:
        source = Source(source, axes, pixel_sizes, name=source_name)
    return run_chunked(source, output, RunSpec(**spec), config,
                       layout=BlockLayout(block_planes, slab, tile, zband, chunks),
                       cluster=ClusterOptions(client=client, n_workers=n_workers),
                       sample=TrainingSample(train_planes, normalizers), overwrite=overwrite,
                       progress=progress, cancel=cancel)
