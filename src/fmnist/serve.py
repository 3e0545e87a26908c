"""The prediction service: FastAPI on uvicorn, and a web page to try the model.

    $ fmnist serve --model runs/x            # http://127.0.0.1:8000/ , API docs at /docs
    >>> app = create_app(Predictor.load("shirts.keras"))   # for tests or other servers

Endpoints: POST /v1/predict (image files as multipart, or JSON pixels), GET /v1/model,
GET /healthz, GET /readyz, GET / (the page). Every bad request gets a 4xx answer with
a JSON body {"error": {"status", "message"}}; the body size is checked before anything
is parsed, image dimensions before anything is decoded.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from fmnist.predict import PhotoError, Predictor, open_photo, prepare_photo
from fmnist.run_folder import RunFolder, evaluation_of, resolve_model_path

IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


@dataclass(frozen=True)
class ServiceLimits:
    max_upload_bytes: int = 5_000_000  # whole request body
    max_pixels: int = 25_000_000  # per image, checked before decoding (decompression bombs)
    max_images: int = 256  # per request, files or JSON images
    default_top_k: int = 3


class ClientError(Exception):
    """A request the client must fix: becomes a 4xx JSON answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def error_body(status: int, message: str) -> dict:
    return {"error": {"status": status, "message": message}}


class BodyLimit:
    """ASGI middleware: refuse bodies over `limit` bytes with 413, by Content-Length when
    given and by counting otherwise, before any parser sees them."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await self._refuse(send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise ClientError(413, f"request body over the limit of {self.limit:,} bytes")
            return message

        try:
            await self.app(scope, counted, send)
        except ClientError:
            await self._refuse(send)

    async def _refuse(self, send):
        body = json.dumps(error_body(413, f"request body over {self.limit:,} bytes")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def pixels_from_json(payload) -> np.ndarray:
    """(N, 28, 28) pixels from {"pixels": 28x28 or Nx28x28 numbers in 0-255}."""
    if not isinstance(payload, dict) or "pixels" not in payload:
        raise ClientError(422, 'expected a JSON object with "pixels": a 28x28 array or a list')
    try:
        pixels = np.asarray(payload["pixels"], dtype=np.float64)
    except (ValueError, TypeError):
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
):
    """The FastAPI application around a loaded predictor."""
    info = {"name": "model", **(info or {})}
    app = FastAPI(
        title="fmnist prediction service",
        version=info.get("fmnist_version", "1"),
        description="Fashion-MNIST classification: send images, get class probabilities.",
    )
    app.state.predictor = predictor

    @app.exception_handler(ClientError)
    async def client_error(request, error: ClientError):
        return JSONResponse(error_body(error.status, error.message), status_code=error.status)

    @app.exception_handler(HTTPException)
    async def http_error(request, error: HTTPException):
        return JSONResponse(error_body(error.status_code, str(error.detail)), error.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, error: RequestValidationError):
        return JSONResponse(error_body(422, str(error.errors()[:3])), status_code=422)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return page_html()

    @app.get("/healthz")
    async def healthz():
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz():
        if getattr(app.state, "predictor", None) is None:
            return JSONResponse(error_body(503, "model not loaded"), status_code=503)
        return {"status": "ready", "model": info["name"]}

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
                "max_images": limits.max_images,
            },
        }

    @app.post("/v1/predict")
    async def predict(request: Request, top_k: int = limits.default_top_k):
        started = time.perf_counter()
        if not 1 <= top_k <= len(predictor.class_names):
            raise ClientError(422, f"top_k: {top_k} is not in 1-{len(predictor.class_names)}")
        images, sources = await read_images(request, limits)
        probabilities = predictor.probabilities(images)
        results = [
            describe_prediction(predictor, s, x, p, top_k)
            for s, x, p in zip(sources, images, probabilities, strict=True)
        ]
        return {
            "model": info["name"],
            "predictions": results,
            "time_ms": round(1000 * (time.perf_counter() - started), 2),
        }

    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )
    app.add_middleware(BodyLimit, limit=limits.max_upload_bytes)
    return app


async def read_images(request, limits: ServiceLimits) -> tuple[np.ndarray, list[str]]:
    """The request's images: multipart files, or JSON pixels."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            payload = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise ClientError(400, "body is not valid JSON") from None
        pixels = pixels_from_json(payload)
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


async def images_from_form(request, limits: ServiceLimits):
    try:
        form = await request.form(max_files=limits.max_images, max_fields=limits.max_images)
    except Exception as error:  # the multipart parser raises several types
        raise ClientError(400, f"malformed multipart body ({error})") from None
    uploads = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
    if not uploads:
        raise ClientError(422, "no files in the form: send one or more image files")
    images = []
    for upload in uploads:
        data = await upload.read()
        images.append(
            image_from_upload(
                data,
                upload.filename or "upload",
                (upload.content_type or "").lower(),
                limits.max_pixels,
            )
        )
    return np.stack(images).astype(np.float64), [u.filename or "upload" for u in uploads]


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


def serve(
    path: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    trust: bool = False,
    limits: ServiceLimits = ServiceLimits(),
    cors_origins=(),
) -> None:
    """Load the model once, then serve until interrupted."""
    import uvicorn

    path, run = resolve_model_path(path)
    predictor = Predictor.load(path, trust=trust)
    predictor.probabilities(np.zeros((1, 28, 28)))  # trace the graph before the first request
    app = create_app(predictor, model_details(path, run), limits, cors_origins)
    uvicorn.run(app, host=host, port=port, log_level="info")
