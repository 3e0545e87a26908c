"""The run folder's names: every file a run, its exploration, its predictions and a sweep
folder hold, and the one place each is read and written, typed (`records`).

    >>> import tempfile
    >>> run = RunFolder.create(tempfile.mkdtemp(), "lean_cnn")
    >>> run.write_state(RunState(status="finished", epochs_done=7))
    >>> run.read_state().status, run.read_metrics().evaluation
    ('finished', {})

Every write is atomic (`fmnist.run_folder.atomic`); the temporary files a kill leaves behind
are removed by `remove_leftovers`. TensorFlow-free, so `fmnist runs` and `fmnist report`
start in a moment.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import pydantic

from fmnist.errors import FmnistError, describe_os_error
from fmnist.run_folder.atomic import atomic_open, write_json
from fmnist.run_folder.records import (
    Metrics,
    Photos,
    Pipeline,
    Record,
    RunState,
    Shape,
    Tracking,
    Versions,
)

STATUSES = ("running", "interrupted", "failed", "diverged", "finished")

# What `fmnist explore` writes into its folder (a run's explore/): statistics and figures.
EXPLORE_STATS = "stats.json"
EXPLORATION_FIGURES = {  # file stem -> what it shows (the report's words for it)
    "first_images": "The first training images",
    "class_samples": "Samples of each class",
    "class_distribution": "Class distribution",
    "class_means": "Mean image of each class",
    "pixel_histogram": "Pixel histogram",
    "embedding": "2-D embedding",
}
EVALUATION_TABLES = ("confusion_matrix", "confusion_matrix_normalized", "per_class")  # CSV
EVALUATION_FIGURES = ("confusion_matrix", "misclassified", "reliability")  # PNG, in plots/
PREDICTION_FIGURES = ("28x28", "prediction", "bars", "explain")  # <image>_<kind>.png
PREDICTION_GRID = "grid.png"  # every answer with a known class, blue right and red wrong


def exploration_paths(folder: Path | str) -> tuple[Path, dict[str, Path]]:
    """An exploration folder's statistics file and its figures by stem."""
    folder = Path(folder)
    return folder / EXPLORE_STATS, {s: folder / f"{s}.png" for s in EXPLORATION_FIGURES}


def prediction_path(folder: Path | str, stem: str, kind: str) -> Path:
    """Where a figure of one answer goes: `<folder>/<stem>_<kind>.png`."""
    if kind not in PREDICTION_FIGURES:
        raise ValueError(f"{kind!r} is not one of {', '.join(PREDICTION_FIGURES)}")
    return Path(folder) / f"{stem}_{kind}.png"


def prediction_figures(folder: Path | str, kind: str) -> list[Path]:
    """The figures of one kind in a predictions folder, by name."""
    return sorted(Path(folder).glob(f"*_{kind}.png"))


