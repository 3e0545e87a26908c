"""Ray, started the one way fmnist's sweeps and its Ray Serve deployment both need.

    >>> ray = start_ray(None)              # a Ray of this command's own, one worker per core
    >>> ray = start_ray("10.0.0.1:6379")   # a cluster, joined on purpose ("auto": the one
    ...                                    # `ray start` began on this machine)

Imported only by the commands that use Ray (the [sweep] and [serve-ray] extras).
"""

from __future__ import annotations

import importlib
import logging
import os

from fmnist.errors import FmnistError


def require_ray(part: str, hint: str):
    """(ray, ray.<part>) - "tune" or "serve" - or an FmnistError saying how to install it."""
    try:
        import ray

        return ray, importlib.import_module(f"ray.{part}")
    except ImportError:
        raise FmnistError(hint) from None


def start_ray(address: str | None, cpus: int | None = None, env: dict | None = None, hint=""):
    """A Ray of this command's own, beside any other Ray instance on the machine; or, with
    `address`, that existing cluster. `env`: more variables for its workers; `hint`: how
    to install Ray, said when it is missing."""
    try:
        import ray
    except ImportError:
        raise FmnistError(hint or "this needs Ray: pip install 'ray>=2.40'") from None
    if ray.is_initialized():
        return ray
    quiet = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}}
    # Ray's own notices (its token authentication stays on; "Started a local Ray instance";
    # Tune's "Wrote the latest version of all result files") are not the user's business:
    # the command prints where it runs and what it found.
    for name in ("ray._private.authentication", "ray.tune", "ray.train", "ray.serve"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if address:
        ray.init(
            address=address, runtime_env=quiet, log_to_driver=False, logging_level=logging.WARNING
        )
    else:
        ray.init(
            address="local",  # never the running instance that plain ray.init() would join
            num_cpus=cpus or os.cpu_count(),
            include_dashboard=False,
            runtime_env=quiet,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    return ray
