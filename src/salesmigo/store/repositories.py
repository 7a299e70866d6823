"""Thin data access over a caller-owned Session: queries and writes, no business rules.

Repositories flush (so ids exist and constraint violations surface here) but never commit:
the caller owns the unit of work.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesmigo.store.errors import DuplicateEmailError, NotFoundError
from salesmigo.store.models import Customer, FaceTemplate, Visit, normalize_email
from salesmigo.store.types import decode_vector

logger = logging.getLogger(__name__)

# Fields a caller may change through CustomerRepository.update.
CUSTOMER_UPDATABLE_FIELDS = frozenset(
    {"name", "email", "phone", "date_of_birth", "location", "consent_given_at"}
)


class CustomerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, customer: Customer) -> Customer:
        """Insert `customer`; DuplicateEmailError if its e-mail is taken."""
        if customer.email is not None and self.get_by_email(customer.email) is not None:
            raise DuplicateEmailError(customer.email)
        self.session.add(customer)
        self._flush_or_duplicate(customer.email)
        return customer

    def get(self, customer_id: int) -> Customer | None:
        return self.session.get(Customer, customer_id)

    def require(self, customer_id: int) -> Customer:
        """Like get, but NotFoundError instead of None."""
        customer = self.get(customer_id)
        if customer is None:
            raise NotFoundError("customer", customer_id)
        return customer

    def get_by_email(self, email: str) -> Customer | None:
        normalized = normalize_email(email)
        if normalized is None:
            return None
        return self.session.scalars(select(Customer).where(Customer.email == normalized)).first()

    def search(
        self, query: str | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[Customer]:
        """Customers whose name or e-mail contains `query` (any case), by name then id."""
        statement = (
            select(Customer)
            .where(*self._search_filter(query))
            .order_by(func.lower(Customer.name), Customer.id)
            .limit(limit)
            .offset(offset)
        )
        return list(self.session.scalars(statement))

    def count(self, query: str | None = None) -> int:
        """How many customers search(query) would return without limit and offset."""
        statement = select(func.count()).select_from(Customer).where(*self._search_filter(query))
        return self.session.scalar(statement) or 0

    def update(self, customer_id: int, changes: Mapping[str, object]) -> Customer:
        """Set the given fields (e.g. a pydantic model_dump(exclude_unset=True))."""
        unknown = set(changes) - CUSTOMER_UPDATABLE_FIELDS
        if unknown:
            raise ValueError(f"cannot update customer field(s): {', '.join(sorted(unknown))}")
        customer = self.require(customer_id)
        if "email" in changes:
            email = changes["email"]
            if email is not None and not isinstance(email, str):
                raise TypeError("email must be a string or None")
            other = self.get_by_email(email) if email is not None else None
            if other is not None and other.id != customer.id:
                raise DuplicateEmailError(other.email or "")
        for field, value in changes.items():
            setattr(customer, field, value)
        self._flush_or_duplicate(customer.email)
        return customer

    def delete(self, customer_id: int) -> None:
        """Delete the customer; the database cascades to templates and visits."""
        self.session.delete(self.require(customer_id))
        self.session.flush()

    @staticmethod
    def _search_filter(query: str | None) -> list[ColumnElement[bool]]:
        needle = (query or "").strip().lower()
        if not needle:
            return []
        return [
            or_(
                func.lower(Customer.name).contains(needle, autoescape=True),
                func.lower(Customer.email).contains(needle, autoescape=True),
            )
        ]

    def _flush_or_duplicate(self, email: str | None) -> None:
        try:
            self.session.flush()
        except IntegrityError as error:
            # Another transaction took the address between our check and this flush. The
            # failed flush leaves the session unusable, so the caller's unit of work is lost.
            self.session.rollback()
            if email is not None and _is_unique_email_violation(error):
                raise DuplicateEmailError(email) from None
            raise


def _is_unique_email_violation(error: IntegrityError) -> bool:
    message = str(error.orig).lower()
    # SQLite: "UNIQUE constraint failed: customers.email"; PostgreSQL names the constraint.
    return "customers.email" in message or "uq_customers_email" in message


class StoredVector(NamedTuple):
    template_id: int
    customer_id: int
    vector: NDArray[np.float32]


class TemplateRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, template: FaceTemplate) -> FaceTemplate:
        self.session.add(template)
        self.session.flush()
        return template

    def get(self, template_id: int) -> FaceTemplate | None:
        return self.session.get(FaceTemplate, template_id)

    def delete(self, template_id: int) -> None:
        template = self.get(template_id)
        if template is None:
            raise NotFoundError("face template", template_id)
        self.session.delete(template)
        self.session.flush()

    def for_customer(self, customer_id: int, model: str | None = None) -> list[FaceTemplate]:
        statement = select(FaceTemplate).where(FaceTemplate.customer_id == customer_id)
        if model is not None:
            statement = statement.where(FaceTemplate.model == model)
        return list(self.session.scalars(statement.order_by(FaceTemplate.id)))

    def ids_for_customer(self, customer_id: int) -> list[int]:
        """Template ids, e.g. to drop them from the gallery index before an erasure."""
        statement = (
            select(FaceTemplate.id)
            .where(FaceTemplate.customer_id == customer_id)
            .order_by(FaceTemplate.id)
        )
        return list(self.session.scalars(statement))

    def iter_batches(self, model: str, batch_size: int = 10_000) -> Iterator[list[StoredVector]]:
        """All templates of `model` in id order, `batch_size` at a time.

        Keyset pagination (id > last seen) rather than OFFSET: each batch is one index range
        scan on (model, id), however far in, and no cursor stays open between batches.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        last_id = 0
        while True:
            rows = self.session.execute(
                select(FaceTemplate.id, FaceTemplate.customer_id, FaceTemplate.vector)
                .where(FaceTemplate.model == model, FaceTemplate.id > last_id)
                .order_by(FaceTemplate.id)
                .limit(batch_size)
            ).all()
            if not rows:
                return
            yield [StoredVector(row.id, row.customer_id, decode_vector(row.vector)) for row in rows]
            last_id = rows[-1].id
            if len(rows) < batch_size:
                return

    def count(self, model: str | None = None) -> int:
        statement = select(func.count()).select_from(FaceTemplate)
        if model is not None:
            statement = statement.where(FaceTemplate.model == model)
        return self.session.scalar(statement) or 0

    def count_by_model(self) -> dict[str, int]:
        statement = select(FaceTemplate.model, func.count()).group_by(FaceTemplate.model)
        return {model: count for model, count in self.session.execute(statement).tuples()}

    def customer_ids_with_model(self, model: str) -> set[int]:
        """Customers holding at least one template of `model` (the rest need an upgrade)."""
        statement = select(FaceTemplate.customer_id).where(FaceTemplate.model == model).distinct()
        return set(self.session.scalars(statement))


class VisitRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, visit: Visit) -> Visit:
        self.session.add(visit)
        self.session.flush()
        return visit

    def for_customer(self, customer_id: int, *, limit: int = 100, offset: int = 0) -> list[Visit]:
        """The customer's visits, newest first."""
        statement = (
            select(Visit)
            .where(Visit.customer_id == customer_id)
            .order_by(Visit.occurred_at.desc(), Visit.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return list(self.session.scalars(statement))

    def count(self, customer_id: int | None = None, *, since: datetime | None = None) -> int:
        statement = select(func.count()).select_from(Visit)
        if customer_id is not None:
            statement = statement.where(Visit.customer_id == customer_id)
        if since is not None:
            statement = statement.where(Visit.occurred_at >= since)
        return self.session.scalar(statement) or 0
