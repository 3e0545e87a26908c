"""The prediction service: FastAPI on uvicorn, and a web page to try the model.

    $ fmnist serve --model runs/x            # http://127.0.0.1:8000/ , API docs at /docs
    >>> app = create_app(Predictor.load("shirts.keras"))  # doctest: +SKIP

Endpoints: POST /v1/predict (image files as multipart, or JSON pixels), GET /v1/model,
GET /healthz, GET /readyz (ready once the model has answered a warm-up call), GET /metrics
(Prometheus), GET /docs (Swagger UI, served from the package: no network), GET / (the
page). Every bad request gets a 4xx answer with a JSON body {"error": {"status",
"message"}, "request_id"}; the body size is checked before anything is parsed, image
dimensions (each, and all of a request's together) before anything is decoded, and
decoding runs off the event loop. Concurrent requests share model calls
(`fmnist.serving.batcher`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from fmnist.artifacts import check_model_file
from fmnist.images import data_url, outlined
from fmnist.photos.step_images import heat_overlay
from fmnist.predict.predictor import Predictor
from fmnist.predict.schema import PredictResponse
from fmnist.run_folder import RunFolder, resolve_model_path
from fmnist.serving.batcher import RequestBatcher
from fmnist.serving.docs import ERRORS, add_docs, predict_openapi
from fmnist.serving.metrics import (
    RequestObserver,
    ServiceMetrics,
    request_id_var,
    share_across_processes,
)
from fmnist.serving.requests import (
    BodyLimit,
    ClientError,
    ServiceLimits,
    error_body,
    read_images,
)
from fmnist.serving.teach import Teaching, add_correction_routes, add_reload

DEFAULT_LIMITS = ServiceLimits()  # frozen: safe as a default argument
NOTHING_TO_TEACH = Teaching()  # no corrections kept, no reload


def explain_prediction(predictor: Predictor, steps, pixels, probabilities) -> dict:
    """A photo's steps as PNG data URLs: the photo with the garment found outlined, the
    article, the evidence for the answered class over the 28 x 28 input, and where that
    evidence is, in words."""
    from fmnist.predict.saliency import reading, saliency_map

    answered = int(np.argmax(probabilities))
    heat = saliency_map(predictor.model, pixels, answered)
    return {
        "photo": data_url(outlined(steps.original, steps.mask)),
        "article": data_url(steps.crop),
        "saliency": data_url(heat_overlay(np.asarray(pixels), heat)),
        "reading": reading(heat, predictor.class_names[answered]),
    }


def page_html() -> str:
    return resources.files("fmnist.serving").joinpath("static/index.html").read_text()


def create_app(
    predictor: Predictor,
    info: dict | None = None,
    limits: ServiceLimits = DEFAULT_LIMITS,
    cors_origins=(),
    load_seconds: float | None = None,
    teaching: Teaching = NOTHING_TO_TEACH,
):
    """The FastAPI application around a loaded predictor; `teaching`: where corrections
    go, and how to load a new version of the model (`fmnist.serving.teach`)."""
    info = {"name": "model", **(info or {})}
    metrics = ServiceMetrics()
    if load_seconds is not None:
        metrics.model_load.set(load_seconds)
    batcher = RequestBatcher(
        lambda images: app.state.predictor.probabilities(images),  # the version now served
        max_batch=limits.max_batch if limits.batching else 1,
        max_wait_ms=limits.max_wait_ms if limits.batching else 0,
        on_batch=metrics.observe_batch,
    )

    @asynccontextmanager
    async def lifespan(app):
        await batcher.predict(np.zeros((1, 28, 28)))  # the first model call: then ready
        app.state.ready = True
        metrics.ready.set(1)
        watching = asyncio.create_task(watch.watch()) if watch else None
        yield
        if watching:
            watching.cancel()
        await batcher.close()
        metrics.process_ends()

    app = FastAPI(
        title="fmnist prediction service",
        version=info.get("fmnist_version", "1"),
        description="Fashion-MNIST classification: send images, get class probabilities.",
        docs_url=None,  # served from the package by add_docs: no CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.predictor, app.state.batcher, app.state.ready = predictor, batcher, False
    app.state.metrics = metrics
    add_error_handlers(app)
    add_docs(app)
    add_status_routes(app, info, limits, metrics)
    add_predict_route(app, info, limits)
    add_correction_routes(app, teaching, limits)
    watch = add_reload(app, teaching, info)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )
    app.add_middleware(BodyLimit, limit=limits.max_upload_bytes, timeout_s=limits.body_timeout_s)
    app.add_middleware(RequestObserver, metrics=metrics)  # outermost: sees every answer
    return app


def add_status_routes(app: FastAPI, info: dict, limits: ServiceLimits, metrics) -> None:
    """The page, liveness, readiness, Prometheus' metrics and what the model is."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return page_html()

    @app.get("/healthz")
    async def healthz():
        return {"status": "alive", "request_id": request_id_var.get()}

    @app.get("/readyz")
    async def readyz():
        if not app.state.ready:
            return JSONResponse(error_body(503, "warming up: the model has not answered yet"), 503)
        return {"status": "ready", "model": info["name"], "request_id": request_id_var.get()}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus():
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/v1/model")
    async def model_info():
        return {
            **info,
            "classes": list(app.state.predictor.class_names),
            "input": {
                "files": "PNG, JPEG or WebP photos, preprocessed as Fashion-MNIST was made",
                "json": '{"pixels": 28x28 or Nx28x28 numbers 0-255, article light on dark}',
                "max_upload_bytes": limits.max_upload_bytes,
                "max_pixels": limits.max_pixels,
                "max_request_pixels": limits.max_request_pixels,
                "max_images": limits.max_images,
            },
        }


