"""Routers, one module per resource. app.py includes ROUTERS in this order."""

from fastapi import APIRouter

from tunix_rt.api.routes import (
    artifacts,
    compare,
    datasets,
    evaluation_jobs,
    evaluations,
    exports,
    health,
    leaderboard,
    rollouts,
    run_logs,
    run_params,
    run_views,
    runs,
    sweeps,
    traces,
    tunix,
)

ROUTERS: list[APIRouter] = [
    health.router,
    traces.router,
    datasets.router,
    tunix.router,
    runs.router,
    run_views.router,
    run_logs.router,
    run_params.router,
    artifacts.router,
    exports.router,
    rollouts.router,
    evaluations.router,
    evaluation_jobs.router,
    compare.router,
    leaderboard.router,
    sweeps.router,
]
