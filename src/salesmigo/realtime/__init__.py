"""Publish/subscribe for live events: in-process by default, Redis across processes."""
