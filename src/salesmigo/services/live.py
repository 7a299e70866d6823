"""What the realtime bus carries: one message per stored visit or observation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from salesmigo.services.runtime import Runtime

EVENTS_TOPIC = "events"


def publish(
    runtime: Runtime,
    kind: str,
    camera: str,
    at: datetime,
    customer_id: int | None,
    **details: Any,
) -> None:
    """Tell every subscriber (staff screens) what a camera just saw."""
    runtime.bus.publish(
        EVENTS_TOPIC,
        {
            "type": kind,
            "camera": camera,
            "at": at.isoformat(),
            "customer_id": customer_id,
            **details,
        },
    )