def add_predict_route(app: FastAPI, info: dict, limits: ServiceLimits) -> None:
    """POST /v1/predict: images in, answers out (`fmnist.predict.schema.PredictResponse`)."""
    batcher = app.state.batcher

    @app.post(
        "/v1/predict",
        openapi_extra=predict_openapi(limits),
        response_model=PredictResponse,  # the schema's; the answer is sent as it is made
        responses=ERRORS,
    )
    async def predict(request: Request, top_k: int = limits.default_top_k, explain: bool = False):
        started = time.perf_counter()
        predictor = app.state.predictor
        if not 1 <= top_k <= len(predictor.class_names):
            raise ClientError(422, f"top_k: {top_k} is not in 1-{len(predictor.class_names)}")
        batcher.announce()  # a batch being formed may wait the window for this request
        try:
            images, sources, steps = await read_images(request, limits)
        except BaseException:
            batcher.withdraw()
            raise
        probabilities = await batcher.predict(images, announced=True)
        answers = predictor.answers_for(probabilities, images, sources, top_k, steps=steps)
        results = [a.to_dict(predictor.class_names, full=True) for a in answers]
        if explain:
            for result, x, p, step in zip(results, images, probabilities, steps, strict=True):
                if step is not None:
                    result["steps"] = await run_in_threadpool(
                        explain_prediction, predictor, step, x, p
                    )
        # A JSONResponse of plain values: FastAPI's jsonable_encoder, which walks every one of
        # the 784 pixels of every answer, took a sixth of the service's CPU time.
        return JSONResponse(
            {
                "model": info["name"],
                "predictions": results,
                "time_ms": round(1000 * (time.perf_counter() - started), 2),
                "request_id": request_id_var.get(),
            }
        )


def add_error_handlers(app: FastAPI) -> None:
    """Every error a client can cause as a JSON 4xx with the request id; never a 5xx."""

    @app.exception_handler(ClientError)
    async def client_error(request, error: ClientError):
        return JSONResponse(error_body(error.status, error.message), status_code=error.status)

    @app.exception_handler(HTTPException)
    async def http_error(request, error: HTTPException):
        return JSONResponse(error_body(error.status_code, str(error.detail)), error.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, error: RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:3]
        )
        return JSONResponse(error_body(422, problems), status_code=422)

    @app.exception_handler(ClientDisconnect)
    async def gone(request, error):  # nobody to answer; no traceback in the log
        return Response(status_code=400)


