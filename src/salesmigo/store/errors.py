"""Errors the store raises instead of leaking driver exceptions to its callers."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of the store's own errors."""


class NotFoundError(StoreError):
    """A row the caller named by id does not exist (or no longer exists)."""

    def __init__(self, entity: str, key: object) -> None:
        super().__init__(f"{entity} {key!r} not found")
        self.entity = entity
        self.key = key


class DuplicateEmailError(StoreError):
    """Another customer already uses this e-mail address."""

    def __init__(self, email: str) -> None:
        super().__init__(f"a customer with e-mail {email!r} already exists")
        self.email = email
