"""The realtime bus: in-process, and across processes through the machine's Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from salesmigo.realtime.bus import Bus, MemoryBus, RedisBus, open_bus

REDIS_URL = os.environ.get("SALESMIGO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL}: {error}", pytrace=False)
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {error}")


@pytest.fixture(params=["memory", "redis"])
def buses(request: pytest.FixtureRequest) -> Iterator[tuple[Bus, Bus]]:
    """Two buses that should see each other's messages (one process, or two Redis clients)."""
    if request.param == "memory":
        bus = MemoryBus()
        yield bus, bus
        bus.close()
        return
    _redis_or_skip()
    first, second = RedisBus(REDIS_URL), RedisBus(REDIS_URL)
    yield first, second
    first.close()
    second.close()


def test_subscribers_get_every_message_in_order(buses: tuple[Bus, Bus]) -> None:
    publisher, listener = buses
    topic = f"test-{uuid.uuid4().hex}"
    subscription = listener.subscribe(topic)
    other = listener.subscribe(f"{topic}-other")
    for number in range(5):
        publisher.publish(topic, {"n": number})
    received = [subscription.get(timeout=5) for _ in range(5)]
    assert received == [{"n": n} for n in range(5)]
    assert other.get(timeout=0.2) is None
    subscription.close()
    publisher.publish(topic, {"n": 99})
    assert subscription.get(timeout=0.2) is None


def test_a_slow_subscriber_loses_the_oldest_messages_not_the_publisher() -> None:
    bus = MemoryBus()
    subscription = bus.subscribe("busy")
    for number in range(1005):
        bus.publish("busy", {"n": number})
    messages = list(subscription.drain())
    assert subscription.dropped == 5
    assert messages[0] == {"n": 5}
    assert messages[-1] == {"n": 1004}


def test_open_bus_chooses_by_configuration() -> None:
    assert isinstance(open_bus(None), MemoryBus)
    with pytest.raises(redis.RedisError):
        open_bus("redis://127.0.0.1:1/0")
