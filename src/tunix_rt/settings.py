"""One Settings object, read from TUNIX_RT_* environment variables and passed down."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tunix_rt import errors

DEFAULT_HOME = Path("~/.tunix-rt")
HOST_NAME_RE = re.compile(r"^(\*\.)?[a-z0-9_][a-z0-9_.-]{0,252}$|^\*$")


def _split_list(value: Any, *, colon: bool = True) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        sep = "," if "," in text or not colon else ":"
        return [part for part in text.split(sep) if part.strip()]
    return value


class Settings(BaseSettings):
    """Service configuration. Every field maps to TUNIX_RT_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="TUNIX_RT_", extra="ignore")

    home: Path = DEFAULT_HOME
    database_url: str = ""
    artifact_root: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    trace_max_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    api_token: str | None = None
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Runs and workers
    worker_command: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [sys.executable, "-m", "tunix_rt.training"]
    )
    model_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    heartbeat_interval_s: float = Field(default=2.0, gt=0)
    lease_s: float = Field(default=15.0, gt=0)
    reaper_interval_s: float = Field(default=5.0, gt=0)
    poll_interval_s: float = Field(default=0.5, gt=0)
    cancel_grace_s: float = Field(default=10.0, ge=0)
    drain_timeout_s: float = Field(default=30.0, ge=0)
    default_timeout_s: int = Field(default=3600, ge=1)
    default_max_attempts: int = Field(default=3, ge=1)
    log_db_cap_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # A run attempt's logs/output.log stops growing here (a marker line says so).
    log_file_cap_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    log_flush_lines: int = Field(default=500, ge=1)
    log_flush_interval_ms: int = Field(default=50, ge=1)
    log_tail_lines: int = Field(default=20, ge=0)
    sse_heartbeat_s: float = Field(default=15.0, gt=0)
    jax_cache_dir: Path | None = None

    # Trying a run's model (POST /api/tunix/runs/{id}/generate): a child process per call.
    sample_command: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [sys.executable, "-m", "tunix_rt.training.sample"]
    )
    generate_timeout_s: float = Field(default=300.0, gt=0)
    generate_max_concurrent: int = Field(default=1, ge=1, le=16)

    # Database deadlines: a call past one fails (503 from the API) instead of hanging.
    # One statement (PostgreSQL statement_timeout; the client gives up a little later).
    db_statement_timeout_s: float = Field(default=60.0, gt=0)
    # A session left inside a transaction doing nothing (a stalled streamed export).
    db_idle_in_transaction_timeout_s: float = Field(default=600.0, gt=0)
    db_connect_timeout_s: float = Field(default=10.0, gt=0)
    # Waiting for a free pooled connection.
    db_pool_timeout_s: float = Field(default=10.0, gt=0)
    # SQLite: waiting for another writer's lock.
    db_busy_timeout_s: float = Field(default=30.0, gt=0)

    @field_validator("worker_command", "model_roots", "sample_command", mode="before")
    @classmethod
    def _parse_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _parse_hosts(cls, value: Any) -> Any:
        return _split_list(value, colon=False)

    @field_validator("api_token")
    @classmethod
    def _check_token(cls, value: str | None) -> str | None:
        # A blank token is no token: a non-loopback bind then refuses to start as without one.
        token = (value or "").strip()
        if not token:
            return None
        if not token.isascii() or not token.isprintable():
            raise ValueError("must be printable ASCII (it travels in an HTTP header)")
        return token

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        hosts = [host.strip().lower().rstrip(".") for host in value if host.strip()]
        for host in hosts:
            if not HOST_NAME_RE.match(host):
                raise ValueError(
                    f"{host[:100]!r} is not a host name (no scheme or port; '*.' prefix allowed)"
                )
        return hosts

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        self.home = self.home.expanduser()
        if self.artifact_root is None:
            self.artifact_root = self.home / "artifacts"
        self.artifact_root = self.artifact_root.expanduser()
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.home / 'tunix-rt.db'}"
        if not self.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "TUNIX_RT_DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        if self.jax_cache_dir is None:
            self.jax_cache_dir = self.home / "jax-cache"
        self.model_roots = [p.expanduser().resolve() for p in self.model_roots]
        return self

    @property
    def artifacts(self) -> Path:
        assert self.artifact_root is not None
        return self.artifact_root

    @property
    def database_kind(self) -> str:
        return "postgresql" if self.database_url.startswith("postgresql") else "sqlite"

    @property
    def is_loopback(self) -> bool:
        return self.host in {"127.0.0.1", "localhost", "::1"} or self.host.startswith("127.")


def load_settings(**overrides: Any) -> Settings:
    """Read settings; a bad value raises ConfigError naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = "_".join(str(p) for p in err["loc"]).upper()
            name = f"TUNIX_RT_{loc}" if loc else "TUNIX_RT settings"
            problems.append(f"{name}: {err['msg']}")
        raise errors.ConfigError("; ".join(problems)) from exc
