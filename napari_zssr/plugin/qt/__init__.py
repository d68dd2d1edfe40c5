"""All Qt code of napari-zssr: the dock widget, its loss plot and the worker plumbing. Nothing
outside this package imports Qt."""
from .widget import ZSSRWidget

__all__ = ["ZSSRWidget"]
