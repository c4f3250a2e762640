"""``python -m deepsim_lite.cli ...``: the ``deepsim-lite`` command."""

import sys

from . import main

sys.exit(main())
