"""Fan-out of log pages: one database read and one rendering per page for all streams of a run.

A hundred SSE streams on one run wake on the same notice and ask for the same page. They
share one in-flight read, and the rendered bytes are sent to each of them uncopied.

Freshness invariant: a stream woken by a notice must not be served by a read that started
before that notice (it could miss the lines the notice announced). The fan-out holds its own
hub subscription per watched run; the first stream to look after a notice arrived bumps the
run's generation, and a read records the generation it started under. A stream joins an
in-flight read only if that read's generation is at least the one it observed after waking,
i.e. only reads that began after its notice was delivered.

Completed non-empty pages stay valid forever (a stored line never changes, and the byte cap
only deletes old rows, which a later reader detects as a gap), so they are kept in a
byte-bounded LRU for streams that lag behind. Empty pages are never kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.runs import logstream
from tunix_rt.runs.notify import Hub, Subscription

CACHE_MAX_BYTES = 32 * 1024 * 1024

Key = tuple[uuid.UUID, int]
T = TypeVar("T")


@dataclass(frozen=True)
class SharedPage:
    page: logstream.LogPage
    data: bytes  # the page rendered and encoded once (e.g. as SSE events)
    generation: int  # the run's generation when the read started


@dataclass
class _Watch:
    stack: contextlib.AsyncExitStack
    sub: Subscription
    users: int = 0
    generation: int = 0


@dataclass
class LogFanout:
    sessions: async_sessionmaker[AsyncSession]
    hub: Hub
    render: Callable[[logstream.LogPage, int], bytes]
    max_bytes: int = CACHE_MAX_BYTES
    _watches: dict[uuid.UUID, _Watch] = field(default_factory=dict)
    _inflight: dict[Key, tuple[int, asyncio.Task[SharedPage]]] = field(default_factory=dict)
    _done: OrderedDict[Key, SharedPage] = field(default_factory=OrderedDict)
    _bytes: int = 0
    # Generations come from one counter for all runs and all watch lifetimes, so a page
    # cached under an earlier watch of a run never looks fresh to a later one.
    _counter: int = 0
    _shared: dict[Hashable, tuple[int, asyncio.Task[Any]]] = field(default_factory=dict)

    async def attach(self, run_id: uuid.UUID) -> None:
        """A stream starts following run_id (subscribe before the stream's first read)."""
        if run_id not in self._watches:
            stack = contextlib.AsyncExitStack()
            sub = await stack.enter_async_context(self.hub.subscribe(run_id))
            if run_id in self._watches:  # another stream attached while we subscribed
                await stack.aclose()
            else:
                self._counter += 1
                self._watches[run_id] = _Watch(stack, sub, generation=self._counter)
        self._watches[run_id].users += 1

    async def detach(self, run_id: uuid.UUID) -> None:
        watch = self._watches.get(run_id)
        if watch is None:
            return
        watch.users -= 1
        if watch.users <= 0:
            del self._watches[run_id]
            await watch.stack.aclose()

    def observe(self, run_id: uuid.UUID) -> int:
        """The generation a stream must read at or after, now that it is awake."""
        watch = self._watches[run_id]
        if watch.sub.pop_kinds():
            self._counter += 1
            watch.generation = self._counter
        return watch.generation

    def bump(self, run_id: uuid.UUID) -> int:
        """Force a new generation: the next read of this run starts from now."""
        watch = self._watches[run_id]
        watch.sub.pop_kinds()
        self._counter += 1
        watch.generation = self._counter
        return watch.generation

    async def read(self, run_id: uuid.UUID, after_seq: int, generation: int) -> SharedPage:
        key = (run_id, after_seq)
        cached = self._done.get(key)
        if cached is not None:
            self._done.move_to_end(key)
            return cached
        entry = self._inflight.get(key)
        if entry is None or entry[0] < generation:
            current = self._watches[run_id].generation
            task = asyncio.get_running_loop().create_task(self._read(run_id, after_seq, current))
            entry = self._inflight[key] = (current, task)
            task.add_done_callback(functools.partial(self._finish, key))
        # shield: a client that disconnects must not cancel a read other streams share.
        return await asyncio.shield(entry[1])

    async def share(
        self,
        key: Hashable,
        run_id: uuid.UUID,
        generation: int,
        factory: Callable[[], Coroutine[Any, Any, T]],
    ) -> T:
        """Run factory() once for every stream asking for `key` under this generation or
        later (the status probe, the metric points of a run): same freshness rule as read."""
        entry = self._shared.get(key)
        if entry is None or entry[0] < generation:
            task = asyncio.get_running_loop().create_task(factory())
            entry = self._shared[key] = (self._watches[run_id].generation, task)

            def forget(done: asyncio.Task[Any], k: Hashable = key) -> None:
                current = self._shared.get(k)
                if current is not None and current[1] is done:
                    del self._shared[k]
                if not done.cancelled():
                    done.exception()  # retrieved here; every awaiting stream sees it too

            task.add_done_callback(forget)
        result: T = await asyncio.shield(entry[1])
        return result

    async def _read(self, run_id: uuid.UUID, after_seq: int, generation: int) -> SharedPage:
        async with self.sessions() as session:
            page = await logstream.read_lines_after(session, run_id, after_seq)
        return SharedPage(page, self.render(page, after_seq), generation)

    def _finish(self, key: Key, task: asyncio.Task[Any]) -> None:
        entry = self._inflight.get(key)
        if entry is not None and entry[1] is task:
            del self._inflight[key]
        if task.cancelled() or task.exception() is not None:
            return
        shared: SharedPage = task.result()
        if not shared.page.lines or key in self._done:
            return
        self._done[key] = shared
        self._bytes += len(shared.data)
        while self._bytes > self.max_bytes and self._done:
            _key, old = self._done.popitem(last=False)
            self._bytes -= len(old.data)
