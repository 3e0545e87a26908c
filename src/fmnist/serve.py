"""The prediction service: FastAPI on uvicorn, and a web page to try the model.

    $ fmnist serve --model runs/x            # http://127.0.0.1:8000/ , API docs at /docs
    >>> app = create_app(Predictor.load("shirts.keras"))   # for tests or other servers

Endpoints: POST /v1/predict (image files as multipart, or JSON pixels), GET /v1/model,
GET /healthz, GET /readyz (ready once the model has answered a warm-up call), GET /metrics
(Prometheus), GET /docs (Swagger UI, served from the package: no network), GET / (the
page). Every bad request gets a 4xx answer with a JSON body {"error": {"status",
"message"}, "request_id"}; the body size is checked before anything is parsed, image
dimensions (each, and all of a request's together) before anything is decoded, and
decoding runs off the event loop. Concurrent requests share model calls
(`fmnist.request_batcher`).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from fmnist.predict import PhotoError, Predictor, open_photo, prepare_photo
from fmnist.request_batcher import RequestBatcher
from fmnist.run_folder import RunFolder, evaluation_of, resolve_model_path
from fmnist.service_docs import add_docs, predict_openapi
from fmnist.service_metrics import RequestObserver, ServiceMetrics, request_id_var

IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


@dataclass(frozen=True)
class ServiceLimits:
    max_upload_bytes: int = 5_000_000  # whole request body
    max_pixels: int = 25_000_000  # per image, checked before decoding (decompression bombs)
    max_request_pixels: int = 50_000_000  # all of a request's images together, likewise
    max_images: int = 256  # per request, files or JSON images
    default_top_k: int = 3
    body_timeout_s: float = 10.0  # a body that stalls this long between chunks gets 408
    batching: bool = True  # share model calls between concurrent requests
    max_batch: int = 64  # images per model call
    max_wait_ms: float = 2.0  # how long a call waits for requests already on their way


class ClientError(Exception):
    """A request the client must fix: becomes a 4xx JSON answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def error_body(status: int, message: str) -> dict:
    return {"error": {"status": status, "message": message}, "request_id": request_id_var.get()}


class BodyLimit:
    """ASGI middleware: refuse bodies over `limit` bytes with 413, by Content-Length when
    given and by counting otherwise, before any parser sees them."""

    def __init__(self, app, limit: int, timeout_s: float = 10.0):
        self.app, self.limit, self.timeout = app, limit, timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and not length.isdigit():
            return await refuse(send, 400, f"Content-Length {length[:20]!r} is not a number")
        if length is not None and int(length) > self.limit:
            return await refuse(send, 413, f"request body over {self.limit:,} bytes")
        received, started = 0, False

        async def counted():
            nonlocal received, started
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                raise ClientError(408, f"request body stalled for {self.timeout:g} s") from None
            received += len(message.get("body", b""))
            if received > self.limit:
                raise ClientError(413, f"request body over the limit of {self.limit:,} bytes")
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked_send)
        except ClientError as error:
            if not started:
                await refuse(send, error.status, error.message)


