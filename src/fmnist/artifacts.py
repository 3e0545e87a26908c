"""Models as files: the one module that knows the formats.

    >>> from fmnist.data import CLASS_NAMES
    >>> from fmnist.training.models import create_model
    >>> path = save_model(create_model("mlp"), "shirts.keras", class_names=CLASS_NAMES)
    >>> model, info = load_model_with_metadata(path)                 # Keras safe_mode, always
    >>> info["class_names"][0]
    'T-shirt/top'
    >>> export_model("shirts.keras", "onnx", "shirts.onnx")          # doctest: +SKIP

Formats, chosen by extension:
- `.keras` (default): Keras' zip archive; fmnist adds one entry, `fmnist.json`, with the
  class names and the input convention (Keras ignores entries it does not know).
- `.h5`: the legacy HDF5 format; the same metadata lives in a root attribute `fmnist`.
- `.pkl`: a pickle of {"model", "class_names", ...}. Unpickling runs whatever code the
  file holds, so loading one needs `trust=True` (`--trust-pickle`).

Every save is atomic: written to a temporary file beside the target, renamed over it
only once complete, so an interrupted save never destroys the previous good file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import shutil
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fmnist.errors import FmnistError, one_line
from fmnist.run_folder import atomic_path, remove_stale_temporaries, temporary_for

FORMATS = (".keras", ".h5", ".pkl")
EXPORT_FORMATS = {"saved_model": "tf_saved_model", "onnx": "onnx", "litert": "litert"}
EXPORT_SUFFIXES = {"onnx": ".onnx", "litert": ".tflite"}  # the file formats' (a folder: inside)
EXPORT_NEEDS = {"onnx": ("tf2onnx", "fmnist[onnx]"), "litert": ("tensorflow", "fmnist[litert]")}
METADATA_ENTRY = "fmnist.json"
PICKLE_KIND = "fmnist-model-bundle"
INPUT_CONVENTION = "raw grayscale pixels 0-255, shape (N, 28, 28, 1), float32 or uint8"
PICKLE_REFUSAL = (
    "refusing to load a pickle: unpickling runs arbitrary code from the file; pass "
    "--trust-pickle (trust=True) only for files you made or fully trust"
)


LAMBDA_REFUSAL = (
    "holds a Lambda layer (Python code, which could do anything when loaded); fmnist loads "
    "models with Keras' safe_mode and refuses it: rebuild the model without Lambda layers"
)


class ArtifactError(FmnistError):
    """A model file is missing, damaged, of an unknown format, or not trusted."""


def model_format(path: Path | str) -> str:
    suffix = Path(path).suffix
    if suffix not in FORMATS:
        raise ArtifactError(f"{path}: unknown model format {suffix!r}; use {', '.join(FORMATS)}")
    return suffix


@contextlib.contextmanager
def quiet_legacy_warnings():
    """Keras warns through absl that .h5 is legacy, and that a model loaded uncompiled is
    not compiled; fmnist chose both on purpose (see the module docstring)."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _write(model, path: Path, info: dict) -> None:
    suffix = path.suffix
    if suffix == ".pkl":
        with open(path, "wb") as stream:
            pickle.dump({"kind": PICKLE_KIND, "model": model, **info}, stream)
        return
    with quiet_legacy_warnings():
        model.save(path)
    if suffix == ".keras":
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(METADATA_ENTRY, json.dumps(info, indent=2))
    else:
        import h5py

        with h5py.File(path, "a") as archive:
            archive.attrs["fmnist"] = json.dumps(info)


def save_model(model, path: Path | str, class_names=None, metadata: dict | None = None) -> Path:
    """Save `model` with its class names in the format of `path`'s extension, atomically."""
    path = Path(path)
    model_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {"class_names": list(class_names or []), "input": INPUT_CONVENTION, **(metadata or {})}
    with atomic_path(path) as temporary:
        _write(model, temporary, info)
    return path


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise ArtifactError(f"{path}: no such model file")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ArtifactError(f"{path}: not a .keras file (not a zip archive; truncated or damaged?)")
    if path.suffix == ".h5":
        import h5py

        if not h5py.is_hdf5(path):
            raise ArtifactError(f"{path}: not an HDF5 file (truncated or damaged?)")


