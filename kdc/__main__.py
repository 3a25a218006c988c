"""``python -m kdc``: the ``kdc`` command line (see :mod:`kdc.cli`)."""

import sys

from kdc.cli import main

sys.exit(main())
