"""Identification for a camera pipeline that runs inside the server: the gallery in memory.

A camera agent asks ``/api/v1/identify/descriptors`` over HTTP (cameras.remote_identify);
a pipeline fed by the browser camera page runs in the server process, so it calls the same
service directly. Same rule, same gallery, no visits recorded here (visits arrive as
events), and no round trip.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from salesmigo.cameras.identity_vote import IdentifyResult
from salesmigo.services.identification import identify_descriptors
from salesmigo.services.runtime import Runtime
from salesmigo.store.models import Customer
from salesmigo.vision.types import Vector


class LocalIdentifier:
    """``Identify`` against this process's gallery; remembers the names of who it found.

    The names serve the annotations sent back to the camera page, so drawing a name costs
    no database query per frame.
    """

    def __init__(self, runtime: Runtime, model: str) -> None:
        self._runtime = runtime
        self._model = model
        self._names: dict[int, str] = {}
        self._lock = threading.Lock()

    def __call__(self, vectors: Sequence[Vector]) -> list[IdentifyResult]:
        if not vectors:
            return []
        faces = identify_descriptors(self._runtime, self._model, [v.tolist() for v in vectors])
        results: list[IdentifyResult] = []
        for face in faces:
            customer_id = face.identification.matched_customer_id
            if customer_id is not None and face.customer_name is not None:
                with self._lock:
                    self._names[customer_id] = face.customer_name
            results.append((customer_id, face.identification.distance))
        return results

    def name_of(self, customer_id: int) -> str | None:
        """The customer's name: remembered from identification, else read once."""
        with self._lock:
            name = self._names.get(customer_id)
        if name is not None:
            return name
        with self._runtime.sessions() as session:
            customer = session.get(Customer, customer_id)
            name = None if customer is None else customer.name
        if name is not None:
            with self._lock:
                self._names[customer_id] = name
        return name
