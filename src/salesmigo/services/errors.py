"""Errors a user can cause, each carrying a sentence that says what was wrong."""

from __future__ import annotations

from dataclasses import dataclass


class SalesmigoError(Exception):
    """Base of user-caused errors; ``str(error)`` is the sentence shown to the user."""


class NotFound(SalesmigoError):
    pass


class Conflict(SalesmigoError):
    pass


class Unauthorized(SalesmigoError):
    """No valid credentials (HTTP 401)."""


class Forbidden(SalesmigoError):
    """Valid credentials that do not allow this (HTTP 403)."""


class InvalidInput(SalesmigoError):
    pass


class ConsentRequired(InvalidInput):
    def __init__(self) -> None:
        super().__init__(
            "consent must be true: a customer is enrolled only after agreeing to face recognition"
        )


@dataclass(frozen=True)
class PhotoProblem:
    photo: str
    reason: str


class PhotosRejected(InvalidInput):
    """Some photos cannot be used; nothing was stored."""

    def __init__(self, problems: list[PhotoProblem]) -> None:
        self.problems = problems
        listed = "; ".join(f"{p.photo}: {p.reason}" for p in problems)
        super().__init__(f"nothing was stored because some photos cannot be used: {listed}")
