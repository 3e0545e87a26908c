"""The service on Ray Serve: the same app (routes, limits, JSON errors, request ids, the
page, the docs) as a Ray Serve deployment, on this machine or across a Ray cluster.

    >>> serve_on_ray("runs/x", replicas=2)  # http://127.0.0.1:8000  # doctest: +SKIP
    >>> serve_on_ray("runs/x", address="10.0.0.1:6379", host="0.0.0.0")  # doctest: +SKIP

Each replica builds the app itself (`fmnist.serving.app.load_app`: the model loaded once
per replica, its own micro-batcher); Ray Serve's proxy takes the HTTP requests and spreads
them over the replicas, on any node of the cluster. The model file must be readable at the
same path on every node (a shared file system, or the same copy on each). Needs Ray Serve:
pip install -e ".[serve-ray]".
"""

from __future__ import annotations

import time
from pathlib import Path

from fmnist.artifacts import check_model_file
from fmnist.ray_runtime import require_ray, start_ray
from fmnist.run_folder import resolve_model_path
from fmnist.serving.app import DEFAULT_LIMITS, ServiceLimits, load_app

APP_NAME = "fmnist"
INSTALL_HINT = 'fmnist serve --ray needs Ray Serve: pip install -e ".[serve-ray]"'


def require_serve():
    return require_ray("serve", INSTALL_HINT)


def deployment(path, replicas: int = 1, trust=False, limits=DEFAULT_LIMITS, cors_origins=()):
    """The bound Ray Serve application: `replicas` copies of the service's app, one CPU each."""
    _, serve = require_serve()

    def build_app():  # a function, which Serve calls on each replica to get its app
        return load_app(str(path), trust, limits, tuple(cors_origins))

    ingress = serve.ingress(build_app)()
    return serve.deployment(
        ingress, name=APP_NAME, num_replicas=replicas, ray_actor_options={"num_cpus": 1}
    ).bind()


def start_on_ray(
    path: Path | str,
    replicas: int = 1,
    address: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    trust: bool = False,
    limits: ServiceLimits = DEFAULT_LIMITS,
    cors_origins=(),
) -> str:
    """Deploy the service on Ray (its own local Ray, or the cluster at `address`) and
    return its URL once every replica has loaded the model."""
    _, serve = require_serve()
    model, _ = resolve_model_path(path)  # a wrong path fails here, not in every replica
    check_model_file(model, trust)  # and so does a refused pickle
    start_ray(address, hint=INSTALL_HINT)
    serve.start(http_options={"host": host, "port": port})
    application = deployment(Path(model).resolve(), replicas, trust, limits, cors_origins)
    serve.run(application, name=APP_NAME, route_prefix="/")
    return f"http://{host}:{port}"


def serve_on_ray(path, replicas=1, address=None, host="127.0.0.1", port=8000, **settings):
    """`start_on_ray`, then serve until Ctrl-C, then take the deployment down."""
    url = start_on_ray(path, replicas, address, host, port, **settings)
    print(f"Serving on Ray Serve: {url} ({replicas} replicas); Ctrl-C stops it", flush=True)
    _, serve = require_serve()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.delete(APP_NAME)
        serve.shutdown()
