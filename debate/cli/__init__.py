"""The ``debate`` command: a thin layer over the Python API."""
