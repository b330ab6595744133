"""Wake-ups: an in-process hub, fed locally and (on PostgreSQL) by LISTEN/NOTIFY.

Notices are hints, never data: a subscriber that wakes re-reads the database by seq, so a
duplicated or coalesced notice is harmless and a lost one costs at most one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

CHANNEL = "tunix_rt"
RECONNECT_DELAY_S = 1.0
# Sent by a server that begins shutting down: every log stream closes (clients resume by seq).
STOPPING = "stopping"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    kind: str  # "enqueued" | "log" | "status" | "metric" | "artifact"
    run_id: str | None = None


@dataclass(eq=False)
class Subscription:
    run_id: str | None
    _event: asyncio.Event = field(default_factory=asyncio.Event)
    kinds: set[str] = field(default_factory=set)

    def _deliver(self, notice: Notice) -> None:
        self.kinds.add(notice.kind)
        self._event.set()

    async def wait(self, timeout_s: float) -> bool:
        """Wait for a notice since the last wait; False on timeout."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout_s)
        except TimeoutError:
            return False
        self._event.clear()
        return True

    def pop_kinds(self) -> set[str]:
        kinds, self.kinds = self.kinds, set()
        return kinds


class Hub:
    """Fan-out of notices to subscribers in this process."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._sticky: set[str] = set()
        self._listener: asyncio.Task[None] | None = None
        self._dsn: str | None = None

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def publish_local(self, notice: Notice) -> None:
        for sub in list(self._subs):
            if sub.run_id is None or sub.run_id == notice.run_id:
                sub._deliver(notice)

    def wake_all(self, kind: str) -> None:
        """Deliver `kind` to every subscriber, whatever run it follows.

        STOPPING also reaches every later subscriber: a stream whose request arrived just
        before shutdown subscribes after this call, and would otherwise follow its run until
        the server's graceful timeout cut it.
        """
        if kind == STOPPING:
            self._sticky.add(kind)
        for sub in list(self._subs):
            sub._deliver(Notice(kind, sub.run_id))

    @contextlib.asynccontextmanager
    async def subscribe(self, run_id: uuid.UUID | str | None = None) -> AsyncIterator[Subscription]:
        sub = Subscription(str(run_id) if run_id is not None else None)
        self._subs.add(sub)
        for kind in self._sticky:
            sub._deliver(Notice(kind, sub.run_id))
        try:
            yield sub
        finally:
            self._subs.discard(sub)

    async def start(self, database_url: str) -> None:
        """On PostgreSQL, start a LISTEN connection that feeds this hub (reconnects on loss)."""
        if not database_url.startswith("postgresql"):
            return
        self._dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._listener = asyncio.create_task(self._listen_forever(), name="tunix-rt-listen")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None

    async def _listen_forever(self) -> None:
        import asyncpg

        assert self._dsn is not None
        while True:
            conn: Any = None
            try:
                conn = await asyncpg.connect(self._dsn)
                lost = asyncio.Event()

                def _on_notify(_c: Any, _pid: int, _channel: str, payload: str) -> None:
                    try:
                        data = json.loads(payload)
                        self.publish_local(Notice(data.get("k", ""), data.get("r")))
                    except ValueError:
                        return

                await conn.add_listener(CHANNEL, _on_notify)
                conn.add_termination_listener(lambda _c, ev=lost: ev.set())
                # A reconnect may have missed notices: wake everyone to re-read.
                self.wake_all("reconnected")
                await lost.wait()
            except asyncio.CancelledError:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=1)
                raise
            except Exception as exc:  # connection refused, server restart, ...
                log.warning("notify listener lost its connection: %s", exc)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=1)
            await asyncio.sleep(RECONNECT_DELAY_S)


async def publish(session: AsyncSession, hub: Hub | None, notice: Notice) -> None:
    """Queue a NOTIFY inside the caller's transaction (delivered at commit) on PostgreSQL.

    Callers also call `hub.publish_local(notice)` after they commit, for in-process subscribers
    (the only path on SQLite).
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        payload = json.dumps({"k": notice.kind, "r": notice.run_id})
        await session.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": payload})
