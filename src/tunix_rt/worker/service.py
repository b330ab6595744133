"""Background services a server runs beside the API: embedded workers and the lease reaper."""

from __future__ import annotations

from tunix_rt.api.context import AppContext


async def start_server_services(ctx: AppContext, *, embedded_workers: int) -> None:
    """Start embedded workers and the reaper; they are appended to ctx.services."""
    # Filled in by the queue/worker module.
    return None


async def stop_server_services(ctx: AppContext) -> None:
    for svc in reversed(ctx.services):
        await svc.stop()
    ctx.services.clear()
