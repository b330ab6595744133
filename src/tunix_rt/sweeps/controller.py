"""The sweep controller: advances every running sweep, in the server and in every worker
process, never inside a request handler.

One step of one sweep (`advance_sweep`) is one transaction that starts by locking the sweep
row (store.lock_sweep), so any number of controllers may run: they take turns per sweep, and
each step reads the whole state afresh from the database. Nothing lives in a controller's
memory between steps, which is what makes a sweep survive a restart: a new controller's
first step sees the same rows the old one would have.

A step: (1) asks the pruner about each running trial with mid-training evals and cancels
the ones it stops (the normal cancel path, reason "pruned"); (2) when every trial has been
asked and none is active, ends the sweep; (3) otherwise asks Optuna for new trials up to
max_parallel active ones and n_trials in all, each enqueued as an ordinary run.

Wake-ups: a status or metric notice from the hub (a trial run moved, a mid-training eval
landed) or every CONTROLLER_INTERVAL_S; with no sweep running, a "sweep" notice (one was
created in this process) or every IDLE_INTERVAL_S. A process's first pass runs in `start`,
before it serves or claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt import errors
from tunix_rt.db import models
from tunix_rt.runs import init_source, queue
from tunix_rt.runs.notify import Hub, Notice, Subscription
from tunix_rt.settings import Settings
from tunix_rt.sweeps import search, store
from tunix_rt.sweeps.schema import SweepRequest

CONTROLLER_INTERVAL_S = 1.0
# Metric notices arrive every training step: steps are at least this far apart.
MIN_STEP_GAP_S = 0.3
WAKE_KINDS = frozenset({"status", "metric", "sweep", "reconnected"})
IDLE_INTERVAL_S = 5.0
IDLE_WAKE_KINDS = frozenset({"sweep", "reconnected"})
MAX_TRIAL_TAG_CHARS = 64

log = logging.getLogger(__name__)


def trial_name(sweep: models.Sweep, number: int) -> str:
    return f"{sweep.name or 'sweep ' + str(sweep.id)[:8]} #{number}"


async def advance_sweep(
    session: AsyncSession, sweep_id: uuid.UUID, settings: Settings
) -> list[Notice]:
    """One controller step of one sweep; the caller commits, then publishes the notices."""
    if not await store.lock_sweep(session, sweep_id, status=store.RUNNING):
        return []
    sweep = await store.read_sweep(session, sweep_id)
    request = store.request_of(sweep)
    seed = store.seed_of(sweep)
    study_name = f"sweep-{sweep.id}"
    trials = await store.load_trials(session, sweep)
    meta = {k: dict(v) for k, v in (sweep.trial_meta or {}).items()}
    notices: list[Notice] = []

    if request.pruner != "none" and any(t.record.state == "running" for t in trials):
        records = [t.record for t in trials]
        # A trial that has reported its last step has nothing left to save but the final
        # evaluation that gives it its value: it is never stopped then.
        candidates = {t.record.number for t in trials if not _trained(t)}
        stop, attrs = await asyncio.to_thread(
            _prune_decisions, study_name, request, seed, records, candidates
        )
        for number, system_attrs in attrs.items():
            meta.setdefault(str(number), {})["system_attrs"] = system_attrs
        by_number = {t.record.number: t for t in trials}
        for number in stop:
            trial = by_number[number]
            try:
                _run, notice = await queue.request_cancel(
                    session, trial.run.id, store.PRUNED_REASON
                )
            except errors.Conflict:
                continue  # it ended meanwhile: its own result stands
            last_step = max(trial.record.intermediate, default=None)
            meta.setdefault(str(number), {})["pruned_step"] = last_step
            trial.record.state = "pruned"
            log.info("sweep %s: trial %d pruned at step %s", sweep.id, number, last_step)
            if notice is not None:
                notices.append(notice)

    active = sum(1 for t in trials if t.active)
    # trial_meta keeps every trial ever asked: a trial whose run was deleted still counts,
    # and its number is never given again (runs' unique (sweep_id, trial_number)).
    numbers = [int(k) for k in meta] + [t.record.number for t in trials]
    asked = len(set(numbers))
    next_number = max(numbers, default=-1) + 1
    if asked >= request.n_trials and active == 0:
        sweep.trial_meta = meta
        await store.finish_sweep(session, sweep, store.COMPLETED)
        log.info("sweep %s completed", sweep.id)
        return notices

    records = [t.record for t in trials]
    while active < request.max_parallel and asked < request.n_trials:
        params, system_attrs = await asyncio.to_thread(
            _ask, study_name, request, seed, list(records)
        )
        number = next_number
        tag = f"sweep:{str(sweep.id)[:8]}"
        try:
            run_request = request.trial_request(
                params, name=trial_name(sweep, number), tags=[tag[:MAX_TRIAL_TAG_CHARS]]
            )
            # The base's init_from (a step, resolved at create): checked again, since the
            # source may have gone since, and pinned for this trial like a submitted run.
            await init_source.resolve_init_from(session, run_request)
        except (ValueError, errors.TunixRtError) as exc:  # never loop on it
            sweep.trial_meta = meta
            await store.finish_sweep(session, sweep, store.FAILED, str(exc))
            return notices
        run, notice = await queue.enqueue_run(
            session,
            run_request,
            default_timeout_s=settings.default_timeout_s,
            default_max_attempts=settings.default_max_attempts,
        )
        await init_source.pin_init_checkpoint(session, run, run_request)
        await queue.update_run_fields(session, run.id, sweep_id=sweep.id, trial_number=number)
        meta[str(number)] = {"params": params, "system_attrs": system_attrs}
        records.append(
            search.TrialRecord(
                number=number, params=params, state="pending", system_attrs=system_attrs
            )
        )
        notices.append(notice)
        log.info("sweep %s: trial %d asked %s (run %s)", sweep.id, number, params, run.id)
        active += 1
        asked += 1
        next_number += 1
    sweep.trial_meta = meta
    await session.flush()
    return notices


def _trained(trial: store.Trial) -> bool:
    """Whether the trial's run has reported an evaluation at its last training step."""
    result = trial.run.result or {}
    max_steps = result.get("max_steps", (trial.run.request or {}).get("max_steps"))
    last = max(trial.record.intermediate, default=None)
    return isinstance(max_steps, int) and last is not None and last >= max_steps


