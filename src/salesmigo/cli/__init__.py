"""The ``salesmigo`` command line."""