class RunFolder:
    """A run folder's paths and files. Holds no state of its own beyond its path."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # -- the names: nowhere else in fmnist -------------------------------------------
    config_path = property(lambda self: self.path / "config.json")
    state_path = property(lambda self: self.path / "state.json")
    history_path = property(lambda self: self.path / "history.csv")
    metrics_path = property(lambda self: self.path / "metrics.json")
    model_path = property(lambda self: self.path / "model.keras")
    pipeline_path = property(lambda self: self.path / "pipeline.json")
    photos_path = property(lambda self: self.path / "photos.json")  # what photo learning did
    report_path = property(lambda self: self.path / "report.html")
    mlflow_path = property(lambda self: self.path / "mlflow.json")  # its MLflow run, if tracked
    versions_path = property(lambda self: self.path / "versions.json")  # the model's versions
    plots = property(lambda self: self.path / "plots")
    curves_path = property(lambda self: self.path / "plots" / "training_curves.png")
    photos_figure = property(lambda self: self.path / "plots" / "photos_held_out.png")
    photos_curve = property(lambda self: self.path / "plots" / "photos_risk_coverage.png")
    checkpoints = property(lambda self: self.path / "checkpoints")
    explore = property(lambda self: self.path / "explore")
    predictions = property(lambda self: self.path / "predictions")
    tensorboard = property(lambda self: self.path / "tensorboard")

    def version_path(self, version: int) -> Path:
        """A kept version of the model (`fmnist adapt` makes new ones)."""
        return self.path / "versions" / f"v{version}.keras"

    def version_figure(self, version: int) -> Path:
        """The photos a version got wrong before and right after."""
        return self.path / "versions" / f"v{version}-fixed.png"

    def checkpoint_path(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch-{epoch:04d}.keras"

    def evaluation_path(self, split: str, tta: bool) -> Path:
        """Where `fmnist evaluate` writes unless told to update the run's own record."""
        return self.path / "evaluations" / f"{split}-{'tta' if tta else 'plain'}"

    def examples_path(self, split: str) -> Path:
        """The images behind the confusion matrix's cells (evaluate writes, report shows)."""
        return self.path / f"examples_{split}.npz"

    def evaluation_table(self, kind: str, split: str) -> Path:
        """An evaluation's CSV (one of EVALUATION_TABLES) for `split`."""
        assert kind in EVALUATION_TABLES, kind
        return self.path / f"{kind}_{split}.csv"

    def evaluation_figure(self, kind: str, split: str) -> Path:
        """An evaluation's figure (one of EVALUATION_FIGURES) for `split`."""
        assert kind in EVALUATION_FIGURES, kind
        return self.plots / f"{kind}_{split}.png"

    @property
    def exploration(self) -> tuple[Path, dict[str, Path]]:
        return exploration_paths(self.explore)

    def model_format_path(self, extension: str) -> Path:
        return self.path / f"model.{extension}"

    # -- what a folder is ---------------------------------------------------------------
    @property
    def is_run(self) -> bool:
        return self.config_path.is_file()

    @classmethod
    def create(cls, runs_dir: Path | str, name: str) -> RunFolder:
        """A new, empty run folder `<runs_dir>/<YYYYmmdd-HHMMSS>-<name>` (suffixed if taken)."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path(runs_dir) / f"{stamp}-{name}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        run = cls(path)
        run.plots.mkdir(parents=True)
        return run

    # -- reading and writing: typed (fmnist.run_folder.records) ---------------------------
    def read_record(self) -> Record:
        """config.json: the config, the versions, when, the command."""
        return read_shape(self.config_path, Record) or Record()

    def read_config_values(self) -> dict:
        return self.read_record().config

    def write_record(self, record: Record | dict) -> None:
        write_json(self.config_path, as_shape(record, Record).to_dict())

    def read_state(self) -> RunState:
        return read_shape(self.state_path, RunState) or RunState(status="unknown")

    def write_state(self, state: RunState) -> None:
        """Write the state; a running one names this process and host (`live_status`)."""
        state.mark_running(state.status == "running")
        write_json(self.state_path, state.to_dict())

    def read_metrics(self) -> Metrics:
        return read_shape(self.metrics_path, Metrics) or Metrics()

    def write_metrics(self, metrics: Metrics | dict) -> None:
        write_json(self.metrics_path, as_shape(metrics, Metrics).to_dict())

    def read_photos(self) -> Photos | None:
        """What photo learning did, or None for a run that learned no photos."""
        return read_shape(self.photos_path, Photos)

    def write_photos(self, photos: Photos | dict) -> None:
        write_json(self.photos_path, as_shape(photos, Photos).to_dict())

    def read_versions(self) -> Versions:
        return read_shape(self.versions_path, Versions) or Versions()

    def write_versions(self, versions: Versions) -> None:
        write_json(self.versions_path, versions.to_dict())

    def read_tracking(self) -> Tracking | None:
        """The MLflow run this run logs into, or None for an untracked run."""
        return read_shape(self.mlflow_path, Tracking)

    def write_tracking(self, tracking: Tracking) -> None:
        write_json(self.mlflow_path, tracking.to_dict())

    def read_pipeline(self) -> Pipeline:
        return read_shape(self.pipeline_path, Pipeline) or Pipeline()

    def write_pipeline(self, record: Pipeline | dict) -> None:
        write_json(self.pipeline_path, as_shape(record, Pipeline).to_dict())

    def read_history(self) -> dict[str, list[float]]:
        if not self.history_path.is_file():
            return {}
        with open(self.history_path, newline="") as stream:
            rows = list(csv.DictReader(stream))
        keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
        return {k: [float(row[k]) for row in rows] for k in keys}

    def write_history(self, history: dict[str, list[float]]) -> None:
        """history.csv, one row per epoch, atomically."""
        keys = list(history)
        with atomic_open(self.history_path, newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["epoch", *keys])
            for epoch, row in enumerate(zip(*(history[k] for k in keys), strict=True), start=1):
                writer.writerow([epoch, *(f"{v:.6g}" for v in row)])

    def record_failure(self, stage: str, error: BaseException) -> RunState:
        """Mark the run failed (or interrupted, for Ctrl-C) with the stage and the one-line
        reason, so `fmnist runs` never lists it as finished."""
        state = self.read_state()
        state.stage = stage
        if isinstance(error, KeyboardInterrupt) or getattr(error, "exit_code", None) == 130:
            state.status = "interrupted"
        else:
            reason = describe_os_error(error) if isinstance(error, OSError) else str(error)
            state.status, state.error = "failed", reason or type(error).__name__
        try:
            self.write_state(state)
        except OSError:
            pass  # the folder itself cannot be written: the error being raised says why
        return state

    def remove_leftovers(self) -> list[Path]:
        """Delete the temporary files a killed save leaves behind (`.NAME.tmp`,
        `.NAME.PID.tmp.keras`: every atomic write here makes one, then renames it)."""
        leftovers = [p for p in self.path.rglob(".*.tmp*") if p.is_file()]
        for path in leftovers:
            path.unlink(missing_ok=True)
        return leftovers


def as_shape(value, shape: type[Shape]):
    """A record as its shape: a dict is checked and typed on its way to the file."""
    return shape.model_validate(value) if isinstance(value, dict) else value


def read_shape(path: Path, shape: type[Shape]):
    """A record file as its shape; None when it is missing or not JSON (a run still being
    written); a file of another shape is refused in one line naming it."""
    try:
        values = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    try:
        return shape.model_validate(values)
    except pydantic.ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(map(str, problem["loc"])) or "the file"
        raise FmnistError(
            f"{path}: {where}: {problem['msg'].lower()}; not a record this fmnist reads "
            "(written by another version, or edited?)"
        ) from None


def list_runs(runs_dir: Path | str, sweeps: bool = False) -> list[RunFolder]:
    """The run folders directly inside `runs_dir`, by name; with `sweeps`, the trials of
    the sweep folders there too."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FmnistError(
            f"{runs_dir}: no such runs folder here; name yours with --runs-dir DIR (runs are "
            "made by fmnist train or fmnist run, in ./runs by default)"
        )
    folders = sorted(runs_dir.iterdir())
    if sweeps:
        folders += [t for f in folders if SweepFolder(f).spec_path.is_file()
                    for t in sorted(f.glob(f"{TRIAL_PREFIX}*"))]  # fmt: skip
    return [RunFolder(f) for f in folders if RunFolder(f).is_run]


