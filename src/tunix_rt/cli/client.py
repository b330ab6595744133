"""A small HTTP client for the CLI: server URL, token, clear errors."""

from __future__ import annotations

import os
from typing import Any

import httpx

DEFAULT_SERVER = "http://127.0.0.1:8000"
TIMEOUT_S = 60.0


class ApiError(Exception):
    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        body: Any = None,
        *,
        maybe_applied: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body
        # The request reached the server but no answer came back: it may have taken effect.
        self.maybe_applied = maybe_applied


def server_url(explicit: str | None = None) -> str:
    return (explicit or os.environ.get("TUNIX_RT_SERVER") or DEFAULT_SERVER).rstrip("/")


def auth_headers() -> dict[str, str]:
    token = os.environ.get("TUNIX_RT_API_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


class Client:
    def __init__(self, server: str | None = None, timeout_s: float = TIMEOUT_S) -> None:
        self.base = server_url(server)
        self.http = httpx.Client(base_url=self.base, headers=auth_headers(), timeout=timeout_s)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ApiError(
                f"cannot reach the tunix-rt server at {self.base} (is `tunix-rt serve` running?)"
            ) from exc
        except httpx.TimeoutException as exc:
            raise ApiError(
                f"the server at {self.base} did not answer in time", maybe_applied=True
            ) from exc
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ApiError(
                f"lost the connection to the server at {self.base} ({reason})",
                maybe_applied=True,
            ) from exc
        if response.status_code >= 400:
            raise ApiError(describe_error(response), response.status_code, _body(response))
        return response

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post_json(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=body, **kwargs).json()


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def describe_error(response: httpx.Response) -> str:
    body = _body(response)
    detail = body.get("detail") if isinstance(body, dict) else body
    return f"{response.status_code}: {detail}"
