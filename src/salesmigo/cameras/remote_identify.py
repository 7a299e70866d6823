"""Identification for a camera agent: its faces' descriptors searched on the server."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx2 as httpx

from salesmigo.cameras.identity_vote import IdentificationUnavailable, IdentifyResult
from salesmigo.vision.types import Vector

logger = logging.getLogger(__name__)


class RemoteIdentifier:
    """``Identify`` over HTTP: one call per batch of faces to ``/api/v1/identify/descriptors``.

    While the server cannot be reached it raises IdentificationUnavailable (and logs the
    failure once per outage): the agent keeps tracking and counting, the faces wait to be
    identified when the server is back, and a person who leaves before then is reported
    with ``identified: false`` (not known), never as a stranger.
    """

    def __init__(
        self,
        server: str,
        model: str = "sface",
        *,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = server.rstrip("/") + "/api/v1/identify/descriptors"
        self._model = model
        self._client = httpx.Client(timeout=timeout, transport=transport)
        self._failing = False

    def __call__(self, vectors: Sequence[Vector]) -> list[IdentifyResult]:
        if not vectors:
            return []
        body = {"model": self._model, "descriptors": [v.tolist() for v in vectors]}
        try:
            response = self._client.post(self._url, json=body)
            response.raise_for_status()
            faces = response.json()["faces"]
        except (httpx.HTTPError, ValueError, KeyError) as error:
            if not self._failing:
                logger.warning(
                    "cannot identify on %s (%s); faces wait, marked unidentified",
                    self._url,
                    error,
                )
            self._failing = True
            raise IdentificationUnavailable(str(error)) from error
        if self._failing:
            logger.warning("identification on %s works again", self._url)
        self._failing = False
        return [
            (face["customer"]["id"] if face["customer"] else None, face["distance"])
            for face in faces
        ]

    def close(self) -> None:
        self._client.close()
