"""Adaptive micro-batching: concurrent requests' images answered by one model call.

    >>> batcher = RequestBatcher(predictor.probabilities, max_batch=64)  # doctest: +SKIP
    >>> probabilities = await batcher.predict(images)  # doctest: +SKIP

While the model is busy, the requests that arrive queue up; when it is free, everything
queued (up to `max_batch` images) goes into its next call, which runs in a thread of its
own so the event loop keeps accepting, reading and decoding requests. A request that
finds the model idle and nothing else on its way is answered at once: the window
(`max_wait_ms`) is only waited when other requests are being read or decoded and so are
about to join. Each request gets back exactly its own rows. Bad input never reaches a
batch: requests are checked before they are submitted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Pending:
    images: np.ndarray
    future: asyncio.Future
    queued_at: float = field(default=0.0)


class RequestBatcher:
    """Gathers concurrent `predict` calls into model calls of up to `max_batch` images."""

    def __init__(
        self,
        model_call: Callable[[np.ndarray], np.ndarray],
        max_batch: int = 64,
        max_wait_ms: float = 2.0,
        on_batch: Callable[[int, int], None] | None = None,
    ):
        self.model_call, self.max_batch, self.max_wait = model_call, max_batch, max_wait_ms / 1000
        self.on_batch = on_batch  # (requests, images) of each model call: for metrics
        self.queue: list[Pending] = []
        self.arriving = 0  # requests announced (being read or decoded), not yet queued
        self.wakeup: asyncio.Event | None = None
        self.worker: asyncio.Task | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    # -- what a request handler calls ---------------------------------------------------
    def announce(self) -> None:
        """A request has started arriving: a batch being formed may wait for it."""
        self.arriving += 1

    def withdraw(self) -> None:
        """An announced request will not be submitted (its input was bad)."""
        self.arriving = max(0, self.arriving - 1)
        if self.wakeup is not None:
            self.wakeup.set()  # a batch waiting for it need not wait any longer

    async def predict(self, images: np.ndarray, announced: bool = False) -> np.ndarray:
        """This request's probabilities, from whichever model call it joins."""
        if announced:
            self.withdraw()
        self._start()
        loop = asyncio.get_running_loop()
        pending = Pending(np.asarray(images), loop.create_future(), loop.time())
        self.queue.append(pending)
        self.wakeup.set()
        return await pending.future

    # -- the worker ---------------------------------------------------------------------
    def _start(self) -> None:
        if self.worker is None or self.worker.done():
            self.wakeup = asyncio.Event()
            self.worker = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.queue:
                await self._gather(loop)
                batch = self._take()
                await self._answer(loop, batch)

    async def _gather(self, loop) -> None:
        """Wait (at most max_wait) for announced requests while the batch has room."""
        deadline = self.queue[0].queued_at + self.max_wait
        while self.arriving > 0 and self._images() < self.max_batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self.wakeup.clear()
            try:
                await asyncio.wait_for(self.wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _images(self) -> int:
        return sum(len(p.images) for p in self.queue)

    def _take(self) -> list[Pending]:
        """Requests from the front of the queue up to max_batch images (at least one)."""
        batch, count = [], 0
        while self.queue and (not batch or count + len(self.queue[0].images) <= self.max_batch):
            pending = self.queue.pop(0)
            batch.append(pending)
            count += len(pending.images)
        return batch

    async def _answer(self, loop, batch: list[Pending]) -> None:
        images = np.concatenate([p.images for p in batch])
        try:
            probabilities = await loop.run_in_executor(self.executor, self.model_call, images)
        except Exception as error:  # the model failed: every request of the call is told
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
            return
        if self.on_batch:
            self.on_batch(len(batch), len(images))
        start = 0
        for pending in batch:
            end = start + len(pending.images)
            if not pending.future.done():  # a client that went away has cancelled it
                pending.future.set_result(probabilities[start:end])
            start = end

    async def close(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
        self.executor.shutdown(wait=False)
