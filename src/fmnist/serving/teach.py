"""The service's part in teaching: corrections kept from the page, and a new version of the
model picked up without dropping a request.

    $ fmnist serve --model runs/x --corrections corrections   # the page asks "Right?"
    $ fmnist adapt runs/x --photos corrections                 # the service reloads it

POST /v1/corrections (multipart: `file`, and `label`: a class name or "none") keeps the
photo in the corrections folder (`fmnist.photos.corrections`: named by its content, checked,
written atomically, the folder capped); GET /v1/corrections says where they go and how many
there are. Nothing is written unless the service was started with a folder for them.

The model file (and its run's metrics) are watched: when `fmnist adapt` replaces them, the
new version is loaded and warmed up beside the one answering, then swapped in; requests in
flight finish on the old one. POST /admin/reload does the same at once; it answers only
requests from this machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from fmnist.photos.corrections import (
    CorrectionError,
    CorrectionsFull,
    CorrectionStore,
    CorrectionTooLarge,
    describe,
    label_of,
)
from fmnist.serving.requests import ClientError, ServiceLimits, check_upload

LOG = logging.getLogger("fmnist.serving.app")
WATCH_S = 1.0  # how often the model file is looked at


@dataclass(frozen=True)
class Teaching:
    """What a service needs to be taught: a corrections folder, and how to load the model
    again (with the files that change when it does)."""

    corrections: Path | None = None
    load: Callable | None = None  # () -> (Predictor, details for /v1/model)
    watched: tuple[Path, ...] = ()


def add_correction_routes(app: FastAPI, teaching: Teaching, limits: ServiceLimits) -> None:
    store = None
    if teaching.corrections:
        store = CorrectionStore(teaching.corrections, max_bytes=limits.max_upload_bytes,
                                max_pixels=limits.max_pixels)  # fmt: skip

    @app.get("/v1/corrections")
    async def corrections():
        if store is None:
            return {"enabled": False}
        return {"enabled": True, **await run_in_threadpool(describe, store)}

    @app.post("/v1/corrections", status_code=201)
    async def correct(request: Request):
        if store is None:
            raise ClientError(404, "this service keeps no corrections: start it with "
                                   "fmnist serve --corrections DIR")  # fmt: skip
        upload, label = await correction_form(request)
        data = await upload.read()
        check_upload(data, upload.filename or "upload", (upload.content_type or "").lower())
        try:
            saved = await run_in_threadpool(store.add, data, label, upload.filename or "upload")
        except CorrectionError as error:
            status = {CorrectionTooLarge: 413, CorrectionsFull: 507}.get(type(error), 400)
            raise ClientError(status, str(error)) from None
        summary = await run_in_threadpool(describe, store)
        kept = saved.path.relative_to(store.root).as_posix()
        return {"saved": kept, "label": label or "none of these", **summary}


async def correction_form(request: Request) -> tuple[UploadFile, str | None]:
    """The form's one photo and its label."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ClientError(415, "send multipart/form-data: a file and a label")
    try:
        form = await request.form(max_files=1, max_fields=2)
    except Exception as error:  # the multipart parser raises several types
        raise ClientError(400, f"malformed multipart body: {type(error).__name__}") from None
    upload, label = form.get("file"), form.get("label")
    if not isinstance(upload, UploadFile):
        raise ClientError(422, "file: send the photo as a file field named 'file'")
    if not isinstance(label, str):
        raise ClientError(422, "label: send a class name, or 'none' for none of these")
    try:
        return upload, label_of(label)
    except CorrectionError as error:
        raise ClientError(422, str(error)) from None


class ModelWatch:
    """Loads the model again when its files change, and swaps it in once it has answered."""

    def __init__(self, app: FastAPI, teaching: Teaching, info: dict):
        self.app, self.teaching, self.info = app, teaching, info
        self.seen = self.stamp()
        self.lock = asyncio.Lock()

    def stamp(self) -> tuple:
        stamps = []
        for path in self.teaching.watched:
            try:
                stat = path.stat()
                stamps.append((stat.st_mtime_ns, stat.st_size))
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    async def reload(self) -> dict:
        """Load, warm up and swap in the model as its files are now."""
        async with self.lock:
            stamp = self.stamp()
            predictor, details = await run_in_threadpool(self.teaching.load)
            await run_in_threadpool(predictor.probabilities, np.zeros((1, 28, 28)))
            self.app.state.predictor = predictor  # requests from here on answer with it
            self.info.update(details)
            self.seen = stamp
            self.app.state.metrics.model_reloads.inc()
            LOG.info("model reloaded: version %s", details.get("version", "-"))
            return {"reloaded": True, "version": details.get("version")}

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_S)
            if self.stamp() != self.seen:
                await asyncio.sleep(WATCH_S / 2)  # let a write in progress finish
                try:
                    await self.reload()
                except Exception as error:  # a broken file: keep answering with the old model
                    self.seen = self.stamp()
                    LOG.warning("model not reloaded: %s", error)


def add_reload(app: FastAPI, teaching: Teaching, info: dict) -> ModelWatch | None:
    """POST /admin/reload (this machine only) and the file watch; none without a loader."""
    if teaching.load is None:
        return None
    watch = ModelWatch(app, teaching, info)

    @app.post("/admin/reload", include_in_schema=False)
    async def reload(request: Request):
        host = request.client.host if request.client else ""
        if not is_loopback(host):
            raise ClientError(403, "reload: only from this machine")
        try:
            return await watch.reload()
        except Exception as error:
            raise ClientError(409, f"reload: the model did not load ({error})") from None

    return watch


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")  # Starlette's test client names itself
