"""``python -m devx``: the ``devx`` command."""

import sys

from devx.cli import main

sys.exit(main())
