from __future__ import annotations

from pathlib import Path

import pytest

from tunix_rt import errors
from tunix_rt.settings import load_settings


def test_defaults_derive_from_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNIX_RT_HOME", str(tmp_path))
    s = load_settings()
    assert s.artifacts == tmp_path / "artifacts"
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'tunix-rt.db'}"
    assert (s.host, s.port, s.trace_max_bytes) == ("127.0.0.1", 8000, 1024 * 1024)


def test_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNIX_RT_PORT", "not-a-port")
    with pytest.raises(errors.ConfigError, match="TUNIX_RT_PORT"):
        load_settings()


def test_bad_database_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNIX_RT_DATABASE_URL", "mysql://x")
    with pytest.raises(errors.ConfigError, match="TUNIX_RT_DATABASE_URL"):
        load_settings()


def test_lists_parse_from_comma_separated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TUNIX_RT_MODEL_ROOTS", f"{tmp_path}/a,{tmp_path}/b")
    monkeypatch.setenv("TUNIX_RT_WORKER_COMMAND", "python,-m,thing")
    s = load_settings()
    assert s.model_roots == [tmp_path / "a", tmp_path / "b"]
    assert s.worker_command == ["python", "-m", "thing"]


def test_body_limit_and_allowed_hosts_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert (s.max_body_bytes, s.allowed_hosts) == (64 * 1024 * 1024, [])
    monkeypatch.setenv("TUNIX_RT_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("TUNIX_RT_ALLOWED_HOSTS", "Tunix.Internal, *.corp.example,")
    s = load_settings()
    assert (s.max_body_bytes, s.allowed_hosts) == (2048, ["tunix.internal", "*.corp.example"])


@pytest.mark.parametrize("value", ["https://tunix.example", "tunix.example:8000", "a b"])
def test_allowed_hosts_take_names_only(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TUNIX_RT_ALLOWED_HOSTS", value)
    with pytest.raises(errors.ConfigError, match="TUNIX_RT_ALLOWED_HOSTS"):
        load_settings()


@pytest.mark.parametrize("value", ["", "   ", "\t \n"])
def test_blank_token_is_no_token(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TUNIX_RT_API_TOKEN", value)
    assert load_settings().api_token is None


def test_token_is_stripped_and_must_be_ascii(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNIX_RT_API_TOKEN", "  s3cret \n")
    assert load_settings().api_token == "s3cret"
    monkeypatch.setenv("TUNIX_RT_API_TOKEN", "s\u00e9cret")
    with pytest.raises(errors.ConfigError, match=r"TUNIX_RT_API_TOKEN: .*ASCII"):
        load_settings()