def resolve_model_path(path: Path | str) -> tuple[Path, RunFolder | None]:
    """A run folder (its model.keras) or a model file -> (model file, its run or None).

    The one answer to "is this a run folder or a model file?" for every command; a folder
    of runs, or a folder without a model, is a one-line error naming what to give instead.
    """
    path = Path(path)
    if not path.exists():
        raise FmnistError(f"{path}: no such file or folder")
    if path.is_file():
        run = RunFolder(path.parent)
        return path, run if run.is_run and path == run.model_path else None
    run = RunFolder(path)
    if run.model_path.is_file():
        return run.model_path, run
    inside = [r for r in (RunFolder(f) for f in sorted(path.iterdir())) if r.model_path.is_file()]
    if inside:
        raise FmnistError(
            f"{path}: a folder of runs, not a run folder; name one of its {len(inside)}, "
            f"e.g. {inside[-1].path}"
        )
    raise FmnistError(f"{path}: no model.keras here; give a run folder or a model file")


TRIAL_PREFIX = "trial-"


class SweepFolder:
    """A sweep folder's paths: what `fmnist sweep` writes beside its trials' run folders."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    spec_path = property(lambda self: self.path / "sweep.json")  # the sweep, as run
    summary_path = property(lambda self: self.path / "summary.json")
    ray_dir = property(lambda self: self.path / "ray")  # Ray Tune's experiment
    leaderboard_path = property(lambda self: self.path / "leaderboard.csv")
    best_config_path = property(lambda self: self.path / "best.toml")
    parameters_figure = property(lambda self: self.path / "parameters.png")

    def trial_path(self, trial_id: str) -> Path:
        """A trial's run folder: named after Ray Tune's trial id, so a restore finds it."""
        return self.path / f"{TRIAL_PREFIX}{trial_id}"

    @staticmethod
    def trial_id(run_path: Path) -> str:
        return Path(run_path).name.removeprefix(TRIAL_PREFIX)
