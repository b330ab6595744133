"""The one place where errors become HTTP responses. Every error body is {"detail": ...}."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tunix_rt import errors
from tunix_rt.db import outage

log = logging.getLogger(__name__)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        out.append(
            {"field": ".".join(loc), "message": err.get("msg", "invalid"), "type": err.get("type")}
        )
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.TunixRtError)
    async def _domain(_request: Request, exc: errors.TunixRtError) -> JSONResponse:
        return _domain_response(exc)

    # Driver errors become Unavailable at the data boundary (db/outage.py); what still
    # arrives here is the pool's checkout timeout, a driver error raised outside a statement
    # (asyncpg's own errors at checkout), or a real bug (500).
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        unavailable = outage.unavailable_from(exc)
        if unavailable is not None:
            log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
            return _domain_response(unavailable)
        return await _unexpected(request, exc)

    for driver_error in (
        SQLAlchemyError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
    ):
        app.add_exception_handler(driver_error, _database)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _field_errors(exc)
        first = fields[0] if fields else {"field": "body", "message": "invalid"}
        detail = f"{first['field']}: {first['message']}"
        return JSONResponse({"detail": detail, "errors": fields}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)


def _domain_response(exc: errors.TunixRtError) -> JSONResponse:
    body: dict[str, Any] = {"detail": exc.message}
    if exc.details:
        body.update(exc.details)
    headers = None
    if isinstance(exc, errors.Unavailable):
        headers = {"Retry-After": str(exc.retry_after_s)}
        body["retry_after_s"] = exc.retry_after_s
    return JSONResponse(body, status_code=exc.status_code, headers=headers)
