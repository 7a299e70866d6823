from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from salesmigo.store.db import session_factory
from salesmigo.store.errors import DuplicateEmailError, NotFoundError
from salesmigo.store.models import Customer, FaceTemplate, Visit
from salesmigo.store.repositories import CustomerRepository, TemplateRepository, VisitRepository
from tests.unit.store.factories import CONSENT, customer, template, unit_vector


def _count(session: Session, model: type[Customer | FaceTemplate | Visit]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


# --- customers -------------------------------------------------------------------------


def test_add_get_and_get_by_email(db_session: Session) -> None:
    customers = CustomerRepository(db_session)
    ada = customers.add(customer(email="Ada@Example.com"))
    assert ada.id is not None
    assert customers.get(ada.id) is ada
    assert customers.get_by_email("  ADA@example.COM") is ada
    assert customers.get_by_email("nobody@example.com") is None
    assert customers.get_by_email("   ") is None
    assert customers.get(ada.id + 1000) is None
    with pytest.raises(NotFoundError, match="customer"):
        customers.require(ada.id + 1000)


def test_duplicate_email_is_refused_and_nothing_changes(migrated_engine: Engine) -> None:
    with session_factory(migrated_engine)() as session:
        CustomerRepository(session).add(customer("Ada", "ada@example.com"))
        session.commit()

    with session_factory(migrated_engine)() as session:
        customers = CustomerRepository(session)
        bob = customers.add(customer("Bob", "bob@example.com"))
        with pytest.raises(DuplicateEmailError) as raised:
            customers.add(customer("Impostor", " ADA@example.com "))
        assert raised.value.email == "ada@example.com"
        # The session is still usable and holds the earlier, valid work.
        session.commit()
        assert bob.id is not None

    with session_factory(migrated_engine)() as session:
        names = session.scalars(select(Customer.name).order_by(Customer.name)).all()
        assert names == ["Ada", "Bob"]


def test_duplicate_email_found_only_at_flush_is_still_a_duplicate_email_error(
    db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = CustomerRepository(db_session)
    customers.add(customer("Ada", "ada@example.com"))
    db_session.commit()
    # Simulate the race: another transaction inserted the address after our check.
    monkeypatch.setattr(customers, "get_by_email", lambda _email: None)
    with pytest.raises(DuplicateEmailError):
        customers.add(customer("Impostor", "ada@example.com"))
    assert _count(db_session, Customer) == 1


def test_update_changes_fields_and_checks_email(db_session: Session) -> None:
    customers = CustomerRepository(db_session)
    ada = customers.add(customer("Ada", "ada@example.com"))
    bob = customers.add(customer("Bob", "bob@example.com"))
    created = ada.updated_at

    updated = customers.update(ada.id, {"location": "Paris", "email": " ADA@new.example "})
    assert updated is ada
    assert (ada.location, ada.email) == ("Paris", "ada@new.example")
    assert ada.updated_at >= created
    customers.update(ada.id, {"email": "ada@new.example"})  # its own address is no conflict

    with pytest.raises(DuplicateEmailError):
        customers.update(ada.id, {"email": "BOB@example.com"})
    assert ada.email == "ada@new.example"
    assert bob.email == "bob@example.com"
    with pytest.raises(ValueError, match="id"):
        customers.update(ada.id, {"id": 5})
    with pytest.raises(NotFoundError):
        customers.update(ada.id + 1000, {"name": "Ghost"})


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (None, ["Ada Lovelace", "alan turing", "Grace Hopper"]),
        ("   ", ["Ada Lovelace", "alan turing", "Grace Hopper"]),
        ("a", ["Ada Lovelace", "alan turing", "Grace Hopper"]),
        ("ALAN", ["alan turing"]),
        ("navy.MIL", ["Grace Hopper"]),
        ("love", ["Ada Lovelace"]),
        ("%", []),
        ("_", ["alan turing"]),
        ("nobody", []),
    ],
)
def test_search_matches_name_or_email_ignoring_case(
    db_session: Session, query: str | None, expected: list[str]
) -> None:
    customers = CustomerRepository(db_session)
    customers.add(customer("Grace Hopper", "grace@navy.mil"))
    customers.add(customer("Ada Lovelace", "ada@example.com"))
    customers.add(customer("alan turing", "alan_turing@example.org"))
    assert [c.name for c in customers.search(query)] == expected
    assert customers.count(query) == len(expected)


def test_search_pages(db_session: Session) -> None:
    customers = CustomerRepository(db_session)
    for index in range(5):
        customers.add(customer(f"Customer {index}", f"c{index}@example.com"))
    first = customers.search("customer", limit=2)
    second = customers.search("customer", limit=2, offset=2)
    rest = customers.search("customer", limit=2, offset=4)
    assert [c.name for c in first + second + rest] == [f"Customer {i}" for i in range(5)]


