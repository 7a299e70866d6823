"""The gallery benchmark.

``python benchmarks/gallery.py [--sizes 10000,100000] [--json] [--include-10m]``

A thin wrapper: the implementation is ``salesmigo.gallery.benchmark``, shared with
``salesmigo bench gallery``. See README.md beside this file.
"""

from __future__ import annotations

import typer

from salesmigo.cli.bench_cmd import gallery

if __name__ == "__main__":
    typer.run(gallery)
