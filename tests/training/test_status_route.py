"""GET /api/tunix/status probes the installed training stack out of process."""

from __future__ import annotations

import sys

import httpx
import pytest

pytestmark = [pytest.mark.training]


async def test_status_reports_the_installed_stack_without_importing_jax(
    client: httpx.AsyncClient,
) -> None:
    jax_was_loaded = "jax" in sys.modules
    response = await client.get("/api/tunix/status")
    assert response.status_code == 200
    body = response.json()
    assert body["training_available"] is True, body["message"]
    assert body["tunix_version"] == "0.1.7"
    assert body["jax_version"] == "0.10.2"
    assert any(device.startswith("cpu") for device in body["devices"])
    # The probe ran in a subprocess: answering did not import jax into the server.
    assert "jax" in sys.modules if jax_was_loaded else "jax" not in sys.modules
    again = await client.get("/api/tunix/status")
    assert again.json() == body
