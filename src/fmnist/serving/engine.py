"""The model call behind the service: ONNX Runtime where it answers as TensorFlow does.

    >>> engine = use_onnx_runtime(predictor, model_path)  # "onnx" or "tensorflow"  # doctest: +SKIP

For the batches a service sees (1 to 64 images), TensorFlow's per-call overhead is most of
the time: the default model answers 2 images (one, with its mirror) in 0.76 ms through
TensorFlow and 0.13 ms through ONNX Runtime on 2 cores; at 128 images both take 4.5 ms.
The model is exported to ONNX once (Keras' own exporter, `fmnist.artifacts.export_model`),
cached by the hash of the model file, and used only when its answers on 64 test-like
images agree with TensorFlow's to within PARITY in every probability; otherwise, or
without the [onnx] extra, the service keeps TensorFlow and says why in its log.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from fmnist.cache import cache_dir

PARITY = 1e-4  # the largest probability difference accepted between the two engines
LOG = logging.getLogger("fmnist.serving.app")


def onnx_path(model_path: Path) -> Path:
    """Where the model's ONNX export is cached: by the hash of the model file."""
    digest = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()[:32]
    return cache_dir("onnx", f"{digest}.onnx")


def use_onnx_runtime(predictor, model_path: Path | str, trust: bool = False) -> str:
    """Answer through ONNX Runtime when it is installed and agrees with TensorFlow; returns
    the engine the predictor now uses ("onnx" or "tensorflow")."""
    try:
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError:
        LOG.info("engine: tensorflow (ONNX Runtime is the [onnx] extra)")
        return "tensorflow"
    from fmnist.artifacts import ArtifactError, export_model, onnx_runner

    logging.getLogger("tf2onnx").setLevel(logging.WARNING)  # its optimiser's notes
    cached = onnx_path(Path(model_path))
    try:
        if not cached.is_file():
            export_model(model_path, "onnx", cached, trust=trust)
        runner = onnx_runner(cached, threads=1)
    except (ArtifactError, OSError) as error:
        LOG.info("engine: tensorflow (no ONNX export: %s)", error)
        return "tensorflow"
    sample = np.random.default_rng(0).integers(0, 256, (64, 28, 28, 1)).astype(np.float32)
    difference = float(np.max(np.abs(runner(sample) - predictor.forward(sample))))
    if difference > PARITY:
        LOG.info("engine: tensorflow (ONNX differs by %.2g)", difference)
        return "tensorflow"
    predictor.forward = runner
    LOG.info("engine: onnx (agrees with TensorFlow within %.1g)", difference)
    return "onnx"