async def refuse(send, status: int, message: str) -> None:
    """A JSON error answer sent straight from middleware."""
    body = json.dumps(error_body(status, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def pixels_from_json(payload) -> np.ndarray:
    """(N, 28, 28) pixels from {"pixels": 28x28 or Nx28x28 numbers in 0-255}."""
    if not isinstance(payload, dict) or "pixels" not in payload:
        raise ClientError(422, 'expected a JSON object with "pixels": a 28x28 array or a list')
    try:
        pixels = np.asarray(payload["pixels"], dtype=np.float64)
    except (ValueError, TypeError, OverflowError):  # ragged, not numbers, or 10**400
        raise ClientError(422, "pixels: not a rectangular array of numbers") from None
    if pixels.shape == (28, 28):
        pixels = pixels[np.newaxis]
    if pixels.ndim != 3 or pixels.shape[1:] != (28, 28) or len(pixels) == 0:
        raise ClientError(
            422, f"pixels: shape {list(pixels.shape)}, expected [28, 28] or [N, 28, 28]"
        )
    if not np.all(np.isfinite(pixels)):
        raise ClientError(422, "pixels: NaN or infinite values")
    if pixels.min() < 0 or pixels.max() > 255:
        raise ClientError(422, "pixels: values outside 0-255")
    return pixels


def image_from_upload(data: bytes, name: str, content_type: str, max_pixels: int) -> np.ndarray:
    """A 28 x 28 image from one uploaded file, checked for type, emptiness and size."""
    if content_type not in IMAGE_TYPES:
        raise ClientError(415, f"{name}: content type {content_type!r}; send PNG, JPEG or WebP")
    if not data:
        raise ClientError(400, f"{name}: empty file")
    try:
        image = open_photo(io.BytesIO(data), name, max_pixels)
    except PhotoError as error:
        status = 413 if "over the limit" in str(error) else 400
        raise ClientError(status, str(error)) from None
    if image.format != IMAGE_TYPES[content_type]:
        raise ClientError(415, f"{name}: declared {content_type} but holds {image.format}")
    return prepare_photo(image)


def describe_prediction(predictor: Predictor, source: str, pixels, probabilities, k: int) -> dict:
    order = np.argsort(probabilities)[::-1][:k]
    return {
        "source": source,
        "top_k": [
            {"class": predictor.class_names[i], "probability": float(probabilities[i])}
            for i in order
        ],
        "probabilities": {
            n: float(p) for n, p in zip(predictor.class_names, probabilities, strict=True)
        },
        "pixels": np.asarray(pixels).round().astype(int).tolist(),
    }


def page_html() -> str:
    return resources.files("fmnist").joinpath("static/index.html").read_text()


def create_app(
    predictor: Predictor,
    info: dict | None = None,
    limits: ServiceLimits = ServiceLimits(),
    cors_origins=(),
    load_seconds: float | None = None,
):
    """The FastAPI application around a loaded predictor."""
    info = {"name": "model", **(info or {})}
    metrics = ServiceMetrics()
    if load_seconds is not None:
        metrics.model_load.set(load_seconds)
    batcher = RequestBatcher(
        predictor.probabilities,
        max_batch=limits.max_batch if limits.batching else 1,
        max_wait_ms=limits.max_wait_ms if limits.batching else 0,
        on_batch=metrics.observe_batch,
    )

    @asynccontextmanager
    async def lifespan(app):
        await warm_up(app)
        yield
        await batcher.close()

    app = FastAPI(
        title="fmnist prediction service",
        version=info.get("fmnist_version", "1"),
        description="Fashion-MNIST classification: send images, get class probabilities.",
        docs_url=None,  # served from the package by add_docs: no CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.predictor, app.state.batcher, app.state.ready = predictor, batcher, False

    async def warm_up(app):
        """The first model call through the batcher; /readyz says ready only after it."""
        await batcher.predict(np.zeros((1, 28, 28)))
        app.state.ready = True
        metrics.ready.set(1)

    add_error_handlers(app)
    add_docs(app)

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
            "classes": list(predictor.class_names),
            "input": {
                "files": "PNG, JPEG or WebP photos, preprocessed as Fashion-MNIST was made",
                "json": '{"pixels": 28x28 or Nx28x28 numbers 0-255, article light on dark}',
                "max_upload_bytes": limits.max_upload_bytes,
                "max_pixels": limits.max_pixels,
                "max_request_pixels": limits.max_request_pixels,
                "max_images": limits.max_images,
            },
        }

    @app.post("/v1/predict", openapi_extra=predict_openapi(limits))
    async def predict(request: Request, top_k: int = limits.default_top_k):
        started = time.perf_counter()
        if not 1 <= top_k <= len(predictor.class_names):
            raise ClientError(422, f"top_k: {top_k} is not in 1-{len(predictor.class_names)}")
        batcher.announce()  # a batch being formed may wait the window for this request
        try:
            images, sources = await read_images(request, limits)
        except BaseException:
            batcher.withdraw()
            raise
        probabilities = await batcher.predict(images, announced=True)
        results = [
            describe_prediction(predictor, s, x, p, top_k)
            for s, x, p in zip(sources, images, probabilities, strict=True)
        ]
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
    app.state.metrics = metrics
    return app


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


async def read_images(request, limits: ServiceLimits) -> tuple[np.ndarray, list[str]]:
    """The request's images: multipart files, or JSON pixels; parsing and decoding run in
    worker threads, so a large request never holds up the others."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        pixels = await run_in_threadpool(pixels_from_body, await request.body())
        sources = [f"pixels[{i}]" for i in range(len(pixels))]
    elif content_type == "multipart/form-data":
        pixels, sources = await images_from_form(request, limits)
    else:
        raise ClientError(
            415,
            f"content type {content_type or 'missing'!r}; send "
            "multipart/form-data files or application/json pixels",
        )
    if len(pixels) > limits.max_images:
        raise ClientError(413, f"{len(pixels)} images; at most {limits.max_images} per request")
    return pixels, sources


def pixels_from_body(body: bytes) -> np.ndarray:
    try:
        payload = json.loads(body)
    except RecursionError:
        raise ClientError(400, "body: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise ClientError(400, "body is not valid JSON") from None
    return pixels_from_json(payload)


async def images_from_form(request, limits: ServiceLimits):
    try:
        form = await request.form(max_files=limits.max_images, max_fields=limits.max_images)
    except ClientError:
        raise
    except ClientDisconnect:
        raise
    except Exception as error:  # the multipart parser raises several types
        raise ClientError(400, f"malformed multipart body: {type(error).__name__}") from None
    uploads = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
    if not uploads:
        raise ClientError(422, "no files in the form: send one or more image files")
    files = [
        (await u.read(), u.filename or "upload", (u.content_type or "").lower()) for u in uploads
    ]
    images = await run_in_threadpool(decode_uploads, files, limits)
    return images, [name for _, name, _ in files]


def decode_uploads(files: list[tuple], limits: ServiceLimits) -> np.ndarray:
    """Every file's header first (type, size, the request's pixel budget), then decoding."""
    total = 0
    for data, name, content_type in files:
        if content_type not in IMAGE_TYPES:
            raise ClientError(415, f"{name}: content type {content_type!r}; send PNG, JPEG or WebP")
        if not data:
            raise ClientError(400, f"{name}: empty file")
        total += header_pixels(data, name)
        if total > limits.max_request_pixels:
            raise ClientError(
                413, f"the request's images hold over {limits.max_request_pixels:,} pixels together"
            )
    return np.stack([image_from_upload(*f, limits.max_pixels) for f in files]).astype(np.float64)


def header_pixels(data: bytes, name: str) -> int:
    """Width x height from the image's header alone (nothing decoded)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.width * image.height
    except Exception as error:  # Pillow: unidentified, truncated, bomb, bad header
        raise ClientError(400, f"{name}: not a readable image ({type(error).__name__})") from None


def model_details(path: Path, run: RunFolder | None = None) -> dict:
    """What /v1/model tells about a model: its name and, from a run folder, test metrics."""
    from fmnist import __version__

    holder = RunFolder(path.parent)  # a folder's kept model is named after the folder
    details = {
        "name": holder.path.name if path == holder.model_path else path.stem,
        "file": path.name,
        "fmnist_version": __version__,
    }
    metrics = run.read_metrics() if run else {}
    if metrics:
        test = evaluation_of(metrics, "test")
        details["metrics"] = {
            "model": metrics.get("model"),
            "params": metrics.get("params"),
            "test_accuracy": test.get("accuracy"),  # with the run's TTA, if it has it
            "test_accuracy_without_tta": test.get("accuracy_without_tta", test.get("accuracy")),
            "test_loss": test.get("loss"),
            "val_accuracy": evaluation_of(metrics, "val").get("accuracy"),
        }
    return details


SERVE_ENV = "FMNIST_SERVE"  # what each worker process of `--workers N` builds its app from


def load_app(path, trust=False, limits=ServiceLimits(), cors_origins=()) -> FastAPI:
    """Load the model and build the app (each worker process does this for itself)."""
    path, run = resolve_model_path(path)
    started = time.perf_counter()
    predictor = Predictor.load(path, trust=trust)
    seconds = time.perf_counter() - started
    return create_app(predictor, model_details(path, run), limits, cors_origins, seconds)


def app_from_environment() -> FastAPI:
    """uvicorn's app factory for worker processes: the settings come through SERVE_ENV."""
    import os

    settings = json.loads(os.environ[SERVE_ENV])
    limits = ServiceLimits(**settings["limits"])
    return load_app(settings["path"], settings["trust"], limits, tuple(settings["cors"]))


def serve(
    path: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    trust: bool = False,
    limits: ServiceLimits = ServiceLimits(),
    cors_origins=(),
    workers: int = 1,
) -> None:
    """Serve until interrupted; on Ctrl-C or SIGTERM, requests in flight are finished
    first (up to 10 s). With `workers` > 1, that many processes share the port, each with
    its own model, batcher and metrics."""
    import dataclasses
    import logging
    import os

    import uvicorn

    from fmnist.service_http import event_loop, json_error_protocol

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    options = dict(
        host=host,
        port=port,
        log_level="info",
        access_log=False,  # RequestObserver logs each request, with its id
        timeout_graceful_shutdown=10,
        http=json_error_protocol(),
        loop=event_loop(),
    )
    if workers > 1:
        resolve_model_path(path)  # a wrong path fails here, not in every worker
        os.environ[SERVE_ENV] = json.dumps(
            {
                "path": str(path),
                "trust": trust,
                "limits": dataclasses.asdict(limits),
                "cors": list(cors_origins),
            }
        )
        uvicorn.run("fmnist.serve:app_from_environment", factory=True, workers=workers, **options)
    else:
        uvicorn.run(load_app(path, trust, limits, cors_origins), **options)
