"""``python -m softmax_rosetta``: the ``softmax-rosetta`` command (the entry point, not part of the library)."""

import sys

from softmax_rosetta.tools.cli import main

sys.exit(main())
