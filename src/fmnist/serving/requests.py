"""What a request to the service may hold, checked and decoded: the limits, the JSON
errors, the body's size and pace, JSON pixels and uploaded photos.

    >>> ServiceLimits().max_pixels                  # per image, before decoding
    40000000
    >>> images, sources, steps = await read_images(request, ServiceLimits())  # doctest: +SKIP

Everything a client can get wrong becomes a `ClientError` (a 4xx with a JSON body and the
request id), checked in this order: the body's declared and actual size, the content
type, each file's declared type and header (size, and the request's pixel budget), and
only then decoding, in worker threads so that the event loop stays free.
"""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from fmnist.images import CONTENT_TYPES, FORMAT_NAMES, MAX_PIXELS, READ_AS
from fmnist.photos.prepare import (
    PhotoError,
    PhotoSteps,
    PhotoTooLarge,
    open_photo,
    photo_steps,
)
from fmnist.serving.metrics import request_id_var


@dataclass(frozen=True)
class ServiceLimits:
    max_upload_bytes: int = 5_000_000  # whole request body
    max_pixels: int = MAX_PIXELS  # per image, checked before decoding (decompression bombs)
    max_request_pixels: int = 50_000_000  # all of a request's images together, likewise
    max_images: int = 256  # per request, files or JSON images
    default_top_k: int = 3
    body_timeout_s: float = 10.0  # a body that stalls this long between chunks gets 408
    batching: bool = True  # share model calls between concurrent requests
    max_batch: int = 64  # images per model call
    max_wait_ms: float = 2.0  # how long a call waits for requests already on their way
    engine: str = "auto"  # the model call: auto (ONNX Runtime where it agrees) | tensorflow


class ClientError(Exception):
    """A request the client must fix: becomes a 4xx JSON answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def clean_name(name: str, default: str) -> str:
    """A file name a client sent, as answers and logs show it: its last path part, without
    control characters, at most 200 characters (`default` when nothing is left).

    >>> clean_name("../../etc/pass\\x00wd.png", "upload"), clean_name("C:\\\\a\\\\b.jpg", "upload")
    ('passwd.png', 'b.jpg')
    """
    last = name.replace("\\", "/").rsplit("/", 1)[-1]
    printable = "".join(c for c in last if c.isprintable())
    return printable[:200].strip() or default


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


def check_upload(data: bytes, name: str, content_type: str) -> None:
    """An uploaded file's declared type and emptiness, before anything reads it."""
    if content_type not in CONTENT_TYPES:
        raise ClientError(415, f"{name}: content type {content_type!r}; send {FORMAT_NAMES}")
    if not data:
        raise ClientError(400, f"{name}: empty file")


def image_from_upload(data: bytes, name: str, content_type: str, max_pixels: int) -> PhotoSteps:
    """One uploaded file's way to a 28 x 28 image, checked for type, emptiness and size."""
    check_upload(data, name, content_type)
    try:
        image = open_photo(io.BytesIO(data), name, max_pixels)
    except PhotoTooLarge as error:
        raise ClientError(413, str(error)) from None
    except PhotoError as error:
        raise ClientError(400, str(error)) from None
    if READ_AS.get(image.format, image.format) != CONTENT_TYPES[content_type]:
        raise ClientError(415, f"{name}: declared {content_type} but holds {image.format}")
    return photo_steps(image)


async def read_images(request, limits: ServiceLimits) -> tuple[np.ndarray, list[str], list]:
    """The request's images: one image as the body (image/png, image/jpeg, image/webp),
    multipart files, or JSON pixels; parsing and decoding run in worker threads, so a large
    request never holds up the others."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        pixels = await run_in_threadpool(pixels_from_body, await request.body())
        sources = [f"pixels[{i}]" for i in range(len(pixels))]
        steps = [None] * len(pixels)
    elif content_type == "multipart/form-data":
        steps, sources = await images_from_form(request, limits)
        pixels = np.stack([s.pixels for s in steps]).astype(np.float64)
    elif content_type in CONTENT_TYPES:  # one image as the body itself: no multipart to parse
        name = clean_name(request.headers.get("x-filename", ""), "body")
        body = [(await request.body(), name, content_type)]
        steps = await run_in_threadpool(decode_uploads, body, limits)
        pixels, sources = np.stack([s.pixels for s in steps]).astype(np.float64), [name]
    else:
        raise ClientError(
            415,
            f"content type {content_type or 'missing'!r}; send one image as the body "
            f"({', '.join(CONTENT_TYPES)}), multipart/form-data files or application/json pixels",
        )
    if len(pixels) > limits.max_images:
        raise ClientError(413, f"{len(pixels)} images; at most {limits.max_images} per request")
    return pixels, sources, steps


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
        (await u.read(), clean_name(u.filename or "", "upload"), (u.content_type or "").lower())
        for u in uploads
    ]
    images = await run_in_threadpool(decode_uploads, files, limits)
    return images, [name for _, name, _ in files]


def decode_uploads(files: list[tuple], limits: ServiceLimits) -> list[PhotoSteps]:
    """Every file's header first (type, size, the request's pixel budget), then decoding."""
    total = 0
    for data, name, content_type in files:
        check_upload(data, name, content_type)
        total += header_pixels(data, name)
        if total > limits.max_request_pixels:
            raise ClientError(
                413, f"the request's images hold over {limits.max_request_pixels:,} pixels together"
            )
    return [image_from_upload(*f, limits.max_pixels) for f in files]


def header_pixels(data: bytes, name: str) -> int:
    """Width x height from the image's header alone (nothing decoded)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.width * image.height
    except Exception as error:  # Pillow: unidentified, truncated, bomb, bad header
        raise ClientError(400, f"{name}: not a readable image ({type(error).__name__})") from None
