"""Salesmigo: in-store customer intelligence."""
