"""Prometheus metrics. One registry per app so tests can build several apps in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
RUN_DURATION_BUCKETS_S = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "tunix_rt_http_requests_total",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "tunix_rt_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.traces_ingested = Counter(
            "tunix_rt_traces_ingested_total", "Traces stored", registry=r
        )
        self.runs_by_status = Gauge(
            "tunix_rt_runs", "Runs by status and mode", ["status", "mode"], registry=r
        )
        self.queue_depth = Gauge("tunix_rt_queue_depth", "Pending runs", registry=r)
        self.active_workers = Gauge(
            "tunix_rt_active_workers", "Workers holding a live lease", registry=r
        )
        self.run_duration = Histogram(
            "tunix_rt_run_duration_seconds",
            "Run duration from start to terminal state",
            ["status"],
            buckets=RUN_DURATION_BUCKETS_S,
            registry=r,
        )
        self.claim_latency = Histogram(
            "tunix_rt_enqueue_to_claim_seconds",
            "Time from enqueue to claim",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.log_lines = Counter(
            "tunix_rt_log_lines_ingested_total", "Log lines persisted", registry=r
        )
        self.lease_expiries = Counter(
            "tunix_rt_lease_expiries_total", "Runs reaped after a lost lease", registry=r
        )
        self.fenced_writes = Counter(
            "tunix_rt_fenced_writes_total",
            "Writes refused because their run attempt had lost the run (embedded workers)",
            registry=r,
        )
        self.sse_clients = Gauge("tunix_rt_sse_clients", "Open SSE streams", registry=r)
        self.db_up = Gauge(
            "tunix_rt_db_up", "1 when the last metrics refresh reached the database", registry=r
        )