def _prune_decisions(
    name: str,
    request: SweepRequest,
    seed: int,
    records: list[search.TrialRecord],
    candidates: set[int],
) -> tuple[list[int], dict[int, dict[str, object]]]:
    study = search.build_study(name, request, seed, records)
    return search.prune_decisions(study, candidates)


def _ask(
    name: str, request: SweepRequest, seed: int, records: list[search.TrialRecord]
) -> tuple[dict[str, object], dict[str, object]]:
    study = search.build_study(name, request, seed, records)
    return search.ask_params(study, request)


class SweepController:
    """Advances every running sweep on wake-ups and every CONTROLLER_INTERVAL_S; while no
    sweep runs, it looks only every IDLE_INTERVAL_S (or when a sweep is created here)."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        hub: Hub | None,
        *,
        interval_s: float = CONTROLLER_INTERVAL_S,
        idle_interval_s: float = IDLE_INTERVAL_S,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.hub = hub
        self.interval_s = interval_s
        self.idle_interval_s = idle_interval_s
        self.steps = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """One pass now (a restarted process resumes its sweeps before it serves), then the
        loop in the background. A database that is down at start only delays the pass."""
        active = 0
        try:
            active = await self.advance_all()
        except Exception as exc:
            log.warning("sweep controller first pass failed: %s", exc)
        self._task = asyncio.create_task(self._advance_forever(active), name="sweep-controller")

    async def advance_all(self) -> int:
        """One step of every running sweep; returns how many sweeps were running."""
        async with self.sessions() as session:
            sweep_ids = await store.list_active_sweep_ids(session)
        for sweep_id in sweep_ids:
            if self._stopping.is_set():
                break
            try:
                async with self.sessions() as session:
                    notices = await advance_sweep(session, sweep_id, self.settings)
                    await session.commit()
            except Exception as exc:
                log.warning("sweep %s: controller step failed: %s", sweep_id, exc)
                continue
            self.steps += 1
            if self.hub is not None:
                for notice in notices:
                    self.hub.publish_local(notice)
        return len(sweep_ids)

    async def _advance_forever(self, active: int) -> None:
        hub = self.hub
        sub_cm = hub.subscribe(None) if hub is not None else contextlib.nullcontext()
        async with sub_cm as sub:
            while not self._stopping.is_set():
                await self._wait(sub, active)
                if self._stopping.is_set():
                    break
                try:
                    active = await self.advance_all()
                except Exception as exc:  # database unavailable: try again next round
                    log.warning("sweep controller pass failed: %s", exc)

    async def _wait(self, sub: Subscription | None, active: int) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), MIN_STEP_GAP_S)
        loop = asyncio.get_running_loop()
        interval = self.interval_s if active else self.idle_interval_s
        # While no sweep runs, only a new sweep matters (a trial run's notices cannot).
        kinds = WAKE_KINDS if active else IDLE_WAKE_KINDS
        deadline = loop.time() + interval - MIN_STEP_GAP_S
        while not self._stopping.is_set() and (left := deadline - loop.time()) > 0:
            if sub is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), left)
                return
            if await sub.wait(min(left, 0.25)) and sub.pop_kinds() & kinds:
                return

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