def model_details(path: Path, run: RunFolder | None = None) -> dict:
    """What /v1/model tells about a model: its name and, from a run folder, test metrics."""
    from fmnist import __version__

    holder = RunFolder(path.parent)  # a folder's kept model is named after the folder
    details = {
        "name": holder.path.name if path == holder.model_path else path.stem,
        "file": path.name,
        "fmnist_version": __version__,
    }
    current = run.read_versions().current if run else None
    if current is not None:
        details["version"] = current.version
    metrics = run.read_metrics() if run else None
    if metrics is not None and metrics.model:
        test, val = metrics.split("test"), metrics.split("val")
        details["metrics"] = {
            "model": metrics.model,
            "params": metrics.params,
            "test_accuracy": test.accuracy if test else None,  # with the run's TTA, if any
            "test_accuracy_without_tta": test.plain_accuracy if test else None,
            "test_loss": test.loss if test else None,
            "val_accuracy": val.accuracy if val else None,
        }
    return details


SERVE_ENV = "FMNIST_SERVE"  # what each worker process of `--workers N` builds its app from


def load_predictor(path: Path, trust: bool, limits: ServiceLimits) -> tuple[Predictor, dict]:
    """The model at `path` (a file, or a run's) ready to answer, and what /v1/model says."""
    path, run = resolve_model_path(path)
    started = time.perf_counter()
    predictor = Predictor.load(path, trust=trust)
    engine = "tensorflow"
    if limits.engine == "auto":
        from fmnist.serving.engine import use_onnx_runtime

        engine = use_onnx_runtime(predictor, path, trust)
    seconds = round(time.perf_counter() - started, 3)
    return predictor, {**model_details(path, run), "engine": engine, "load_seconds": seconds}


def load_app(path, trust=False, limits=DEFAULT_LIMITS, cors_origins=(), corrections=None):
    """Load the model and build the app (each worker process does this for itself)."""
    predictor, details = load_predictor(path, trust, limits)
    model_path, run = resolve_model_path(path)
    watched = (model_path, run.metrics_path) if run else (model_path,)
    load = functools.partial(load_predictor, path, trust, limits)
    teaching = Teaching(Path(corrections) if corrections else None, load, watched)
    return create_app(predictor, details, limits, cors_origins, details["load_seconds"], teaching)


def app_from_environment() -> FastAPI:
    """uvicorn's app factory for worker processes: the settings come through SERVE_ENV."""
    import os

    settings = json.loads(os.environ[SERVE_ENV])
    limits = ServiceLimits(**settings["limits"])
    return load_app(settings["path"], settings["trust"], limits, tuple(settings["cors"]),
                    settings["corrections"])  # fmt: skip


def serve(
    path: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    trust: bool = False,
    limits: ServiceLimits = DEFAULT_LIMITS,
    cors_origins=(),
    workers: int = 1,
    server: str = "uvicorn",
    corrections: Path | None = None,
) -> None:
    """Serve until interrupted; on Ctrl-C or SIGTERM, requests in flight are finished
    first (up to 10 s). With `workers` > 1, that many processes share the port, each with
    its own model and batcher, and /metrics adds up all of them. `server`: uvicorn (with
    httptools and uvloop), or Granian (`fmnist.serving.http.run_granian`), whose HTTP
    layer is Rust."""
    import dataclasses
    import logging
    import os
    import shutil
    import tempfile

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if workers == 1 and server == "uvicorn":
        import uvicorn

        from fmnist.serving.http import uvicorn_options

        app = load_app(path, trust, limits, cors_origins, corrections)
        uvicorn.run(app, **uvicorn_options(host, port))
        return
    check_model_file(resolve_model_path(path)[0], trust)  # fails here, not in every worker
    os.environ[SERVE_ENV] = json.dumps(
        {
            "path": str(path),
            "trust": trust,
            "limits": dataclasses.asdict(limits),
            "cors": list(cors_origins),
            "corrections": str(corrections) if corrections else None,
        }
    )
    shared = tempfile.mkdtemp(prefix="fmnist-metrics-") if workers > 1 else None
    if shared:  # the workers' merged metrics
        share_across_processes(shared)
    factory = "fmnist.serving.app:app_from_environment"
    try:
        if server == "granian":
            from fmnist.serving.http import run_granian

            run_granian(factory, host, port, workers)
        else:
            import uvicorn

            from fmnist.serving.http import uvicorn_options

            uvicorn.run(factory, factory=True, workers=workers, **uvicorn_options(host, port))
    finally:
        if shared:
            shutil.rmtree(shared, ignore_errors=True)
