"""What the service tells about itself: Prometheus metrics, request ids, a log line each.

    >>> metrics = ServiceMetrics()  # doctest: +SKIP
    >>> app.add_middleware(RequestObserver, metrics=metrics)  # outermost  # doctest: +SKIP
    >>> body, content_type = metrics.exposition()  # GET /metrics  # doctest: +SKIP

Every request gets an id: the client's `X-Request-ID` when it is a plain token of at most
64 characters, a new one otherwise. It comes back as the `X-Request-ID` header, in every
JSON answer (`request_id`) and in the request's log line, so one slow or failed request
can be followed from the client to the log. Metrics live in a registry of the app's own;
with `fmnist serve --workers N` the workers share them through Prometheus' multiprocess
mode (PROMETHEUS_MULTIPROC_DIR, set by `serve`), so /metrics answers for the whole
service whichever worker takes the scrape.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import time
import uuid

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
LOG = logging.getLogger("fmnist.serving.app")
SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Paths get their own label; anything else (scanners, typos) shares "other", so a client
# cannot grow the metrics without bound.
PATHS = ("/", "/v1/predict", "/v1/model", "/healthz", "/readyz", "/metrics", "/docs")
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # where workers keep the metrics they share
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def share_across_processes(directory: str) -> None:
    """Metrics made from now on, in this process and the workers it starts, live in
    `directory` for /metrics to add up. The variable alone reaches spawned workers, which
    import prometheus_client afresh; forked ones (Granian's) inherit its choice of value
    store, made when it was imported, so that choice is made again here."""
    from prometheus_client import values

    os.environ[MULTIPROCESS_DIR] = directory
    values.ValueClass = values.get_value_class()


class ServiceMetrics:
    """The service's Prometheus metrics, in a registry of its own."""

    def __init__(self):
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "fmnist_requests",
            "HTTP requests answered, by path and status code",
            ["path", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "fmnist_request_seconds",
            "Time from request to answer, by path",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_images = Histogram(
            "fmnist_batch_images",
            "Images in each model call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=registry,
        )
        self.batch_requests = Histogram(
            "fmnist_batch_requests",
            "Requests answered by each model call",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=registry,
        )
        # multiprocess_mode: how the workers' values combine (ignored with one process)
        self.model_load = Gauge(
            "fmnist_model_load_seconds",
            "Time taken to load the model (the slowest worker's)",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.model_reloads = Counter(
            "fmnist_model_reloads",
            "New versions of the model loaded while serving",
            registry=registry,
        )
        self.ready = Gauge(
            "fmnist_ready",
            "1 once the model has answered its warm-up call (in every worker)",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.workers = Gauge(
            "fmnist_workers",
            "Server processes answering, each with its own model",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.workers.set(1)

    def observe_batch(self, requests: int, images: int) -> None:
        self.batch_requests.observe(requests)
        self.batch_images.observe(images)

    def exposition(self) -> tuple[bytes, str]:
        """The metrics as Prometheus reads them: the whole service's, across workers."""
        if not os.environ.get(MULTIPROCESS_DIR):
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged), CONTENT_TYPE_LATEST

    @staticmethod
    def process_ends() -> None:
        """This worker's live gauges leave the merged metrics (a worker going away)."""
        if os.environ.get(MULTIPROCESS_DIR):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())


class RequestObserver:
    """ASGI middleware: the request id (scope, header, context), the latency and status
    metrics, and one log line per request."""

    def __init__(self, app, metrics: ServiceMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if SANE_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status, started = 500, time.perf_counter()

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            path = scope["path"] if scope["path"] in PATHS else "other"
            self.metrics.requests.labels(path, str(status)).inc()
            self.metrics.latency.labels(path).observe(seconds)
            LOG.info(
                "%s %s %s %d %.1fms", request_id, scope["method"], path, status, 1000 * seconds
            )
            request_id_var.reset(token)
