"""Cameras: sources, per-camera workers, tracking, events, and the durable outbox."""
