"""The whole workflow in one call: data, exploration, training, evaluation, model files,
sample predictions and the HTML report, all in one run folder.

    >>> run_dir = run_pipeline(resolve_config(model="lean_cnn"), formats=("keras", "h5", "pkl"))

What each stage found goes into the run folder's pipeline record, so `fmnist report
RUN_DIR` can rebuild the report from the folder alone.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fmnist.artifacts import convert, verify_models
from fmnist.data.dataset import Dataset, load_dataset, locate
from fmnist.data.download import download, verify_folder
from fmnist.data.explore import write_exploration
from fmnist.data.photo_download import PhotoDownloadError, find_photos
from fmnist.errors import DataError, FmnistError
from fmnist.evaluation.evaluate import evaluate_run
from fmnist.machine import describe_machine
from fmnist.predict.figures import save_answer_figures
from fmnist.predict.predictor import Predictor, answer_test_images, pick_test_indices
from fmnist.reports.report import write_report
from fmnist.run_folder import RunFolder
from fmnist.tracking.mlflow_runs import end_tracking, finish_tracking
from fmnist.training.config import TrainConfig
from fmnist.training.photo_learning import learn_photos_if_asked
from fmnist.training.train import create_run_dir, train

FORMATS = ("keras", "h5", "pkl")
SAMPLE_PREDICTIONS = 15


def data_checks(config: TrainConfig) -> tuple[Path, list[dict]]:
    """Locate (or download) the four files and check each one's MD5."""
    try:
        _, folder = locate(config.data_dir)
    except DataError:
        folder = download()
    checks = verify_folder(folder)
    bad = [c for c in checks if not c.ok]
    if bad:
        raise DataError(f"{bad[0].path or folder / bad[0].name}: {bad[0].problem}")
    return folder, [{"file": c.name, "md5": c.md5, "ok": c.ok} for c in checks]


def check_formats(formats) -> tuple[str, ...]:
    """The formats to save, refused before any work when one is unknown or none is given."""
    formats = tuple(formats)
    unknown = [name for name in formats if name not in FORMATS]
    if unknown or not formats:
        what = f"unknown format {unknown[0]!r}" if unknown else "no format given"
        raise FmnistError(
            f"--formats: {what}; choose from {', '.join(FORMATS)} (exports such as onnx: "
            "fmnist export, after the run)"
        )
    return formats


def save_formats(run: RunFolder, formats, images: np.ndarray) -> list[dict]:
    """The model in each format, each reloaded and compared with the kept Keras model."""
    source, saved = run.model_path, []
    for name in check_formats(formats):
        if name == "keras":
            path, check = source, verify_models(source, None, images)  # its reloaded copy
        else:
            path = convert(source, run.model_format_path(name))
            check = verify_models(source, path, images, trust=True)  # pkl: we just wrote it
        saved.append({"file": path.name, "bytes": path.stat().st_size, **check})
    return saved


def sample_predictions(run: RunFolder, data: Dataset, seed: int) -> list[dict]:
    predictor = Predictor.load(run.model_path)
    indices = pick_test_indices(len(data.test_labels), random_count=SAMPLE_PREDICTIONS, seed=seed)
    answers = answer_test_images(predictor, data, indices)
    save_answer_figures(answers, predictor.class_names, run.predictions, per_image=3)
    return [a.to_dict(predictor.class_names) for a in answers]


def photos_to_learn(config: TrainConfig, wanted: bool = True, echo: Callable = print):
    """The config with the labelled photos the run learns: `--photos` as given; else, when
    `wanted`, the photo set found ($FMNIST_PHOTOS_DIR, the cache) or downloaded
    (`fmnist.data.photo_download`). Where none can be had, one line says so and the run
    goes on with Fashion-MNIST alone."""
    if not wanted:
        return dataclasses.replace(config, photos=None)
    if config.photos:
        return config
    try:
        folder = find_photos()
    except PhotoDownloadError as error:
        echo(
            f"[photos] not taught photos: {error}. Its model answers people's photos "
            "less well; fmnist data photos download fetches them (--no-photos: skip this)"
        )
        return config
    return dataclasses.replace(config, photos=str(folder))


def run_pipeline(
    config: TrainConfig, formats=FORMATS, echo: Callable = print, photos: bool = True
) -> Path:
    """Every stage, in order, into one run folder; returns it. With `photos`, the run
    learns the photo set too where none is named (`photos_to_learn`)."""
    formats = check_formats(formats)  # before minutes of training, not after
    started, timings = time.perf_counter(), {}

    def stage(name: str, since: float, detail: str = "") -> float:
        timings[name] = round(time.perf_counter() - since, 2)
        echo(f"[{name}] done in {timings[name]:.1f} s{detail}")
        return time.perf_counter()

    t = time.perf_counter()
    folder, checks = data_checks(config)
    data = load_dataset("folder", folder)
    config = photos_to_learn(config, photos, echo)
    t = stage("data", t, f"; photos to learn: {config.photos}" if config.photos else "")
    run = RunFolder(create_run_dir(config))
    current = "explore"
    try:
        write_exploration(data, run.explore, seed=config.seed)
        t = stage("explore", t)
        current = "train"
        train(config, data, run_dir=run.path)
        epochs_s = run.read_state().train_seconds  # the figure the report and summary give
        t = stage(
            "train",
            t,
            f" ({epochs_s:.1f} s of it in the epochs, the rest building, "
            "checking and saving the model)",
        )
        if config.photos:
            current = "photos"
            learn_photos_if_asked(run.path, data, echo)
            t = stage("photos", t)
        current = "evaluate"
        evaluate_run(run.path, data)
        t = stage("evaluate", t)
        current = "save and verify"
        saved = save_formats(run, formats, data.test_images)
        t = stage("save and verify", t)
        current = "predict"
        predictions = sample_predictions(run, data, config.seed)
        t = stage("predict", t)
        current = "report"
        record = pipeline_record(folder, checks, saved, predictions, timings)
        run.write_pipeline(record)  # the report reads it
        write_report(run.path)
        stage("report", t)
        timings["total"] = round(time.perf_counter() - started, 2)
        run.write_pipeline(record)  # with the report's own time and the whole total, ...
        write_report(run.path)  # ... which the page shows as well
        finish_tracking(run.path)  # with --mlflow: final metrics, model and report
    except BaseException as error:
        state = run.record_failure(current, error)
        end_tracking(run.path, "KILLED" if state.status == "interrupted" else "FAILED")
        raise
    return run.path


def pipeline_record(folder, checks, saved, predictions, timings) -> dict:
    """What each stage found: the data's checks, the saved formats, the sample predictions,
    each stage's time (the same dict, so later stages add theirs), the machine."""
    return {
        "data": {"folder": str(folder), "files": checks},
        "saved": saved,
        "predictions": predictions,
        "timings_s": timings,
        "environment": describe_machine(),
    }


def format_pipeline_summary(run_dir: Path | str) -> str:
    """The saved model files with their sizes and reload verdicts, and where the report is."""
    run = RunFolder(run_dir)
    record = run.read_pipeline()
    lines = [
        f"  {saved['file']:<12} {saved['bytes']:>12,} bytes  "
        + ("reload OK" if saved["ok"] else "reload FAILED")
        for saved in record.get("saved", [])
    ]
    total = record.get("timings_s", {}).get("total", 0.0)
    return "\n".join([*lines, f"Report: {run.report_path}  (total {total:.0f}s)"])
