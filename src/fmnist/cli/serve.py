"""The serve command: the prediction service."""

from __future__ import annotations

from pathlib import Path

import click

from fmnist.cli.common import model_option, shown_option, trust_option, uses_tensorflow
from fmnist.images import MAX_PIXELS


@click.command("serve")
@model_option
@shown_option("--host", str, "127.0.0.1", "Interface to bind; 0.0.0.0: the network sees it.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, help="TCP port (default: 8000)."
)
@shown_option("--max-upload-mb", click.FloatRange(min=0.001), 5.0, "Largest request body accepted.")
@shown_option(
    "--max-megapixels",
    click.FloatRange(min=0.001),
    MAX_PIXELS / 1e6,
    "Largest image, before decoding.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help="Allow browser pages from this origin (repeatable); CORS is off by default.",
)
@shown_option("--workers", click.IntRange(min=1), 1, "Server processes, each with its own model.")
@shown_option(
    "--server",
    click.Choice(["uvicorn", "granian"]),
    "uvicorn",
    "The HTTP server: uvicorn, or Granian (Rust HTTP; the [serve-fast] extra).",
)
@click.option(
    "--batching/--no-batching",
    default=True,
    show_default=True,
    help="Answer concurrent requests with shared model calls.",
)
@shown_option("--max-batch", click.IntRange(min=1), 64, "Most images in one model call.")
@click.option(
    "--ray",
    "on_ray",
    is_flag=True,
    help="Deploy on Ray Serve instead: this machine, or the cluster at --address.",
)
@click.option("--address", help="With --ray: a Ray cluster to deploy on (HOST:PORT, or auto).")
@shown_option("--replicas", click.IntRange(min=1), 1, "With --ray: copies of the service.")
@shown_option("--max-wait-ms", click.FloatRange(min=0), 2.0, "A model call's wait for requests.")
@click.option(
    "--engine",
    type=click.Choice(["auto", "tensorflow"]),
    default="auto",
    show_default=True,
    help="The model call: auto uses ONNX Runtime where it answers as TensorFlow does.",
)
@click.option(
    "--corrections",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the photos people correct on the page in this folder (for fmnist adapt).",
)
@trust_option
@uses_tensorflow
def serve_command(
    model_path,
    host,
    port,
    max_upload_mb,
    max_megapixels,
    cors_origins,
    workers,
    server,
    batching,
    max_batch,
    max_wait_ms,
    engine,
    on_ray,
    address,
    replicas,
    corrections,
    trust_pickle,
) -> None:
    """Serve the model over HTTP: POST /v1/predict, a web page at /, API docs at /docs,
    Prometheus metrics at /metrics."""
    from fmnist.serving.app import ServiceLimits, serve

    limits = ServiceLimits(
        max_upload_bytes=int(max_upload_mb * 1e6),
        max_pixels=int(max_megapixels * 1e6),
        batching=batching,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        engine=engine,
    )
    if not on_ray:
        if address or replicas != 1:
            raise click.UsageError("--address and --replicas go with --ray")
        serve(model_path, host, port, trust_pickle, limits, cors_origins, workers, server,
              corrections)  # fmt: skip
        return
    if corrections:
        raise click.UsageError("--corrections is for the plain server, not --ray")
    if workers != 1 or server != "uvicorn":
        raise click.UsageError(
            "--workers and --server are for the plain server; on Ray, use --replicas"
        )
    from fmnist.serving.ray_serve import serve_on_ray

    serve_on_ray(
        model_path, replicas, address, host, port,
        trust=trust_pickle, limits=limits, cors_origins=cors_origins,
    )  # fmt: skip
