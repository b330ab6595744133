"""Routers, one module per resource. app.py includes ROUTERS in this order."""

from fastapi import APIRouter

from tunix_rt.api.routes import health

ROUTERS: list[APIRouter] = [health.router]
