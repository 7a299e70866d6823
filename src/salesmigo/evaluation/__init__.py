"""Scoring the vision pipeline on labelled images: verification pairs and 1:N identification.

The modules here are pure (numbers and file parsing in, numbers out) apart from
``embed``, which runs the pipeline on image files; the CLI only wires them together.
"""
