"""The request batcher: concurrent requests share model calls, each gets its own answers, a
lone request does not wait for the window, a failing call fails only its own requests."""

import asyncio
import time

import numpy as np
import pytest

from conftest import run_async
from fmnist.serving.batcher import RequestBatcher


class RecordingModel:
    """Answers row k with a one-hot of the image's first pixel: each image says who it is."""

    def __init__(self, seconds: float = 0.0, fail_on=None):
        self.calls, self.seconds, self.fail_on = [], seconds, fail_on

    def __call__(self, images):
        self.calls.append(len(images))
        time.sleep(self.seconds)
        if self.fail_on is not None and np.any(images[:, 0, 0] == self.fail_on):
            raise RuntimeError("model failed")
        out = np.zeros((len(images), 100))
        out[np.arange(len(images)), images[:, 0, 0].astype(int)] = 1
        return out


def images_of(*ids):
    x = np.zeros((len(ids), 28, 28))
    x[:, 0, 0] = ids
    return x


def run(coroutine):
    return run_async(coroutine)


def test_concurrent_requests_share_calls_and_get_their_own_rows():
    model = RecordingModel(seconds=0.02)
    batches = []

    async def main():
        batcher = RequestBatcher(
            model, max_batch=64, max_wait_ms=5, on_batch=lambda r, n: batches.append((r, n))
        )
        requests = [images_of(*range(3 * k, 3 * k + 3)) for k in range(20)]  # 3 images each
        answers = await asyncio.gather(*(batcher.predict(r) for r in requests))
        await batcher.close()
        return requests, answers

    requests, answers = run(main())
    for request, answer in zip(requests, answers, strict=True):
        assert answer.shape == (3, 100)
        assert list(answer.argmax(axis=1)) == list(request[:, 0, 0].astype(int))
    assert sum(model.calls) == 60 and len(model.calls) < 20  # batched, nothing lost
    assert max(n for _, n in batches) > 3 and all(n <= 64 for n in model.calls)


def test_a_batch_never_exceeds_max_batch_images():
    model = RecordingModel(seconds=0.01)

    async def main():
        batcher = RequestBatcher(model, max_batch=8, max_wait_ms=5)
        answers = await asyncio.gather(*(batcher.predict(images_of(k, k)) for k in range(30)))
        await batcher.close()
        return answers

    answers = run(main())
    assert all(list(a.argmax(axis=1)) == [k, k] for k, a in enumerate(answers))
    assert max(model.calls) <= 8 and sum(model.calls) == 60


def test_a_lone_request_does_not_wait_for_the_window():
    model = RecordingModel()

    async def main():
        batcher = RequestBatcher(model, max_batch=64, max_wait_ms=1000)
        await batcher.predict(images_of(1))  # start the worker
        started = time.perf_counter()
        answer = await batcher.predict(images_of(7))
        elapsed = time.perf_counter() - started
        await batcher.close()
        return answer, elapsed

    answer, elapsed = run(main())
    assert answer.argmax() == 7
    assert elapsed < 0.5  # a 1-second window, not waited: nobody else was on the way


def test_an_announced_request_is_waited_for_and_a_withdrawn_one_is_not():
    model = RecordingModel()

    async def main():
        batcher = RequestBatcher(model, max_batch=64, max_wait_ms=2000)
        batcher.announce()  # a request is being decoded
        first = asyncio.ensure_future(batcher.predict(images_of(1)))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(batcher.predict(images_of(2), announced=True))
        both = await asyncio.gather(first, second)
        batcher.announce()  # one whose input turns out bad
        third = asyncio.ensure_future(batcher.predict(images_of(3)))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        batcher.withdraw()
        await third
        waited = time.perf_counter() - started
        await batcher.close()
        return both, waited

    both, waited = run(main())
    assert model.calls[:1] == [2]  # the first waited for the announced second: one call
    assert [a.argmax() for a in both] == [1, 2]
    assert waited < 1.0  # the withdrawal ended the wait; the 2-second window was not used


def test_a_failing_model_call_fails_its_requests_and_the_next_call_works():
    model = RecordingModel(seconds=0.02, fail_on=13)

    async def main():
        batcher = RequestBatcher(model, max_batch=64, max_wait_ms=5)
        results = await asyncio.gather(
            *(batcher.predict(images_of(k)) for k in (12, 13, 14)), return_exceptions=True
        )
        after = await batcher.predict(images_of(5))
        await batcher.close()
        return results, after

    results, after = run(main())
    failed = [r for r in results if isinstance(r, Exception)]
    assert failed and all(str(e) == "model failed" for e in failed)
    assert after.argmax() == 5


@pytest.mark.parametrize("count", [1, 5])
def test_cancelled_requests_do_not_break_the_batch(count):
    model = RecordingModel(seconds=0.05)

    async def main():
        batcher = RequestBatcher(model, max_batch=64, max_wait_ms=1)
        tasks = [asyncio.ensure_future(batcher.predict(images_of(k))) for k in range(count + 1)]
        await asyncio.sleep(0.01)
        tasks[0].cancel()  # a client that went away
        answers = await asyncio.gather(*tasks[1:])
        await batcher.close()
        return answers

    answers = run(main())
    assert [a.argmax() for a in answers] == list(range(1, count + 1))