def _load_pickle(path: Path, trust: bool) -> tuple:
    if not trust:
        raise ArtifactError(f"{path}: {PICKLE_REFUSAL}")
    try:
        with open(path, "rb") as stream:
            bundle = pickle.load(stream)  # noqa: S301 - only with trust=True, see above
    except Exception as error:  # a damaged pickle raises many types
        raise ArtifactError(f"{path}: cannot unpickle ({type(error).__name__}: {error})") from None
    if not isinstance(bundle, dict) or bundle.get("kind") != PICKLE_KIND:
        raise ArtifactError(f"{path}: not an fmnist model bundle")
    model = bundle.pop("model")
    bundle.pop("kind")
    return model, bundle


def read_metadata(path: Path | str) -> dict:
    """fmnist's metadata inside a .keras or .h5 file ({} when it has none)."""
    path = Path(path)
    try:
        if path.suffix == ".h5":
            import h5py

            with h5py.File(path, "r") as archive:
                return json.loads(archive.attrs.get("fmnist", "{}"))
        with zipfile.ZipFile(path) as archive:
            if METADATA_ENTRY not in archive.namelist():
                return {}
            return json.loads(archive.read(METADATA_ENTRY))
    except (OSError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ArtifactError(f"{path}: cannot read its metadata ({error})") from None


def check_model_file(path: Path | str, trust: bool = False) -> Path:
    """What can be known of a model file without loading it: its format, that it is whole
    (a zip or HDF5 file), and that a pickle is trusted. A service checks this once before
    starting workers, so that a refusal is one line, not one per worker."""
    path = Path(path)
    model_format(path)
    _check_file(path)
    if path.suffix == ".pkl" and not trust:
        raise ArtifactError(f"{path}: {PICKLE_REFUSAL}")
    return path


def load_model_with_metadata(path: Path | str, compile: bool = False, trust: bool = False):
    """(model, metadata) from a .keras, .h5 or (with trust) .pkl file; Keras safe_mode on."""
    import keras

    path = check_model_file(path, trust)
    if path.suffix == ".pkl":
        return _load_pickle(path, trust)
    from fmnist.inference.layers import scaled_bias_layer

    scaled_bias_layer()  # fmnist's one layer of its own, known to Keras before it loads
    try:
        with quiet_legacy_warnings():
            model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as error:  # Keras raises many types for a damaged archive
        if "`Lambda` layer" in str(error):
            raise ArtifactError(f"{path}: {LAMBDA_REFUSAL}") from None
        raise ArtifactError(f"{path}: cannot load the model ({one_line(error)})") from None
    return model, read_metadata(path)


def load_model(path: Path | str, compile: bool = False, trust: bool = False):
    """A model from a .keras, .h5 or (with trust) .pkl file."""
    return load_model_with_metadata(path, compile=compile, trust=trust)[0]


def convert(source: Path | str, target: Path | str, trust: bool = False) -> Path:
    """Re-save a model in the format of `target`'s extension, keeping its metadata."""
    model_format(target)
    model, info = load_model_with_metadata(source, trust=trust)
    class_names = info.pop("class_names", None)
    return save_model(model, target, class_names, info)


def _require(format: str) -> None:
    module, extra = EXPORT_NEEDS.get(format, (None, None))
    if module is None:
        return
    try:
        __import__(module)
    except ImportError:
        raise ArtifactError(f"export to {format} needs {module}: pip install '{extra}'") from None


def export_model(path: Path | str, format: str, out: Path | str, trust: bool = False) -> Path:
    """Export for deployment through Keras' own `model.export`: a SavedModel folder, an
    .onnx file or a LiteRT .tflite file. Written beside `out`, then renamed into place."""
    if format not in EXPORT_FORMATS:
        raise ArtifactError(f"unknown export format {format!r}; use {', '.join(EXPORT_FORMATS)}")
    _require(format)
    model = load_model(path, trust=trust)
    out = export_target(Path(out), format, Path(path))
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    temporary = temporary_for(out)  # may be a folder (a SavedModel)
    previous = out.with_name(f".{out.name}.previous")
    model(np.zeros((1, 28, 28, 1), np.float32))  # the ONNX exporter needs a model called once
    try:
        try:
            with warnings.catch_warnings():  # the exporters' FutureWarnings: not the user's
                warnings.simplefilter("ignore", FutureWarning)
                model.export(str(temporary), format=EXPORT_FORMATS[format], verbose=False)
        except Exception as error:  # each exporter fails in its own way
            raise ArtifactError(f"{path}: export to {format} failed ({one_line(error)})") from None
        if out.exists():  # a SavedModel is a folder: keep the old one until the new is in place
            os.replace(out, previous)
        os.replace(temporary, out)
    finally:
        for leftover in (temporary, previous):
            remove(leftover)
    return out


def export_target(out: Path, format: str, source: Path) -> Path:
    """Where an export goes. A file format given a folder writes into it (named after the
    model); an existing folder is replaced only when it is a SavedModel or empty: an export
    never deletes what it did not write."""
    if format in EXPORT_SUFFIXES and out.is_dir():
        out = out / f"{source.stem}{EXPORT_SUFFIXES[format]}"
    if out.is_dir():
        if format in EXPORT_SUFFIXES:
            raise ArtifactError(f"{out}: a folder; give the {format} file's path")
        if any(out.iterdir()) and not (out / "saved_model.pb").is_file():
            raise ArtifactError(
                f"{out}: a folder of other files, not a SavedModel; an export never replaces "
                "them (give a new or empty folder)"
            )
    return out


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# --- answering with any saved or exported model, for verification ---------------------


def onnx_runner(path: Path, threads: int | None = None) -> Callable:
    """images (N, 28, 28, 1) -> probabilities through ONNX Runtime; `threads`: its thread
    pools' size (the service: one, its workers and request threads share the cores)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = options.inter_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: np.ascontiguousarray(x, np.float32)})[0]


def _litert_runner(path: Path) -> Callable:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # TensorFlow's own copy of the interpreter
        from tensorflow.lite import Interpreter
    interpreter = Interpreter(model_path=str(path))
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def run(x):
        interpreter.resize_tensor_input(source["index"], list(x.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(source["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(target["index"])

    return run


def _saved_model_runner(path: Path) -> Callable:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return lambda x: loaded.serve(tf.constant(x)).numpy()


def probability_function(path: Path | str, trust: bool = False) -> Callable:
    """images (N, 28, 28, 1) float32 -> probabilities, for any saved or exported model."""
    path = Path(path)
    if path.is_dir():
        run = _saved_model_runner(path)
    elif path.suffix == ".onnx":
        run = onnx_runner(path)
    elif path.suffix == ".tflite":
        run = _litert_runner(path)
    else:
        model = load_model(path, trust=trust)
        return lambda x: model.predict(x, batch_size=1000, verbose=0)
    return lambda x: np.concatenate([run(x[i : i + 1000]) for i in range(0, len(x), 1000)])


def compare_predictions(first: np.ndarray, second: np.ndarray) -> dict:
    """Label agreement and the largest probability difference of two models' answers."""
    agree = first.argmax(axis=1) == second.argmax(axis=1)
    return {
        "images": len(first),
        "label_agreement": float(agree.mean()),
        "disagreements": int((~agree).sum()),
        "max_probability_difference": float(np.abs(first - second).max()),
    }


def exact_format(path: Path | str) -> bool:
    """Formats that hold the Keras model itself (answers must agree on every label)."""
    return Path(path).suffix in FORMATS


def verify_models(first, second, images: np.ndarray, trust: bool = False) -> dict:
    """Compare two models' answers on `images`; with `second` None, compare `first` with
    a copy of itself saved and reloaded in the same format (a round trip)."""
    import tempfile

    x = np.asarray(images, np.float32).reshape(-1, 28, 28, 1)
    with tempfile.TemporaryDirectory() as folder:
        if second is None:
            if not exact_format(first):
                raise ArtifactError(f"{first}: give a second model to compare an export with")
            second = convert(first, Path(folder) / f"reloaded{Path(first).suffix}", trust=trust)
        result = compare_predictions(
            probability_function(first, trust)(x), probability_function(second, trust)(x)
        )
    required = 1.0 if exact_format(first) and exact_format(second) else 0.999
    return {**result, "required_agreement": required, "ok": result["label_agreement"] >= required}
