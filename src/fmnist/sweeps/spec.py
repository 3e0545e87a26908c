"""The sweep file: which recipe, which search space, which metric, what budget.

    >>> spec = load_sweep("examples/sweep.toml")  # doctest: +SKIP
    >>> spec.model, spec.trials, spec.space["learning_rate"]  # doctest: +SKIP

A TOML (or YAML/JSON) file, checked strictly before anything starts, every error one line
naming the key:

    model = "mlp"
    trials = 2            # samples of the space
    epochs = 1            # per trial (ASHA may stop a trial sooner)
    [config]              # fixed TrainConfig values for every trial
    batch_size = 128
    [space]               # TrainConfig fields, or model_args.NAME for the model's builder
    learning_rate = { loguniform = [0.0005, 0.005] }
    dropout = { uniform = [0.1, 0.5] }
    batch_size = { choice = [128, 256] }

Ray-free and TensorFlow-free: the sweep command checks the file before it starts Ray.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from fmnist.training.config import (
    ConfigError,
    TrainConfig,
    describe_validation_error,
    load_config_file,
    resolve_config,
)

DISTRIBUTIONS = ("choice", "grid", "uniform", "loguniform", "randint")
METRICS = {"val_accuracy": "max", "val_loss": "min"}  # never the test set
# Set by the sweep itself: a trial's epochs, where it runs and which data it reads.
RESERVED = ("epochs", "runs_dir", "name", "data_dir", "model")


@dataclass(frozen=True)
class Distribution:
    kind: str  # one of DISTRIBUTIONS
    values: tuple  # choice/grid: the values; ranges: (low, high)


# The ranges of a sweep file's numbers (types come from SweepSpec's own hints).
SPEC_BOUNDS = {
    "trials": dict(ge=1),
    "epochs": dict(gt=0),
    "time_limit_s": dict(gt=0),
    "grace_period": dict(ge=1),
    "reduction_factor": dict(ge=2),
    "max_concurrent": dict(ge=1),
    "cpus_per_trial": dict(gt=0),
    "gpus_per_trial": dict(ge=0),
    "seed": dict(ge=0, le=2**32 - 1),
}


@dataclass(frozen=True)
class SweepSpec:
    model: str  # a name from `fmnist models`: the recipe every trial starts from
    trials: int = 4  # samples of the space (with grid values: samples of each grid point)
    epochs: float = 3  # per trial (a fraction ends the last early); ASHA may stop one sooner
    metric: str = "val_accuracy"  # val_accuracy (max) or val_loss (min): validation only
    time_limit_s: float | None = None  # the whole sweep's budget; None: no limit
    grace_period: int = 1  # ASHA: epochs every trial gets before it may be stopped
    reduction_factor: int = 2  # ASHA: keep the best 1/reduction_factor at each rung
    max_concurrent: int | None = None  # trials at once; None: as many as the CPUs allow
    cpus_per_trial: float = 1.0  # one trial per core by default
    gpus_per_trial: float = 0.0  # fractions share a GPU
    seed: int = 0  # seeds the sampling of the space
    config: dict = field(default_factory=dict)  # fixed TrainConfig values for every trial
    space: dict = field(default_factory=dict)  # key -> Distribution

    @property
    def mode(self) -> str:
        return METRICS[self.metric]


def check_distribution(key: str, value) -> Distribution:
    where = f"space.{key}"
    if not isinstance(value, dict) or len(value) != 1:
        raise ConfigError(f"{where}: expected one of {{ {' | '.join(DISTRIBUTIONS)} = [...] }}")
    ((kind, values),) = value.items()
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"{where}: unknown distribution {kind!r}; use {', '.join(DISTRIBUTIONS)}")
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}.{kind}: expected a non-empty list")
    if kind in ("choice", "grid"):
        return Distribution(kind, tuple(values))
    if len(values) != 2 or not all(isinstance(v, int | float) for v in values):
        raise ConfigError(f"{where}.{kind}: expected [low, high], got {values!r}")
    low, high = values
    if not low < high:
        raise ConfigError(f"{where}.{kind}: empty range [{low}, {high}] (low must be below high)")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{where}.loguniform: the range must be positive, got {low}")
    return Distribution(kind, (low, high))


def flatten_space(space: dict) -> dict:
    """TOML reads `model_args.width = {...}` as a nested table: back to "model_args.width"."""
    flat = dict(space)
    nested = flat.pop("model_args", None)
    if isinstance(nested, dict):
        flat.update({f"model_args.{name}": value for name, value in nested.items()})
    elif nested is not None:
        flat["model_args"] = nested  # refused by the key check below
    return flat


def check_space_key(key: str, model: str) -> None:
    """A TrainConfig field, or model_args.NAME where NAME is an argument of the builder."""
    from fmnist.training.models import get_spec

    if key.startswith("model_args."):
        name = key.removeprefix("model_args.")
        arguments = inspect.signature(get_spec(model).build).parameters
        if name not in arguments:
            known = ", ".join(arguments) or "none"
            raise ConfigError(f"space.{key}: {model} has no argument {name!r} (it has: {known})")
        return
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    if key in RESERVED or key not in fields:
        hint = "set by the sweep" if key in RESERVED else "not a TrainConfig field"
        raise ConfigError(f"space.{key}: {hint}; sweep TrainConfig fields or model_args.NAME")


def check_metric(metric) -> str:
    if metric not in METRICS:
        why = " (the test set never chooses a model)" if "test" in str(metric) else ""
        raise ConfigError(f"metric: {metric!r} is not one of {', '.join(METRICS)}{why}")
    return metric


@cache
def _spec_validator():
    """A strict pydantic model of SweepSpec's fields and SPEC_BOUNDS (built on first use)."""
    import pydantic

    hints = typing.get_type_hints(SweepSpec)
    fields = {}
    for f in dataclasses.fields(SweepSpec):
        hint = hints[f.name]
        constraints = dict(SPEC_BOUNDS.get(f.name, {}))
        if float in typing.get_args(hint) or hint is float:
            constraints["allow_inf_nan"] = False
        if constraints:
            hint = typing.Annotated[hint, pydantic.Field(**constraints)]
        if f.default is not dataclasses.MISSING:
            fields[f.name] = (hint, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (hint, pydantic.Field(default_factory=f.default_factory))
        else:
            fields[f.name] = (hint, ...)  # required: the model
    strict = pydantic.ConfigDict(strict=True, extra="forbid")
    return pydantic.create_model("SweepSpec", __config__=strict, **fields)


def check_spec_types(values: dict, source: str) -> SweepSpec:
    """The file's values as a SweepSpec, every type and range checked; one-line errors."""
    import pydantic

    try:
        checked = _spec_validator()(**values)
    except pydantic.ValidationError as error:
        known = sorted(f.name for f in dataclasses.fields(SweepSpec))
        problems = error.errors()
        message = describe_validation_error(problems, known, {}, noun="key")
        unknown = problems[0]["type"] == "extra_forbidden"
        raise ConfigError(f"{source}: {message}" if unknown else message) from None
    return SweepSpec(**{f.name: getattr(checked, f.name) for f in dataclasses.fields(SweepSpec)})


def parse_sweep(values: dict, source: str = "sweep file") -> SweepSpec:
    """A checked SweepSpec from the file's values."""
    if "model" not in values:
        raise ConfigError(f"{source}: model: missing (the recipe every trial starts from)")
    spec = check_spec_types(values, source)
    check_metric(spec.metric)
    space = flatten_space(spec.space)
    space = {key: check_distribution(key, value) for key, value in space.items()}
    for key in space:
        check_space_key(key, spec.model)
    for key in spec.config:
        if key in RESERVED:
            raise ConfigError(f"config.{key}: set by the sweep, not per trial")
    check_space_values(spec, space)
    return dataclasses.replace(spec, space=space)


def check_space_values(spec: SweepSpec, space: dict) -> None:
    """Every value the space can give, each as a trial's config would hold it, before Ray
    starts: a grid or choice value of the wrong type, or a range end out of the config's
    bounds, is one line naming the key and the value."""
    firsts = {key: first_value(d) for key, d in space.items()}
    trial_config(spec, firsts, "runs")  # the fixed config, with the space's first values
    for key, distribution in space.items():
        for value in possible_values(distribution):
            try:
                config = trial_config(spec, {**firsts, key: value}, "runs")
                if key.startswith("model_args."):  # the builder takes it: build the model
                    build_model(config)
            except ConfigError as error:
                raise ConfigError(f"space.{key} = {value!r}: {error}") from None


def build_model(config: TrainConfig) -> None:
    """The trial's model built, as a trial builds it first; a refusal is a ConfigError."""
    from fmnist.errors import one_line
    from fmnist.training.models import create_model

    try:
        create_model(config.model, **config.model_args)
    except Exception as error:  # a builder refuses an argument in its own words
        raise ConfigError(one_line(error)) from None


def possible_values(distribution: Distribution) -> tuple:
    """The values to check: every choice or grid value, a range's two ends."""
    if distribution.kind in ("choice", "grid"):
        return distribution.values
    low, high = distribution.values
    kind = int if distribution.kind == "randint" else float  # randint: both ends included
    return kind(low), kind(high)


def first_value(distribution: Distribution):
    """A value the distribution can take, of the type it samples (a range samples floats,
    randint whole numbers): what the file check builds a trial config with."""
    low = distribution.values[0]
    if distribution.kind in ("uniform", "loguniform"):
        return float(low)
    return int(low) if distribution.kind == "randint" else low


def trial_config(spec: SweepSpec, params: dict, runs_dir: str, data_dir=None, name=None):
    """The TrainConfig of one trial: the recipe, the fixed config, the sampled values."""
    values = dict(spec.config)
    model_args = dict(values.pop("model_args", {}))
    for key, value in params.items():
        if key.startswith("model_args."):
            model_args[key.removeprefix("model_args.")] = value
        else:
            values[key] = value
    config = resolve_config(
        model=spec.model, epochs=spec.epochs, runs_dir=runs_dir, name=name, data_dir=data_dir
    )
    merged = {**dataclasses.asdict(config), **values}
    merged["model_args"] = {**config.model_args, **model_args}
    from fmnist.training.config import make_config

    return make_config(merged)


def load_sweep(path: Path | str) -> SweepSpec:
    """Read and check a sweep file."""
    spec = parse_sweep(load_config_file(path), str(path))
    if not spec.space:
        raise ConfigError(
            f"{path}: space: empty, so every trial would train the same config with the same "
            "seed; name a key to search, or train one config N times with different seeds: "
            "fmnist sweep --repeat N"
        )
    return spec


def load_repeat(path: Path | str) -> SweepSpec:
    """What `fmnist sweep --repeat N` trains N times: a sweep file without a space, or a
    training config file (the best config a sweep writes, say)."""
    values = load_config_file(path)
    if "space" in values or "trials" in values:
        spec = parse_sweep(values, str(path))
        if spec.space:
            raise ConfigError(f"{path}: space: --repeat trains one config; remove the space")
        return spec
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(f"{path}: unknown config key {unknown[0]!r}")
    model = values.get("model", TrainConfig.model)
    epochs = values.get("epochs") or resolve_config(model=model).epochs
    fixed = {k: v for k, v in values.items() if k not in RESERVED}
    return parse_sweep({"model": model, "epochs": epochs, "config": fixed}, str(path))


def config_toml(config: TrainConfig, chosen_at: float | None = None) -> str:
    """A TrainConfig as a TOML file for `fmnist train --config`, without where it ran (TOML
    has no null: unset values are left out, as their defaults then apply). `chosen_at`: the
    epochs a sweep's trials had; the file then trains the recipe's own epochs, and says so."""
    import tomli_w

    def present(values: dict) -> dict:
        return {
            k: present(v) if isinstance(v, dict) else v for k, v in values.items() if v is not None
        }

    values = {
        k: v
        for k, v in present(dataclasses.asdict(config)).items()
        if k not in ("runs_dir", "name", "data_dir")
    }
    header = "# The best trial of a sweep: fmnist train --config THIS_FILE\n"
    if chosen_at is not None:
        values["epochs"] = resolve_config(model=config.model).epochs
        header = (
            f"# The best trial of a sweep, chosen at {chosen_at:g} epochs a trial; this file "
            f"trains the recipe's {values['epochs']:g}: fmnist train --config THIS_FILE\n"
        )
    return header + tomli_w.dumps(values)
