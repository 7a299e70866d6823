"""A real server refuses an event: the agent keeps it as a dead letter and goes on; an
operator sees why with `salesmigo outbox`, fixes the cause and requeues it."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx
import pytest

from salesmigo.cameras.delivery import Backoff, Deliverer, EventSender
from salesmigo.cameras.events import (
    CameraEvent,
    ExpressionEvent,
    GestureEvent,
    VisitArrivalEvent,
)
from salesmigo.cameras.outbox import Outbox
from tests.integration.servers import environment, server

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
WAIT = 60.0


def _outbox_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "salesmigo", "outbox", *args],
        env=environment(tmp_path / "agent"),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_a_refused_event_waits_as_a_dead_letter_and_is_delivered_once_fixed(
    tmp_path: Path,
) -> None:
    with server(tmp_path / "server") as base:
        camera = httpx.post(f"{base}/api/v1/cameras", json={"name": "gloves", "role": "aisle"})
        camera_id = camera.json()["id"]
        token = httpx.post(f"{base}/api/v1/cameras/{camera_id}/tokens").json()["token"]
        path = tmp_path / "outbox.sqlite"
        events: list[CameraEvent] = [
            ExpressionEvent(
                occurred_at=T0, track_id="t1", label="happy", probabilities={"happy": 1.0}
            ),
            # The agent was started with --role entrance on an aisle camera: refused.
            VisitArrivalEvent(occurred_at=T0, track_id="t1", visit_id=uuid.uuid4(), arrived_at=T0),
            GestureEvent(occurred_at=T0, track_id="t1", gesture="thumbs_up", confidence=0.9),
        ]
        with Outbox(path) as box, EventSender(base, "gloves", token) as sender:
            for event in events:
                box.put(event)
            deliverer = Deliverer(box, sender, backoff=Backoff(0.01, 0.1), poll_interval=0.1)
            deliverer.start()
            try:
                assert deliverer.flush(WAIT)
                assert deliverer.stats.delivered == 2
                assert deliverer.stats.dead_lettered == 1
                assert deliverer.running  # not blocked

                listed = _outbox_cli(tmp_path, "list", "--outbox", str(path), "--json")
                assert listed.returncode == 0, listed.stderr
                [letter] = json.loads(listed.stdout)["dead_letters"]
                assert (letter["type"], letter["status"]) == ("arrival", 422)
                assert "only an entrance camera reports arrivals" in letter["reason"]

                wrong = _outbox_cli(tmp_path, "requeue", "999", "--outbox", str(path))
                assert wrong.returncode == 1
                assert "no dead letter numbered 999" in wrong.stderr
                assert "Traceback" not in wrong.stderr

                fixed = httpx.patch(f"{base}/api/v1/cameras/{camera_id}", json={"role": "entrance"})
                assert fixed.status_code == 200
                again = _outbox_cli(tmp_path, "requeue", str(letter["seq"]), "--outbox", str(path))
                assert again.returncode == 0, again.stderr
                assert deliverer.flush(WAIT)
                assert deliverer.stats.delivered == 3
                assert box.dead_letters() == []
            finally:
                assert deliverer.stop(WAIT)
