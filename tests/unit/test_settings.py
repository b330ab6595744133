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
