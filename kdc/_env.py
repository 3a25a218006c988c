"""kdc's on/off environment switches (``KDC_PIN_THREADS``, ``KDC_NUMBA_CACHE``)."""

import os

OFF_VALUES = ("0", "false", "no", "off")


def switched_off(name):
    """Whether the environment variable ``name`` turns off a kdc feature that is on by default."""
    return os.environ.get(name, "1").strip().lower() in OFF_VALUES
