"""Prometheus metrics of the control plane, on a registry owned by each app instance.

A private `CollectorRegistry` keeps apps independent (tests build many) and keeps the
process-global default registry out of our exposition.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Any other method a client invents is counted as "other" (labels must stay bounded).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ControlMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "control_api_requests",
            "HTTP requests by method, route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.join_tokens = Counter(
            "control_api_join_tokens",
            "Join tokens issued",
            ["route"],
            registry=self.registry,
        )
        self.no_node = Counter(
            "control_api_no_node",
            "Joins refused because no media node could take the room",
            registry=self.registry,
        )


class RequestCounter:
    """ASGI middleware counting every HTTP request once, labelled by route template.

    Labels use the matched route's template (`/v1/rooms/{name}`), never the raw path, so
    the number of series stays bounded whatever clients send.
    """

    def __init__(self, app: ASGIApp, metrics: ControlMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        mount = _mount_label(scope)  # before routing: the router rewrites the scope
        status = 500  # if the app fails before starting a response, Starlette answers 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "other"
            route = _route_label(scope, mount)
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()


def _mount_label(scope: Scope) -> str | None:
    """The prefix of the top-level mount (static page, node app) that the path falls into."""
    for route in getattr(scope.get("app"), "routes", ()):
        if isinstance(route, Mount) and route.matches(scope)[0] is Match.FULL:
            return f"{route.path}/*"
    return None


def _route_label(scope: Scope, mount: str | None) -> str:
    """The route template the router recorded in the scope, else the mount, else unmatched."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str) and not isinstance(scope.get("route"), Mount):
        return path
    return mount or "unmatched"
