"""Liveness, readiness and metrics: unauthenticated, for the orchestrator and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from control_api.deps import State

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process serves requests (restart it if not)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "The store does not answer"}})
async def readyz(state: State) -> JSONResponse:
    """Send traffic here only while the store answers."""
    if await state.store.ping():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "store unavailable"}, status_code=503)


@router.get("/metrics", response_class=Response)
async def metrics(state: State) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