def test_delete_customer_erases_templates_and_visits(db_session: Session) -> None:
    customers = CustomerRepository(db_session)
    templates = TemplateRepository(db_session)
    visits = VisitRepository(db_session)
    ada = customers.add(customer("Ada", "ada@example.com"))
    bob = customers.add(customer("Bob", "bob@example.com"))
    for seed, owner in enumerate([ada, ada, bob]):
        templates.add(template(owner, seed))
    visits.add(Visit(customer_id=ada.id, source="entrance", occurred_at=CONSENT))
    visits.add(Visit(customer_id=bob.id, source="entrance", occurred_at=CONSENT))
    db_session.commit()
    # Unload everything so the erasure relies on the database's cascade.
    db_session.expunge_all()

    customers.delete(ada.id)
    db_session.commit()

    assert customers.get(ada.id) is None
    assert templates.ids_for_customer(ada.id) == []
    assert visits.count(ada.id) == 0
    assert templates.count() == 1
    assert visits.count() == 1
    with pytest.raises(NotFoundError):
        customers.delete(ada.id)


# --- templates -------------------------------------------------------------------------


def test_templates_for_customer_and_counts(db_session: Session) -> None:
    customers = CustomerRepository(db_session)
    templates = TemplateRepository(db_session)
    ada = customers.add(customer("Ada", "ada@example.com"))
    bob = customers.add(customer("Bob", "bob@example.com"))
    first = templates.add(template(ada, 1, model="sface"))
    second = templates.add(template(ada, 2, model="dlib"))
    templates.add(template(bob, 3, model="dlib"))

    assert templates.for_customer(ada.id) == [first, second]
    assert templates.for_customer(ada.id, model="dlib") == [second]
    assert templates.ids_for_customer(ada.id) == [first.id, second.id]
    assert templates.get(first.id) is first
    assert templates.count() == 3
    assert templates.count("dlib") == 2
    assert templates.count_by_model() == {"sface": 1, "dlib": 2}
    assert templates.customer_ids_with_model("dlib") == {ada.id, bob.id}
    assert templates.customer_ids_with_model("sface") == {ada.id}
    assert templates.customer_ids_with_model("arcface") == set()

    templates.delete(first.id)
    assert templates.ids_for_customer(ada.id) == [second.id]
    with pytest.raises(NotFoundError, match="template"):
        templates.delete(first.id)


@pytest.mark.parametrize("batch_size", [1, 3, 7, 10_000])
def test_batched_iteration_returns_every_template_of_the_model(
    db_session: Session, batch_size: int
) -> None:
    customers = CustomerRepository(db_session)
    templates = TemplateRepository(db_session)
    owners = [customers.add(customer(f"C{i}", f"c{i}@example.com")) for i in range(4)]
    expected = {}
    for seed in range(14):
        owner = owners[seed % 4]
        model = "dlib" if seed % 5 == 0 else "sface"
        stored = templates.add(template(owner, seed, model=model))
        if model == "sface":
            expected[stored.id] = (owner.id, unit_vector(seed))
    db_session.commit()

    batches = list(templates.iter_batches("sface", batch_size=batch_size))
    assert all(0 < len(batch) <= batch_size for batch in batches)
    rows = [row for batch in batches for row in batch]
    assert [row.template_id for row in rows] == sorted(expected)
    for row in rows:
        owner_id, vector = expected[row.template_id]
        assert row.customer_id == owner_id
        assert row.vector.dtype == np.float32
        assert np.array_equal(row.vector, vector)
    assert list(templates.iter_batches("arcface")) == []


def test_batch_size_must_be_positive(db_session: Session) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        next(TemplateRepository(db_session).iter_batches("sface", batch_size=0))


# --- visits ----------------------------------------------------------------------------


def test_visits_for_customer_newest_first_and_counts(db_session: Session) -> None:
    customers = CustomerRepository(db_session)
    visits = VisitRepository(db_session)
    ada = customers.add(customer("Ada", "ada@example.com"))
    start = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
    for hours in (0, 5, 2):
        visits.add(
            Visit(
                customer_id=ada.id,
                source="entrance",
                occurred_at=start + timedelta(hours=hours),
                distance=0.42,
            )
        )
    visits.add(Visit(customer_id=None, source="entrance", occurred_at=start))
    db_session.commit()

    history = visits.for_customer(ada.id)
    assert [v.occurred_at for v in history] == [
        start + timedelta(hours=5),
        start + timedelta(hours=2),
        start,
    ]
    assert all(v.occurred_at.tzinfo == UTC for v in history)
    assert [v.occurred_at for v in visits.for_customer(ada.id, limit=1, offset=1)] == [
        start + timedelta(hours=2)
    ]
    assert visits.count() == 4
    assert visits.count(ada.id) == 3
    assert visits.count(ada.id, since=start + timedelta(hours=1)) == 2
    assert visits.count(since=start) == 4
