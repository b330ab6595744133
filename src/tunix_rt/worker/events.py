"""Apply the child's structured events (metric, phase, checkpoint, eval, dry_run, rollouts,
error).

Each event is applied in its own short transaction, fenced: its first statement is the
attempt's guard (queue.fence_attempt), so an attempt that no longer owns the run writes
nothing; a refused event calls `on_lease_lost` and is not retried. A database hiccup is
retried a few times; an event that still fails is logged and skipped (metrics are also in
metrics.jsonl, and the final registration re-reads the attempt directory).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt import errors
from tunix_rt.db import bulk, models
from tunix_rt.db.types import utcnow
from tunix_rt.evaluations import jobs as eval_jobs
from tunix_rt.evaluations import store as eval_store
from tunix_rt.runs import artifacts, notify, queue, retention, rollouts
from tunix_rt.runs.notify import Hub, Notice
from tunix_rt.traces.outputs import NO_ANSWER, TRACE_VERSION, steps_from_generation

APPLY_RETRIES = 5
RETRY_DELAY_S = 0.5

log = logging.getLogger(__name__)


class EventHandler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        hub: Hub | None,
        run_id: uuid.UUID,
        run_dir: Path,
        *,
        fence: int,
        attempt_rel: str = "",
        on_lease_lost: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._hub = hub
        self.run_id = run_id
        self.run_dir = run_dir  # the run's directory; this attempt writes under attempt_rel
        self.fence = fence
        self.attempt_rel = attempt_rel
        self._on_lease_lost = on_lease_lost
        self.lease_lost = False
        self.last_error: str | None = None
        self.phase: str | None = None
        self._retention: retention.Policy | None = None
        self._pruned = retention.PrunePlan()  # rows deleted by the event being applied

    async def handle_line(self, raw: bytes) -> None:
        try:
            event = json.loads(raw)
        except ValueError:
            log.warning("run %s: ignoring a malformed event line", self.run_id)
            return
        if not isinstance(event, dict):
            return
        kind = event.get("event")
        if kind == "error":
            self.last_error = str(event.get("message", ""))[:2000]
            return
        for attempt in range(APPLY_RETRIES):
            if self.lease_lost:
                return
            try:
                await self._apply(str(kind), event)
                return
            except errors.LeaseLost:
                self.lease_lost = True
                log.warning("run %s: %s event refused: attempt fenced off", self.run_id, kind)
                if self._on_lease_lost is not None:
                    self._on_lease_lost()
                return
            except Exception as exc:
                if attempt == APPLY_RETRIES - 1:
                    log.error("run %s: dropping %s event: %s", self.run_id, kind, exc)
                    return
                await asyncio.sleep(RETRY_DELAY_S * (attempt + 1))

    async def _apply(self, kind: str, event: dict[str, Any]) -> None:
        self._pruned = retention.PrunePlan()
        async with self._sessions() as session:
            await queue.fence_attempt(session, self.run_id, self.fence)
            notice_kind = await self._write(session, kind, event)
            if notice_kind is None:
                return
            notice = Notice(notice_kind, str(self.run_id))
            await notify.publish(session, self._hub, notice)
            await session.commit()
        if self._pruned.relpaths:  # rows gone (committed, fenced): now the directories
            await asyncio.to_thread(retention.remove_pruned, self.run_dir, self._pruned, self.fence)
        if self._hub is not None:
            self._hub.publish_local(notice)

    async def _write(self, session: AsyncSession, kind: str, event: dict[str, Any]) -> str | None:
        if kind == "metric":
            return await self._write_metric(session, event)
        if kind == "phase":
            self.phase = str(event.get("phase"))
            entries: dict[str, Any] = {"phase": self.phase}
            if isinstance(event.get("max_steps"), int):
                entries["max_steps"] = event["max_steps"]
            if isinstance(event.get("start_step"), int):
                entries["start_step"] = event["start_step"]
            await queue.merge_run_result(session, self.run_id, **entries)
            return "status"
        if kind == "checkpoint":
            await self._register(
                session, str(event.get("path") or f"checkpoints/{event.get('step')}")
            )
            policy = await self._policy(session)
            self._pruned, _ = await retention.prune(session, self.run_id, policy)
            return "artifact"
        if kind == "eval":
            summary = event.get("summary")
            if isinstance(summary, dict):
                await queue.update_run_fields(session, self.run_id, eval=summary)
            await self._register(session, "eval.json")
            doc = await self._read_eval_doc()
            if doc is not None:
                await self._record_evaluation(session, doc)
            return "artifact"
        if kind == "dry_run":
            await queue.merge_run_result(session, self.run_id, dry_run=event.get("report"))
            await self._register(session, "dry_run.json")
            return "artifact"
        if kind == "rollouts":  # a GRPO run's sampled completions at a step
            name = await rollouts.apply_event(
                session, self.run_id, self.fence, self.attempt_dir, event
            )
            if name is None:
                return None
            await self._register(session, name)
            return "artifact"
        return None

    @property
    def attempt_dir(self) -> Path:
        return self.run_dir / self.attempt_rel

    async def _register(self, session: AsyncSession, name: str) -> None:
        """A file the child wrote (its path is relative to the attempt directory)."""
        relpath = f"{self.attempt_rel}/{name}" if self.attempt_rel else name
        await artifacts.register_artifact(session, self.run_id, self.run_dir, relpath, name=name)

    async def _write_metric(self, session: AsyncSession, event: dict[str, Any]) -> str | None:
        step = event.get("step")
        values = event.get("values")
        if not isinstance(step, int) or not isinstance(values, dict):
            return None
        rows = [
            {
                "run_id": self.run_id,
                "name": str(name)[:64],
                "step": step,
                "value": float(value),
                "created_at": utcnow(),
            }
            for name, value in values.items()
            if isinstance(value, int | float) and math.isfinite(value)
        ]
        await bulk.upsert_rows(
            session,
            models.RunMetric.__table__,
            rows,
            keys=["run_id", "name", "step"],
            update=["value", "created_at"],
        )
        await queue.update_run_fields(session, self.run_id, last_step=step, updated_at=utcnow())
        policy = await self._policy(session)
        if policy.metric is not None and any(row["name"] == policy.metric for row in rows):
            best_step, changed = await retention.refresh_best(session, self.run_id, policy)
            if changed:  # the best moved: the old one may no longer be kept
                self._pruned = await retention.prune_rows(session, self.run_id, policy, best_step)
        return "metric"

    async def _policy(self, session: AsyncSession) -> retention.Policy:
        """The run's retention policy (read once, from its stored request)."""
        if self._retention is None:
            run = await queue.read_run(session, self.run_id)
            self._retention = retention.policy_of(run.request or {})
        return self._retention

    async def _read_eval_doc(self) -> dict[str, Any] | None:
        path = self.attempt_dir / "eval.json"
        try:
            data = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("run %s: eval.json unreadable: %s", self.run_id, exc)
            return None
        return data if isinstance(data, dict) else None

    async def _record_evaluation(self, session: AsyncSession, doc: dict[str, Any]) -> None:
        """The end-of-run evaluation becomes an evaluation record of this attempt (with its
        examples stored as model-output traces); an evaluation job's fills its record."""
        run = await queue.read_run(session, self.run_id)
        summary = doc.get("summary")
        if not isinstance(summary, dict):
            summary = {}
        scorer = str(
            doc.get("scorer_version")
            or summary.get("scorer_version")
            or eval_store.DEFAULT_SCORER_VERSION
        )
        if run.kind == eval_jobs.KIND_EVAL:
            await eval_store.record_job_evaluation(session, run, self.fence, doc, scorer)
            return
        await self._store_eval_traces(session, doc)
        step = summary.get("step") if isinstance(summary.get("step"), int) else run.last_step
        await eval_store.record_run_evaluation(
            session,
            run,
            self.fence,
            step,
            await eval_store.latest_checkpoint_name(session, self.run_id),
            doc,
            scorer,
        )

    async def _store_eval_traces(self, session: AsyncSession, data: dict[str, Any]) -> None:
        """Each eval.json example becomes a stored trace, a model output: meta.source =
        run:<id>, meta.run_id, and the task of the held-out example (read from the reference
        trace when eval.json does not carry it)."""
        from sqlalchemy import select

        from tunix_rt.traces import store as trace_store
        from tunix_rt.traces.schema import TracePayload, model_output_source

        examples = [e for e in data.get("examples") or [] if isinstance(e, dict)]
        references: dict[str, uuid.UUID] = {}
        for example in examples:
            if example.get("task") not in (None, "", "unknown"):
                continue
            reference = str(example.get("trace_id"))
            try:
                references[reference] = uuid.UUID(reference)
            except ValueError:
                continue
        reference_tasks: dict[str, str | None] = {}
        if references:
            rows = await session.execute(
                select(models.Trace.id, models.Trace.task).where(
                    models.Trace.id.in_(set(references.values()))
                )
            )
            by_id = {trace_id: task for trace_id, task in rows}
            reference_tasks = {text: by_id.get(value) for text, value in references.items()}
        payloads = []
        for example in examples:
            generated = str(example.get("generated") or "")
            answer = str(example.get("extracted_answer") or "").strip() or NO_ANSWER
            task = example.get("task")
            if task in (None, "", "unknown"):
                task = reference_tasks.get(str(example.get("trace_id")))
            meta = {
                "source": model_output_source(self.run_id),
                "run_id": str(self.run_id),
                "task": task,
                "expected_answer": example.get("expected_answer"),
                "reference_trace_id": example.get("trace_id"),
                "correct": example.get("correct"),
                "format_ok": example.get("format_ok"),
            }
            try:
                payloads.append(
                    TracePayload(
                        trace_version=TRACE_VERSION,
                        prompt=str(example.get("prompt") or "") or "(empty prompt)",
                        final_answer=answer,
                        steps=steps_from_generation(generated),
                        meta={k: v for k, v in meta.items() if v is not None},
                    )
                )
            except ValueError as exc:
                log.warning("run %s: skipping an eval example: %s", self.run_id, exc)
        if payloads:
            await trace_store.insert_traces(session, payloads)
