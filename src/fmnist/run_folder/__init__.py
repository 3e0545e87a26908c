"""The run folder, typed: its file names, the shapes of its records, and the one atomic
write. A run is data: `Run.load(path)` reads every record once, and each stage reads the
fields it needs.

    >>> run = Run.load("runs/20261206-132439-lean_cnn")                   # doctest: +SKIP
    >>> run.metrics.split("test").accuracy, run.photos.after.overall.top1  # doctest: +SKIP

- `paths`: every file name (`RunFolder`, `SweepFolder`), and where a model or a run is.
- `records`: what each JSON file holds, as pydantic models.
- `atomic`: writes that leave a file as it was or as it was meant to be.
"""

from fmnist.run_folder import records
from fmnist.run_folder.atomic import (
    atomic_open,
    atomic_path,
    atomic_paths,
    process_alive,
    read_json_or_empty,
    remove_stale_temporaries,
    temporary_for,
    write_json,
)
from fmnist.run_folder.paths import (
    EVALUATION_FIGURES,
    EVALUATION_TABLES,
    EXPLORATION_FIGURES,
    EXPLORE_STATS,
    PREDICTION_FIGURES,
    PREDICTION_GRID,
    STATUSES,
    TRIAL_PREFIX,
    RunFolder,
    SweepFolder,
    exploration_paths,
    list_runs,
    prediction_figures,
    prediction_path,
    resolve_model_path,
)
from fmnist.run_folder.records import (
    Curves,
    Evaluation,
    FolderScore,
    Metrics,
    ModelVersion,
    PhotoChange,
    Photos,
    PhotoScores,
    Pipeline,
    Record,
    RunState,
    SavedFile,
    Tracking,
    Versions,
)
from fmnist.run_folder.run import Run

__all__ = [
    "EVALUATION_FIGURES",
    "EVALUATION_TABLES",
    "EXPLORATION_FIGURES",
    "EXPLORE_STATS",
    "PREDICTION_FIGURES",
    "PREDICTION_GRID",
    "STATUSES",
    "TRIAL_PREFIX",
    "Curves",
    "Evaluation",
    "FolderScore",
    "Metrics",
    "ModelVersion",
    "PhotoChange",
    "PhotoScores",
    "Photos",
    "Pipeline",
    "Record",
    "Run",
    "RunFolder",
    "RunState",
    "SavedFile",
    "SweepFolder",
    "Tracking",
    "Versions",
    "atomic_open",
    "atomic_path",
    "atomic_paths",
    "exploration_paths",
    "list_runs",
    "prediction_figures",
    "prediction_path",
    "process_alive",
    "read_json_or_empty",
    "records",
    "remove_stale_temporaries",
    "resolve_model_path",
    "temporary_for",
    "write_json",
]
