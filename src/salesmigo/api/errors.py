"""Every error leaves as JSON with a sentence; none leaves as a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from salesmigo.services.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PhotosRejected,
    SalesmigoError,
    Unauthorized,
)

logger = logging.getLogger(__name__)

_STATUS: dict[type[SalesmigoError], int] = {
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
}


def status_of(error: SalesmigoError) -> int:
    """The HTTP status of a user-caused error (WebSockets close with 4000 plus it)."""
    for kind, status in _STATUS.items():
        if isinstance(error, kind):
            return status
    return 400


def _describe_validation(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        location = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(location) or "request"
        parts.append(f"{field}: {item.get('msg', 'is invalid')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SalesmigoError)
    async def _salesmigo(_: Request, error: SalesmigoError) -> JSONResponse:
        body: dict[str, object] = {"detail": str(error)}
        if isinstance(error, PhotosRejected):
            body["problems"] = [{"photo": p.photo, "reason": p.reason} for p in error.problems]
        status = status_of(error)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _describe_validation(error)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(error.detail)}, status_code=error.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
        return JSONResponse(
            {"detail": "internal error: the server logged the details"}, status_code=500
        )
