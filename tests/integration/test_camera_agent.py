"""A camera agent and a server as real processes: kill the server mid-run, lose nothing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.integration.servers import environment, free_port, start_server, wait_for

pytestmark = pytest.mark.integration

THUMBS_UP_VIDEO = (
    "mediapipe-samples/examples/gesture_recognizer/android/app/src/androidTest/assets/"
    "test_video.mp4"
)


def _stored(data_dir: Path) -> tuple[int, int]:
    """Event ids stored, and the visit and observation rows they became."""
    with sqlite3.connect(data_dir / "salesmigo.db") as db:
        ids = db.execute("SELECT count(*) FROM ingested_events").fetchone()[0]
        rows = sum(
            db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("visits", "expression_observations", "gesture_observations")
        )
    return ids, rows


def _queued(outbox: Path) -> int:
    """Events waiting in the agent's outbox (they cannot leave while the server is down)."""
    with sqlite3.connect(outbox) as db:
        count: int = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    return count


def test_killing_the_server_mid_run_loses_and_doubles_nothing(
    tmp_path: Path, testdata: Path
) -> None:
    data_dir = tmp_path / "server"
    port = free_port()
    server, base = start_server(data_dir, port=port)
    try:
        aisle = httpx.post(f"{base}/api/v1/aisles", json={"name": "Gloves"}).json()["id"]
        camera = httpx.post(
            f"{base}/api/v1/cameras", json={"name": "gloves", "role": "aisle", "aisle_id": aisle}
        ).json()["id"]
        token = httpx.post(f"{base}/api/v1/cameras/{camera}/tokens").json()["token"]

        env = environment(tmp_path / "agent") | {"SALESMIGO_CAMERA_TOKEN": token}
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "salesmigo",
                "camera",
                "--source",
                str(testdata / THUMBS_UP_VIDEO),
                "--camera",
                "gloves",
                "--role",
                "aisle",
                "--server",
                base,
                "--realtime",
                "--flush-timeout",
                "120",
                "--json",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Conditions, not fixed sleeps: on a busy machine the agent's models load slowly.
        wait_for(lambda: _stored(data_dir)[0] > 0, 120, "the agent never delivered an event")
        server.kill()  # no goodbye: in-flight requests are lost with it
        server.wait(timeout=30)
        outbox = tmp_path / "agent" / "outbox" / "gloves.sqlite"
        wait_for(lambda: _queued(outbox) > 0, 120, "no event was produced during the outage")
        server, _ = start_server(data_dir, port=port)
        stdout, stderr = agent.communicate(timeout=300)
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert agent.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["events"] > 0
    assert summary["pending"] == 0
    assert summary["delivered"] == summary["events"]
    assert summary["retries"] > 0, "the agent never noticed the server was gone"
    # Every event produced is stored, exactly once.
    assert _stored(data_dir) == (summary["events"], summary["events"])
