from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesmigo.store.db import session_factory
from salesmigo.store.models import Customer, FaceTemplate, TemplateOrigin, Visit
from tests.unit.store.factories import CONSENT, customer, template, unit_vector


def _fresh(engine: Engine) -> Session:
    # A new session so values come from the database, not from the identity map.
    return session_factory(engine)()


def test_customer_round_trips_with_aware_utc_datetimes(migrated_engine: Engine) -> None:
    tokyo = timezone(timedelta(hours=9))
    with _fresh(migrated_engine) as session:
        ada = Customer(
            name="Ada Lovelace",
            email="  Ada@Example.COM ",
            phone="+44 20 7946 0000",
            date_of_birth=date(1815, 12, 10),
            location="London",
            consent_given_at=datetime(2024, 5, 1, 18, 30, 15, 123456, tzinfo=tokyo),
        )
        session.add(ada)
        session.commit()
        customer_id = ada.id

    with _fresh(migrated_engine) as session:
        loaded = session.get(Customer, customer_id)
        assert loaded is not None
        assert loaded.email == "ada@example.com"
        assert loaded.date_of_birth == date(1815, 12, 10)
        assert loaded.consent_given_at == datetime(2024, 5, 1, 9, 30, 15, 123456, tzinfo=UTC)
        assert loaded.consent_given_at.tzinfo == UTC
        assert loaded.created_at.tzinfo == UTC
        assert loaded.updated_at >= loaded.created_at
        assert abs(datetime.now(UTC) - loaded.created_at) < timedelta(minutes=5)


def test_blank_email_is_stored_as_none(migrated_engine: Engine) -> None:
    with _fresh(migrated_engine) as session:
        session.add_all([customer("A", "  "), customer("B", None)])
        session.commit()  # two customers without e-mail do not violate uniqueness
        assert session.scalars(select(Customer.email)).all() == [None, None]


def test_naive_datetime_is_refused_at_flush(migrated_engine: Engine) -> None:
    with _fresh(migrated_engine) as session:
        session.add(Customer(name="Naive", consent_given_at=datetime(2024, 1, 1)))
        with pytest.raises(Exception, match="naive datetime"):
            session.flush()


def test_template_vector_round_trips_bit_exact(migrated_engine: Engine) -> None:
    vector = unit_vector(7)
    with _fresh(migrated_engine) as session:
        owner = customer()
        session.add(owner)
        stored = template(owner, seed=7)
        session.add(stored)
        session.commit()
        template_id = stored.id

    with _fresh(migrated_engine) as session:
        loaded = session.get(FaceTemplate, template_id)
        assert loaded is not None
        assert loaded.vector == vector.astype("<f4").tobytes()
        assert loaded.dimension == 128
        assert loaded.embedding.dtype == np.float32
        assert np.array_equal(loaded.embedding, vector)
        assert (loaded.model, loaded.model_version) == ("sface", "2021dec")
        assert loaded.origin == TemplateOrigin.ENROLMENT
        assert loaded.detection_score == pytest.approx(0.93)
        assert loaded.created_at.tzinfo == UTC


def test_legacy_template_has_no_detection_score(migrated_engine: Engine) -> None:
    with _fresh(migrated_engine) as session:
        owner = customer()
        legacy = FaceTemplate.from_vector(
            unit_vector(1),
            customer=owner,
            model="dlib",
            model_version="face-api.js",
            origin="legacy_import",
        )
        session.add(legacy)
        session.commit()
        assert session.scalars(select(FaceTemplate.detection_score)).one() is None


def test_unknown_origin_is_refused() -> None:
    with pytest.raises(ValueError, match="imported"):
        FaceTemplate.from_vector(
            unit_vector(1), customer_id=1, model="sface", model_version="x", origin="imported"
        )


def test_database_refuses_a_vector_that_does_not_match_its_dimension(
    migrated_engine: Engine,
) -> None:
    with _fresh(migrated_engine) as session:
        broken = template(customer(), seed=1)
        broken.dimension = 64
        session.add(broken)
        with pytest.raises(IntegrityError):
            session.flush()


def test_deleting_a_customer_through_the_orm_erases_templates_and_visits(
    migrated_engine: Engine,
) -> None:
    with _fresh(migrated_engine) as session:
        ada, bob = customer(), customer("Bob", "bob@example.com")
        session.add_all([template(ada, 1), template(ada, 2), template(bob, 3)])
        session.add_all(
            [
                Visit(customer=ada, source="entrance", occurred_at=CONSENT, distance=0.4),
                Visit(customer=bob, source="entrance", occurred_at=CONSENT, distance=0.5),
                Visit(source="entrance", occurred_at=CONSENT),
            ]
        )
        session.commit()
        ada_id = ada.id

    with _fresh(migrated_engine) as session:
        # Loaded freshly: templates and visits are not in the session, the database cascades.
        session.delete(session.get_one(Customer, ada_id))
        session.commit()

    _assert_only_bob_remains(migrated_engine, ada_id)


def test_deleting_a_customer_in_sql_cascades_in_the_database(migrated_engine: Engine) -> None:
    with _fresh(migrated_engine) as session:
        ada, bob = customer(), customer("Bob", "bob@example.com")
        session.add_all([template(ada, 1), template(bob, 3)])
        session.add(Visit(customer=ada, source="aisle-3", occurred_at=CONSENT))
        session.add(Visit(customer=bob, source="aisle-3", occurred_at=CONSENT))
        session.commit()
        ada_id = ada.id

    with migrated_engine.begin() as connection:
        connection.execute(delete(Customer).where(Customer.id == ada_id))

    _assert_only_bob_remains(migrated_engine, ada_id)


def _assert_only_bob_remains(engine: Engine, erased_id: int) -> None:
    with _fresh(engine) as session:
        assert session.get(Customer, erased_id) is None
        for model in (FaceTemplate, Visit):
            erased = session.scalar(
                select(func.count()).select_from(model).where(model.customer_id == erased_id)
            )
            assert erased == 0
        for model in (FaceTemplate, Visit):
            assert (session.scalar(select(func.count()).select_from(model)) or 0) >= 1


def test_foreign_keys_are_enforced(migrated_engine: Engine) -> None:
    with pytest.raises(IntegrityError), migrated_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO visits (customer_id, source, occurred_at) "
                "VALUES (999, 'entrance', CURRENT_TIMESTAMP)"
            )
        )


def test_reprs_carry_no_personal_data() -> None:
    ada = customer()
    assert "Ada" not in repr(ada)
    assert "example.com" not in repr(ada)
