"""Environment: is the training stack installed, which versions, which devices.

Versions come from package metadata (no import); devices need `import jax`, so the API
runs `python -m tunix_rt.training --probe` in a subprocess instead of importing jax.
"""

from __future__ import annotations

import importlib.util
from importlib import metadata
from typing import Any

TRAIN_EXTRA_HINT = "real training needs the `train` extra: pip install 'tunix-rt[train]'"
REQUIRED_MODULES = ("jax", "flax", "optax", "orbax.checkpoint", "tunix", "sentencepiece")


class StackMissing(RuntimeError):
    """The training stack (jax, tunix, ...) is not installed (the child exits 3)."""


def require_stack() -> None:
    missing = missing_modules()
    if missing:
        raise StackMissing(f"missing {', '.join(missing)}: {TRAIN_EXTRA_HINT}")


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def missing_modules() -> list[str]:
    missing = []
    for name in REQUIRED_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def probe_environment() -> dict[str, Any]:
    """What GET /api/tunix/status reports; imports jax (slow: run it out of process)."""
    report: dict[str, Any] = {
        "training_available": False,
        "tunix_version": package_version("google-tunix"),
        "jax_version": package_version("jax"),
        "devices": [],
        "message": "",
    }
    missing = missing_modules()
    if missing:
        report["message"] = f"missing {', '.join(missing)}: {TRAIN_EXTRA_HINT}"
        return report
    try:
        import jax

        report["devices"] = [f"{d.platform}:{d.id} {d.device_kind}" for d in jax.devices()]
    except Exception as exc:  # any backend failure is reported, not raised
        report["message"] = f"jax is installed but unusable: {exc}"
        return report
    report["training_available"] = True
    report["message"] = f"training available on {len(report['devices'])} device(s)"
    return report
