"""The tables of Salesmigo: customers, their face templates and their visits.

Erasing a customer must erase their biometric data and history with them, so every child
row references its customer with ON DELETE CASCADE (enforced by the database, on SQLite too
because the engine turns foreign keys on) and the ORM relationships cascade as well.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from salesmigo.store.types import UTCDateTime, decode_vector, encode_vector, utcnow

# Named constraints keep Alembic migrations deterministic and let later migrations drop or
# alter a constraint by name on both backends (SQLite batch mode needs the names too).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class TemplateOrigin(StrEnum):
    """How a face template came to exist."""

    ENROLMENT = "enrolment"
    LEGACY_IMPORT = "legacy_import"
    AUTO_UPGRADE = "auto_upgrade"


def normalize_email(email: str | None) -> str | None:
    """Addresses are compared case-insensitively, so store one canonical spelling."""
    if email is None:
        return None
    cleaned = email.strip().lower()
    return cleaned or None


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Optional because a walk-in customer may consent to recognition without giving one.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    date_of_birth: Mapped[date | None]
    location: Mapped[str | None] = mapped_column(String(200))
    consent_given_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # passive_deletes: the database removes the children, so the ORM need not load them.
    templates: Mapped[list[FaceTemplate]] = relationship(
        back_populates="customer",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="FaceTemplate.id",
    )
    visits: Mapped[list[Visit]] = relationship(
        back_populates="customer",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Visit.occurred_at",
    )

    @validates("email")
    def _normalize_email(self, _key: str, value: str | None) -> str | None:
        return normalize_email(value)

    def __repr__(self) -> str:
        # Never the name or e-mail: reprs end up in logs and tracebacks.
        return f"<Customer id={self.id}>"


class FaceTemplate(Base):
    __tablename__ = "face_templates"
    __table_args__ = (
        # Serves "all templates of a model in id order", the gallery's start-up load.
        Index("ix_face_templates_model_id", "model", "id"),
        CheckConstraint("dimension > 0", name="dimension_positive"),
        CheckConstraint("length(vector) = 4 * dimension", name="vector_length"),
        CheckConstraint(
            "origin IN ('enrolment', 'legacy_import', 'auto_upgrade')", name="origin_known"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    dimension: Mapped[int]
    model: Mapped[str] = mapped_column(String(32))
    model_version: Mapped[str] = mapped_column(String(64))
    # None for legacy imports: the prototype kept descriptors but not detector scores.
    detection_score: Mapped[float | None]
    origin: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="templates")

    @classmethod
    def from_vector(
        cls,
        vector: ArrayLike,
        *,
        model: str,
        model_version: str,
        origin: TemplateOrigin | str,
        customer_id: int | None = None,
        customer: Customer | None = None,
        detection_score: float | None = None,
    ) -> FaceTemplate:
        template = cls(
            model=model,
            model_version=model_version,
            origin=TemplateOrigin(origin).value,
            detection_score=detection_score,
        )
        if customer is not None:
            template.customer = customer
        if customer_id is not None:
            template.customer_id = customer_id
        template.embedding = vector
        return template

    @property
    def embedding(self) -> NDArray[np.float32]:
        """The vector as float32 numpy (a copy: changing it does not change the row)."""
        return decode_vector(self.vector)

    @embedding.setter
    def embedding(self, value: ArrayLike) -> None:
        self.vector = encode_vector(value)
        self.dimension = len(self.vector) // 4

    def __repr__(self) -> str:
        return f"<FaceTemplate id={self.id} model={self.model} customer_id={self.customer_id}>"


class Visit(Base):
    __tablename__ = "visits"
    # Serves a customer's history newest first, and the cascade's lookup by customer_id.
    __table_args__ = (Index("ix_visits_customer_id_occurred_at", "customer_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Nullable so a visit can be counted without an identified customer.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    # Distance of the match that identified the customer; None when not from recognition.
    distance: Mapped[float | None]
    # When the person was last seen (a camera track ended); None for a single sighting.
    departed_at: Mapped[datetime | None]
    # The camera agent's id of this visit: its arrival and departure events name it, so
    # the departure completes the visit the arrival created (or creates it, if first).
    agent_visit_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    # False when the camera could not identify anyone (the server was unreachable): a null
    # customer then means "not known", not a stranger, and footfall reports can tell.
    identified: Mapped[bool] = mapped_column(default=True)

    customer: Mapped[Customer | None] = relationship(back_populates="visits")

    def __repr__(self) -> str:
        return f"<Visit id={self.id} customer_id={self.customer_id} source={self.source}>"


class GalleryChange(Base):
    """One template added to or removed from the gallery; the id is the gallery revision.

    Every process replays this log to keep its in-memory index in step with the database,
    and a persisted index snapshot records the revision it reflects. No foreign key: a
    removal row outlives the template it names.
    """

    __tablename__ = "gallery_changes"
    __table_args__ = (CheckConstraint("op IN ('add', 'remove')", name="op_known"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    op: Mapped[str] = mapped_column(String(8))
    template_id: Mapped[int]
    customer_id: Mapped[int]
    model: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoreIdentity(Base):
    """A single row naming this database, so a snapshot of another one is never loaded."""

    __tablename__ = "store_identity"

    id: Mapped[int] = mapped_column(primary_key=True)
    database_id: Mapped[str] = mapped_column(String(32))


class CameraRole(StrEnum):
    ENTRANCE = "entrance"
    AISLE = "aisle"
    FITTING_ROOM = "fitting_room"


class Aisle(Base):
    __tablename__ = "aisles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    category: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Camera(Base):
    __tablename__ = "cameras"
    __table_args__ = (
        CheckConstraint("role IN ('entrance', 'aisle', 'fitting_room')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    # An aisle camera without an aisle still identifies; its observations have no aisle.
    aisle_id: Mapped[int | None] = mapped_column(
        ForeignKey("aisles.id", ondelete="SET NULL"), index=True
    )
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    aisle: Mapped[Aisle | None] = relationship()


class _Sighting:
    """Who was seen, where and when: what every observation table shares.

    Rows are a time series, never overwritten. The customer when recognised; otherwise
    the anonymous visit of the person, so one stranger's sightings stay together.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("visits.id", ondelete="CASCADE"), index=True
    )
    aisle_id: Mapped[int | None] = mapped_column(ForeignKey("aisles.id", ondelete="SET NULL"))
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("cameras.id", ondelete="SET NULL"))
    observed_at: Mapped[datetime]


