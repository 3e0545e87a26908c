"""Training configuration as data: a frozen dataclass, files, flags, checks.

    >>> config = resolve_config(model="cnn", epochs=2)   # defaults < recipe < file < flags
    >>> config.epochs, config.batch_size, config.tta
    (2, 32, 0)
    >>> config = resolve_config("my.toml", model="cnn")             # doctest: +SKIP

Precedence, lowest first: the dataclass defaults, the chosen model's recipe
(`fmnist models`), the config file (TOML, YAML or JSON), then command-line flags.
Unknown keys and wrong types are errors naming the key.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from fmnist.errors import FmnistError
from fmnist.training.models import DEFAULT_MODEL

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "onecycle")
LOSSES = ("sparse", "categorical")
PRECISIONS = ("auto", "float32", "bfloat16")


class ConfigError(FmnistError):
    """A configuration file or value is wrong."""


def whole_epochs(epochs: float) -> int:
    """The epochs a run counts (and Keras runs): a fractional last one is an epoch too."""
    return math.ceil(epochs)


@dataclass(frozen=True)
class TrainConfig:
    model: str = DEFAULT_MODEL  # a name from `fmnist models`; the default recipe
    model_args: dict = field(default_factory=dict)  # overrides for the model's builder
    # The rest are the tutorials' values; a model's recipe (applied by resolve_config)
    # overrides them, so `fmnist train --model cnn` trains the tutorial CNN as they do.
    # Passes over the training images, an upper bound (early stopping or the gap stop may end
    # sooner); a fraction ends the last pass early: 0.7 trains on 70% of them, once.
    epochs: float = 10
    batch_size: int = 32  # what the tutorials use; recipes raise it for speed
    learning_rate: float = 1e-3  # Adam's default; the peak rate under a schedule
    optimizer: str = "adam"  # adam | adamw | sgd (momentum 0.9, Nesterov)
    weight_decay: float = 0.0  # adamw and sgd only
    ema: float = 0.0  # > 0: the weights become their moving average (this momentum) each epoch
    schedule: str = "constant"  # constant | cosine (with warm-up) | onecycle
    warmup_epochs: float = 1.0  # cosine: linear warm-up length (onecycle warms up 30%)
    loss: str = "sparse"  # sparse: integer labels; categorical: one-hot labels
    label_smoothing: float = 0.0  # > 0 trains on smoothed one-hot labels
    shift: int = 0  # random shift augmentation, pixels each way; 0 = off
    flip: bool = False  # random horizontal flip augmentation
    erasing: float = 0.0  # random erasing probability per image; 0 = off
    photo_style: float = 0.0  # share of training images made to look like phone photos
    photos: str | None = None  # then learn these labelled photos (fmnist.training.photo_learning)
    photo_classes: str | None = None  # their class mapping (TOML); default: theirs, or ours
    val_fraction: float = 0.1  # stratified validation split of the training set
    validate_on_test: bool = False  # validate on the test set, as two tutorials do
    patience: int = 5  # early stopping on validation accuracy; 0 = off
    gap_threshold: float = 0.01  # stop when val accuracy trails train by more; 0 = off
    # Test-time augmentation (fmnist.inference.answers): 0 answers the image as it is, 1
    # averages it with its mirror image, 2 also with it moved one pixel each way (10 views).
    tta: int = 0
    precision: str = "auto"  # auto (bfloat16 on CPUs with AMX) | float32 | bfloat16
    seed: int = 0  # seeds Python, NumPy, TensorFlow, the split and the augmentation
    tensorboard: bool = False  # also write TensorBoard logs into the run folder
    mlflow: bool = False  # also track the run in MLflow (fmnist.tracking.mlflow_runs)
    data_dir: str | None = None  # where the data is; None: fmnist.data.dataset's "auto" order
    runs_dir: str = "runs"  # parent folder of run folders
    name: str | None = None  # run folder suffix; default: the model name


# What each value may be, declared once: the choices of the text fields and the range of the
# numbers (pydantic checks both, and NaN or infinity for every float); one-line errors name
# the key (`describe_validation_error`).
CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "loss": LOSSES, "precision": PRECISIONS}
BOUNDS = {
    "epochs": dict(gt=0, le=10_000),
    "batch_size": dict(ge=1, le=60_000),  # at most the whole training set
    "learning_rate": dict(gt=0, le=10),
    "weight_decay": dict(ge=0, le=1),
    "ema": dict(ge=0, lt=1),
    "warmup_epochs": dict(ge=0),
    "label_smoothing": dict(ge=0, lt=1),
    "shift": dict(ge=0, le=14),  # half the image
    "erasing": dict(ge=0, le=1),
    "photo_style": dict(ge=0, le=1),
    "tta": dict(ge=0, le=2),
    "val_fraction": dict(ge=0, lt=1),
    "patience": dict(ge=0),
    "gap_threshold": dict(ge=0, le=1),
    "seed": dict(ge=0, le=2**32 - 1),  # NumPy's and TensorFlow's seed range
}


def _check_name(config: TrainConfig) -> None:
    name = config.name
    if name is not None and (not name or name in (".", "..") or set(name) & set("/\\\0")):
        raise ConfigError(f"name: {name!r} must be a plain folder name (no / or ..)")


@cache
def _validator():
    """A strict pydantic model of TrainConfig's fields ("3" is not 3, 1 is not true; an int
    is a float; unknown keys are errors), built on first use: importing pydantic costs a
    tenth of a second that the commands which never read a config should not pay."""
    import pydantic

    hints = typing.get_type_hints(TrainConfig)
    for key, choices in CHOICES.items():
        hints[key] = typing.Literal[choices]
    for key, bounds in BOUNDS.items():
        finite = {"allow_inf_nan": False} if hints[key] is float else {}
        hints[key] = typing.Annotated[hints[key], pydantic.Field(**bounds, **finite)]
    for key, hint in hints.items():
        if hint is float:
            hints[key] = typing.Annotated[float, pydantic.Field(allow_inf_nan=False)]
    fields = {
        f.name: (
            hints[f.name],
            pydantic.Field(default_factory=f.default_factory)
            if f.default is dataclasses.MISSING
            else f.default,
        )
        for f in dataclasses.fields(TrainConfig)
    }
    strict = pydantic.ConfigDict(strict=True, extra="forbid")
    return pydantic.create_model("TrainConfig", __config__=strict, **fields)


def make_config(values: dict) -> TrainConfig:
    """A TrainConfig from a dict, refusing unknown keys and wrong types, then values out of
    their range or not among their choices."""
    import pydantic

    try:
        checked = _validator()(**with_tta_level(values))
    except pydantic.ValidationError as error:
        raise ConfigError(describe_validation_error(error.errors())) from None
    values = dict(checked)
    if float(values["epochs"]).is_integer():  # whole epochs read 8, not 8.0, in every record
        values["epochs"] = int(values["epochs"])
    config = TrainConfig(**values)
    _check_name(config)
    return config


def stored_config(values: dict) -> TrainConfig:
    """A run folder's config (its record's "config"), as `make_config` reads it, with the
    keys of older versions that this one no longer has left out."""
    known = {f.name for f in dataclasses.fields(TrainConfig)} | {"shift_tta"}
    return make_config({k: v for k, v in values.items() if k in known})


def with_tta_level(values: dict) -> dict:
    """Configs written before `tta` was a level (`tta = true`, `shift_tta = true`) read as
    the level they meant."""
    if not isinstance(values.get("tta"), bool) and "shift_tta" not in values:
        return values
    from fmnist.inference.answers import tta_level

    if values.get("shift_tta") and not values.get("tta"):
        raise ConfigError("shift_tta: averages shifted views with the flipped ones; set tta too")
    upgraded = {k: v for k, v in values.items() if k != "shift_tta"}
    return {**upgraded, "tta": tta_level(values)}


def describe_validation_error(
    problems: list[dict], known=None, choices: dict | None = None, noun: str = "config key"
) -> str:
    """One line naming the key: an unknown one, a value of the wrong type, outside its
    choices or its range, or not finite. `known` and `choices` default to TrainConfig's."""
    known = known or [f.name for f in dataclasses.fields(TrainConfig)]
    choices = CHOICES if choices is None else choices
    unknown = [p for p in problems if p["type"] == "extra_forbidden"]
    problem = (unknown or problems)[0]
    key = ".".join(map(str, problem["loc"]))
    if unknown:
        return f"unknown {noun} {key!r}; known keys: {', '.join(known)}"
    got, kind, limit = problem["input"], problem["type"], problem.get("ctx", {})
    if kind == "literal_error":
        return f"{key}: {got!r} is not one of {', '.join(choices[key])}"
    if kind == "finite_number":
        return f"{key}: must be a finite number, got {got!r}"
    if kind in RANGE_WORDS:
        words, bound = RANGE_WORDS[kind], next(iter(limit.values()))
        return f"{key}: must be {words} {bound}, got {got!r}"
    expected = problem["msg"].removeprefix("Input should be ")
    return f"{key}: expected {expected}, got {got!r}"


RANGE_WORDS = {
    "greater_than_equal": "at least",
    "greater_than": "above",
    "less_than_equal": "at most",
    "less_than": "below",
}


def load_config_file(path: Path | str) -> dict:
    """Key-value pairs from a .toml, .yaml/.yml or .json file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    try:
        if path.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            values = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text) or {}
        elif path.suffix == ".json":
            values = json.loads(text)
        else:
            raise ConfigError(f"{path}: unknown config format; use .toml, .yaml or .json")
    except ConfigError:
        raise
    except Exception as error:  # each parser has its own error type
        raise ConfigError(f"{path}: not valid {path.suffix[1:].upper()}: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a table of keys and values")
    return values


def resolve_config(path: Path | str | None = None, **flags) -> TrainConfig:
    """Defaults < the model's recipe < the file at `path` < flags that are not None."""
    from fmnist.training.models import get_spec

    from_file = load_config_file(path) if path else {}
    from_flags = {key: value for key, value in flags.items() if value is not None}
    model = from_flags.get("model") or from_file.get("model") or TrainConfig.model
    recipe = get_spec(model).recipe
    return make_config({**recipe, **from_file, **from_flags, "model": model})
