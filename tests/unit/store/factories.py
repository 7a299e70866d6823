"""Rows for store tests: a customer and face templates with deterministic vectors."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from salesmigo.store.models import Customer, FaceTemplate, TemplateOrigin

CONSENT = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def customer(name: str = "Ada Lovelace", email: str | None = "ada@example.com") -> Customer:
    return Customer(name=name, email=email, consent_given_at=CONSENT)


def unit_vector(seed: int, dimension: int = 128) -> NDArray[np.float32]:
    vector = np.random.default_rng(seed).standard_normal(dimension).astype(np.float32)
    return vector / np.linalg.norm(vector)


def template(owner: Customer, seed: int = 0, model: str = "sface") -> FaceTemplate:
    return FaceTemplate.from_vector(
        unit_vector(seed),
        customer=owner,
        model=model,
        model_version="2021dec",
        origin=TemplateOrigin.ENROLMENT,
        detection_score=0.93,
    )
