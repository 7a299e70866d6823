"""Enrol, look up, correct and erase customers, keeping the gallery in step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from salesmigo.services.errors import Conflict, ConsentRequired, InvalidInput, NotFound
from salesmigo.services.photos import Photo, PhotoFace, faces_for_enrolment
from salesmigo.services.runtime import Runtime
from salesmigo.store.errors import DuplicateEmailError
from salesmigo.store.gallery_log import record_added, record_customer_removed
from salesmigo.store.models import Customer, FaceTemplate, TemplateOrigin
from salesmigo.store.repositories import CustomerRepository
from salesmigo.store.types import utcnow


@dataclass(frozen=True)
class CustomerDetails:
    name: str
    email: str | None
    phone: str | None = None
    date_of_birth: date | None = None
    location: str | None = None


@dataclass(frozen=True)
class CustomerRecord:
    """A customer as callers see it, detached from the database session."""

    id: int
    name: str
    email: str | None
    phone: str | None
    date_of_birth: date | None
    location: str | None
    consent_given_at: datetime
    created_at: datetime
    templates: int


def _record(session: Session, customer: Customer) -> CustomerRecord:
    templates = session.scalar(
        select(func.count())
        .select_from(FaceTemplate)
        .where(FaceTemplate.customer_id == customer.id)
    )
    return CustomerRecord(
        id=customer.id,
        name=customer.name,
        email=customer.email,
        phone=customer.phone,
        date_of_birth=customer.date_of_birth,
        location=customer.location,
        consent_given_at=customer.consent_given_at,
        created_at=customer.created_at,
        templates=templates or 0,
    )


def existing_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return customer


def _store_templates(
    session: Session, customer: Customer, faces: Sequence[PhotoFace], origin: TemplateOrigin
) -> list[FaceTemplate]:
    templates = [
        FaceTemplate.from_vector(
            embedding.vector,
            model=embedding.model,
            model_version=embedding.model_version,
            origin=origin,
            customer=customer,
            detection_score=face.face.detection.score,
        )
        for face in faces
        for embedding in face.embeddings
    ]
    session.add_all(templates)
    session.flush()
    record_added(session, templates)
    return templates


def enrol(
    runtime: Runtime, details: CustomerDetails, consent: bool, photos: Sequence[Photo]
) -> CustomerRecord:
    """Create a customer with one template per photo (per enrolment model), all or nothing."""
    if not consent:
        raise ConsentRequired()
    if not details.name.strip():
        raise InvalidInput("name must not be empty")
    if not photos:
        raise InvalidInput("at least one photo is needed to recognise the customer")
    with runtime.sessions() as session:
        if details.email and CustomerRepository(session).get_by_email(details.email):
            raise Conflict(f"a customer with e-mail {details.email} is already enrolled")
    faces = faces_for_enrolment(runtime, photos)
    try:
        with runtime.sessions.begin() as session:
            customer = Customer(
                name=details.name.strip(),
                email=details.email,
                phone=details.phone,
                date_of_birth=details.date_of_birth,
                location=details.location,
                consent_given_at=utcnow(),
            )
            CustomerRepository(session).add(customer)
            _store_templates(session, customer, faces, TemplateOrigin.ENROLMENT)
            record = _record(session, customer)
    except DuplicateEmailError:
        raise Conflict(f"a customer with e-mail {details.email} is already enrolled") from None
    runtime.gallery_changed()
    return record


def add_photos(runtime: Runtime, customer_id: int, photos: Sequence[Photo]) -> CustomerRecord:
    with runtime.sessions() as session:
        existing_customer(session, customer_id)
    faces = faces_for_enrolment(runtime, photos)
    with runtime.sessions.begin() as session:
        customer = existing_customer(session, customer_id)
        _store_templates(session, customer, faces, TemplateOrigin.ENROLMENT)
        record = _record(session, customer)
    runtime.gallery_changed()
    return record


def get(runtime: Runtime, customer_id: int) -> CustomerRecord:
    with runtime.sessions() as session:
        return _record(session, existing_customer(session, customer_id))


def search(
    runtime: Runtime, query: str | None, limit: int, offset: int
) -> tuple[list[CustomerRecord], int]:
    with runtime.sessions() as session:
        repository = CustomerRepository(session)
        found = repository.search(query, limit=limit, offset=offset)
        return [_record(session, c) for c in found], repository.count(query)


def update(runtime: Runtime, customer_id: int, changes: dict[str, Any]) -> CustomerRecord:
    if "name" in changes and not (changes["name"] or "").strip():
        raise InvalidInput("name must not be empty")
    if "email" in changes and not changes["email"]:
        raise InvalidInput("email cannot be removed: it identifies the customer")
    try:
        with runtime.sessions.begin() as session:
            customer = existing_customer(session, customer_id)
            email = changes.get("email")
            if email:
                other = CustomerRepository(session).get_by_email(email)
                if other is not None and other.id != customer_id:
                    raise Conflict(f"a customer with e-mail {email} is already enrolled")
            for field, value in changes.items():
                setattr(customer, field, value)
            session.flush()
            return _record(session, customer)
    except DuplicateEmailError as error:
        raise Conflict(str(error)) from None


def erase(runtime: Runtime, customer_id: int) -> None:
    """Delete the customer with their templates and visits, and drop them from the gallery."""
    with runtime.sessions.begin() as session:
        customer = existing_customer(session, customer_id)
        record_customer_removed(session, customer_id)
        session.delete(customer)
    runtime.gallery_changed()
