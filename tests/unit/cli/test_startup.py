"""`salesmigo --help` stays cheap: the CLI loads a command's dependencies when it runs.

Each check runs in a fresh interpreter, since this test process has long imported them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# What a command may need but --help must not load: together they made it take about 7 s.
HEAVY = (
    "sqlalchemy",
    "numpy",
    "cv2",
    "faiss",
    "mediapipe",
    "onnxruntime",
    "fastapi",
    "uvicorn",
    "alembic",
)

IMPORT = "import salesmigo.cli.main"
# Printing the help builds every command, so it also resolves every command's signature.
HELP = f"""
{IMPORT}
try:
    salesmigo.cli.main.app(["--help"])
except SystemExit:
    pass
"""


def _loaded_after(script: str) -> list[str]:
    report = f"\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    result = subprocess.run(
        [sys.executable, "-c", script + report],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


@pytest.mark.parametrize("script", [IMPORT, HELP], ids=["import", "help"])
def test_the_cli_loads_no_heavy_dependency_until_a_command_runs(script: str) -> None:
    assert _loaded_after(script) == []
