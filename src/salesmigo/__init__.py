"""Salesmigo: in-store customer intelligence."""

__version__ = "0.1.0"
