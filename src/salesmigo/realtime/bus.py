"""The realtime bus: what staff screens (and anything else) subscribe to.

``MemoryBus`` delivers within one process; ``RedisBus`` delivers to every process
subscribed to the same Redis, so any API process can serve any screen. Both deliver each
message to every subscription made before it was published, in publish order, through a
bounded queue per subscriber that drops the oldest message (and counts it) when a slow
subscriber falls behind: a stuck screen must never block a camera.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import suppress
from typing import Any, Protocol

import redis

logger = logging.getLogger(__name__)

Message = dict[str, Any]
_QUEUE_SIZE = 1000
_CHANNEL_PREFIX = "salesmigo:"


class Subscription:
    """Messages of one topic for one subscriber, oldest first."""

    def __init__(self, topic: str, on_close: Any = None) -> None:
        self.topic = topic
        self.dropped = 0
        self._queue: queue.Queue[Message] = queue.Queue(maxsize=_QUEUE_SIZE)
        self._on_close = on_close

    def deliver(self, message: Message) -> None:
        while True:
            try:
                self._queue.put_nowait(message)
                return
            except queue.Full:
                with suppress(queue.Empty):
                    self._queue.get_nowait()
                    self.dropped += 1
                    logger.warning(
                        "subscriber of %s is behind; dropped %s", self.topic, self.dropped
                    )

    def get(self, timeout: float | None = None) -> Message | None:
        """The next message, or None after ``timeout`` seconds without one."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self) -> Iterator[Message]:
        while True:
            try:
                yield self._queue.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close(self)


class Bus(Protocol):
    def publish(self, topic: str, message: Message) -> None: ...

    def subscribe(self, topic: str) -> Subscription: ...

    def close(self) -> None: ...


class MemoryBus:
    """Delivery within this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: dict[str, list[Subscription]] = {}

    def publish(self, topic: str, message: Message) -> None:
        with self._lock:
            subscribers = list(self._subscriptions.get(topic, ()))
        for subscription in subscribers:
            subscription.deliver(message)

    def subscribe(self, topic: str) -> Subscription:
        subscription = Subscription(topic, self._unsubscribe)
        with self._lock:
            self._subscriptions.setdefault(topic, []).append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            subscribers = self._subscriptions.get(subscription.topic, [])
            if subscription in subscribers:
                subscribers.remove(subscription)

    def close(self) -> None:
        with self._lock:
            self._subscriptions.clear()


class RedisBus:
    """Delivery to every process subscribed on the same Redis (pub/sub, JSON messages).

    One listener thread per process fans messages out to local subscriptions, so a
    hundred screens on one process cost one Redis connection.
    """

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=5)
        self._redis.ping()  # fail at start, with the URL in the message, not at first use
        self._local = MemoryBus()
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self._pubsub.psubscribe(**{_CHANNEL_PREFIX + "*": self._receive})
        self._thread = self._pubsub.run_in_thread(
            sleep_time=0.5, daemon=True, exception_handler=self._on_error
        )

    def _on_error(self, error: BaseException, pubsub: Any, thread: Any) -> None:
        logger.warning("Redis bus listener error: %s", error)

    def _receive(self, item: dict[str, Any]) -> None:
        channel = (
            item["channel"].decode() if isinstance(item["channel"], bytes) else item["channel"]
        )
        self._local.publish(channel.removeprefix(_CHANNEL_PREFIX), json.loads(item["data"]))

    def publish(self, topic: str, message: Message) -> None:
        self._redis.publish(_CHANNEL_PREFIX + topic, json.dumps(message, default=str))

    def subscribe(self, topic: str) -> Subscription:
        return self._local.subscribe(topic)

    def close(self) -> None:
        # The listener thread closes the pub/sub connection itself when it ends; closing it
        # from here as well races with that.
        self._thread.stop()
        self._thread.join(timeout=5)
        self._redis.close()
        self._local.close()


def open_bus(redis_url: str | None) -> Bus:
    """Redis when a URL is configured, otherwise in-process."""
    return RedisBus(redis_url) if redis_url else MemoryBus()
