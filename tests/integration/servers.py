"""Real `salesmigo serve` processes for tests that cross process boundaries."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESMIGO_")}
    env["SALESMIGO_DATA_DIR"] = str(data_dir)
    if database_url:
        env["SALESMIGO_DATABASE_URL"] = database_url
    return env


def wait_for(condition: Callable[[], bool], seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(message)


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def start_server(
    data_dir: Path, database_url: str | None = None, port: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir.parent / f"server-{port}.log").open("a")
    process = subprocess.Popen(
        [sys.executable, "-m", "salesmigo", "serve", "--port", str(port)],
        env=environment(data_dir, database_url),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: healthy(base), 60, f"server on port {port} did not start")
    return process, base


@contextmanager
def server(data_dir: Path, database_url: str | None = None) -> Iterator[str]:
    process, base = start_server(data_dir, database_url)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)  # a server stores its cameras' open visits as it stops
