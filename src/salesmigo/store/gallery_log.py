"""The gallery change log: what every process replays to keep its index current.

Writers call ``record_added`` / ``record_customer_removed`` in the same transaction as the
template change. On PostgreSQL two things make the log safe to follow by revision:
an advisory lock held to commit hands out revisions in commit order (otherwise a reader
could see revision 11 commit before 10 and skip 10 forever), and ``pg_notify`` in the same
transaction wakes listeners exactly when the change becomes visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, literal, select, text
from sqlalchemy.orm import Session

from salesmigo.store.models import FaceTemplate, GalleryChange, StoreIdentity
from salesmigo.store.types import utcnow

NOTIFY_CHANNEL = "salesmigo_gallery"
_PG_LOG_LOCK_KEY = 0x5A1E5_6A11


@dataclass(frozen=True)
class Change:
    revision: int
    op: str
    template_id: int
    customer_id: int
    model: str


def _serialise_writers(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOG_LOCK_KEY})


def _notify(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})


def record_added(session: Session, templates: Sequence[FaceTemplate]) -> None:
    """Log new templates; they must be flushed (have ids) already."""
    if not templates:
        return
    _serialise_writers(session)
    now = utcnow()
    session.add_all(
        GalleryChange(
            op="add",
            template_id=t.id,
            customer_id=t.customer_id,
            model=t.model,
            created_at=now,
        )
        for t in templates
    )
    session.flush()
    _notify(session)


def record_customer_removed(session: Session, customer_id: int) -> None:
    """Log the removal of every template of a customer about to be deleted."""
    _serialise_writers(session)
    session.execute(
        insert(GalleryChange).from_select(
            ["op", "template_id", "customer_id", "model", "created_at"],
            select(
                literal("remove"),
                FaceTemplate.id,
                FaceTemplate.customer_id,
                FaceTemplate.model,
                literal(utcnow(), type_=GalleryChange.created_at.type),
            )
            .where(FaceTemplate.customer_id == customer_id)
            .order_by(FaceTemplate.id),
        )
    )
    _notify(session)


def latest_revision(session: Session) -> int:
    return session.scalar(select(func.max(GalleryChange.id))) or 0


def changes_since(session: Session, revision: int, limit: int = 10_000) -> list[Change]:
    rows = session.execute(
        select(
            GalleryChange.id,
            GalleryChange.op,
            GalleryChange.template_id,
            GalleryChange.customer_id,
            GalleryChange.model,
        )
        .where(GalleryChange.id > revision)
        .order_by(GalleryChange.id)
        .limit(limit)
    )
    return [Change(*row) for row in rows]


def database_id(session: Session) -> str:
    """This database's identity, created by migration 0002."""
    identity = session.get(StoreIdentity, 1)
    if identity is None:  # pragma: no cover - the migration always inserts it
        raise RuntimeError("store_identity is empty: run `salesmigo migrate`")
    return identity.database_id
