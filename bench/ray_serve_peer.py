"""A peer for the load test: the same model served the way Ray Serve's own examples serve
a model, one replica per core, `@serve.batch` gathering concurrent requests into one call.

    python bench/ray_serve_peer.py --model runs/<run> --port 8100     # until killed

It takes the same multipart upload as `fmnist serve` and prepares the photo with fmnist's
own steps (so both do the same work per request), then answers with the class
probabilities. No limits, no request ids, no metrics: what a serving engine gives out of
the box. `bench/load_test.py --ray-serve` starts it beside fmnist's service.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from ray import serve  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, PlainTextResponse  # noqa: E402

from fmnist.ray_runtime import start_ray  # noqa: E402
from fmnist.run_folder import resolve_model_path  # noqa: E402


@serve.deployment(ray_actor_options={"num_cpus": 1})
class Classifier:
    def __init__(self, model_path: str):
        from fmnist.predict import Predictor

        self.predictor = Predictor.load(model_path)

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002)
    async def answer(self, images: list[np.ndarray]) -> list[list[float]]:
        return self.predictor.probabilities(np.stack(images)).tolist()

    async def __call__(self, request: Request):
        if request.method != "POST":
            return PlainTextResponse("ready")
        from fmnist.serving.requests import image_from_upload

        form = await request.form()
        upload = form["files"]
        data = await upload.read()
        steps = image_from_upload(data, upload.filename, upload.content_type, 25_000_000)
        probabilities = await self.answer(steps.pixels.astype(np.float32))
        names = self.predictor.class_names
        return JSONResponse({"probabilities": dict(zip(names, probabilities, strict=True))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--replicas", type=int, default=os.cpu_count())
    args = parser.parse_args()
    model, _ = resolve_model_path(args.model)
    start_ray(None)
    serve.start(http_options={"host": "127.0.0.1", "port": args.port})
    serve.run(
        Classifier.options(num_replicas=args.replicas).bind(str(model.resolve())),
        name="peer",
        route_prefix="/",
    )
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