def _sighting_indexes(table: str) -> tuple[Index, Index]:
    # Serve the sentiment queries: one aisle, or one customer, over a time range.
    return (
        Index(f"ix_{table}_aisle_id_observed_at", "aisle_id", "observed_at"),
        Index(f"ix_{table}_customer_id_observed_at", "customer_id", "observed_at"),
    )


class ExpressionObservation(_Sighting, Base):
    """A facial expression with the probabilities of all seven."""

    __tablename__ = "expression_observations"
    __table_args__ = _sighting_indexes(__tablename__)

    label: Mapped[str] = mapped_column(String(16))
    probabilities: Mapped[dict[str, float]] = mapped_column(JSON)


class GestureObservation(_Sighting, Base):
    """A feedback gesture that persisted over several frames of one person."""

    __tablename__ = "gesture_observations"
    __table_args__ = _sighting_indexes(__tablename__)

    gesture: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float]


class CameraToken(Base):
    """A secret that lets one camera agent send events, and nothing else.

    Only a SHA-256 of the token is kept: the token itself is shown once, when issued.
    """

    __tablename__ = "camera_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class IngestedEvent(Base):
    """The id of every camera event stored: what makes ingest idempotent."""

    __tablename__ = "ingested_events"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("cameras.id", ondelete="SET NULL"))
    type: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
