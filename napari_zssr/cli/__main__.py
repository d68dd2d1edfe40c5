"""`python -m napari_zssr.cli ...` is the `zssr` command."""
import sys

from napari_zssr.cli import main

sys.exit(main())
