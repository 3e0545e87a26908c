"""One runner of a run's stages: train (or resume), learn photos, evaluate, save the model
files, answer sample images, write the report, finish the MLflow run. `fmnist train`,
`fmnist run` and a sweep's trial each choose their stages from it; none writes the
sequence again.

    >>> run_dir = run_stages(config, TRAIN_STAGES, data)                  # doctest: +SKIP
    >>> run_dir = run_stages("runs/20261206-132439-lean_cnn", TRAIN_STAGES)  # doctest: +SKIP

The stages a run is asked for are recorded in its state before training starts; each
one done is recorded as it ends, and the run is "finished" only once every one is. One
failure rule: a stage that fails (or is interrupted, or killed) is recorded with its
reason, and `fmnist train --resume RUN` goes on from it: training is not redone once its
model is kept. Every stage's time goes into the pipeline record, and a line says it ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fmnist.artifacts import convert, verify_models
from fmnist.data.dataset import Dataset, load_dataset
from fmnist.data.explore import write_exploration
from fmnist.errors import FmnistError
from fmnist.evaluation.evaluate import evaluate_run
from fmnist.machine import describe_machine
from fmnist.predict.figures import save_answer_figures
from fmnist.predict.predictor import Predictor, answer_test_images, pick_test_indices
from fmnist.reports.report import write_report
from fmnist.run_folder import ModelVersion, Pipeline, Run, RunFolder, SavedFile
from fmnist.tracking.mlflow_runs import end_tracking, finish_tracking
from fmnist.training.adapt import ADAPTING, Adapting, adapt
from fmnist.training.config import TrainConfig, make_config
from fmnist.training.photo_learning import learn_photos_if_asked
from fmnist.training.train import check_before_training, create_run_dir, resume, train

STAGES = ("explore", "train", "photos", "evaluate", "save", "samples", "report", "track")
RUN_STAGES = STAGES  # fmnist run: the whole workflow
TRAIN_STAGES = ("train", "photos", "evaluate", "report", "track")  # fmnist train
TRIAL_STAGES = ("train", "evaluate", "report", "track")  # a sweep's trial
FORMATS = ("keras", "h5", "pkl")  # the model files `save` writes and reloads
SAMPLE_PREDICTIONS = 15  # test images the `samples` stage answers and draws


@dataclass
class Options:
    """What the stages take besides the run: its data, where lines go, the files to save,
    the splits to evaluate, callbacks for training (a sweep's reporter)."""

    data: Dataset | None = None
    echo: Callable = print
    formats: tuple = FORMATS
    splits: tuple = ("val", "test")
    callbacks: tuple = ()
    pipeline: Pipeline = field(default_factory=Pipeline)
    run_dir: Path | None = None  # a fresh run's folder (default: a new one in its runs_dir)


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


def run_stages(start: TrainConfig | Path | str, stages=TRAIN_STAGES, **options) -> Path:
    """A run through `stages` (in STAGES' order): a fresh one from a TrainConfig, or the
    stages a run folder has left. Returns the run folder."""
    opts = Options(**options)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stages {unknown}; the stages are {', '.join(STAGES)}")
    check_formats(opts.formats) if "save" in stages else None
    started = time.perf_counter() - sum(opts.pipeline.timings_s.values())  # the data's too
    after = [s for s in STAGES if s in stages and STAGES.index(s) > STAGES.index("train")]
    if isinstance(start, TrainConfig) and not start.photos:
        after = [s for s in after if s != "photos"]  # no photos named: nothing to learn
    if isinstance(start, TrainConfig):
        check_before_training(start)
        data(opts, start)  # a missing or damaged data set leaves no run folder behind
        folder = RunFolder(opts.run_dir or create_run_dir(start))
        if "explore" in stages:
            timed(folder, "explore", opts, lambda: explore(folder, start, opts))
        timed(folder, "train", opts, lambda: fit(folder, start, after, opts))
    else:
        folder = RunFolder(start)
        if not folder.read_state().trained:
            timed(folder, "train", opts, lambda: resume(folder.path, opts.data, opts.callbacks))
    for stage in folder.read_state().stages_left:
        timed(folder, stage, opts, lambda stage=stage: STAGE_WORK[stage](folder, opts))
        done(folder, stage)
        if stage == "report":  # the page again, with its own time and the whole total
            opts.pipeline.timings_s["total"] = round(time.perf_counter() - started, 2)
            write_pipeline(folder, opts)
            run = Run.load(folder)
            write_report(run, run.metrics.diagnosis or None)  # diagnosed once, above
    return folder.path


def timed(folder: RunFolder, stage: str, opts: Options, work: Callable) -> None:
    """Do one stage: its time into the pipeline record and a line; on a failure, the run
    recorded as failed (or interrupted) in this stage, its MLflow run closed."""
    started = time.perf_counter()
    try:
        detail = work() or ""
    except BaseException as error:
        if folder.config_path.is_file() and stage != "train":  # train records its own
            state = folder.record_failure(stage, error)
            end_tracking(folder.path, "KILLED" if state.status == "interrupted" else "FAILED")
        raise
    seconds = round(time.perf_counter() - started, 2)
    opts.pipeline.timings_s[stage] = seconds
    opts.echo(f"[{stage}] done in {seconds:.1f} s{detail}")


def done(folder: RunFolder, stage: str) -> None:
    state = folder.read_state()
    state.stages_done.append(stage)
    state.stage = state.error = None
    state.status = "running" if state.stages_left else "finished"
    folder.write_state(state)


def fit(folder: RunFolder, config: TrainConfig, after: list, opts: Options) -> str:
    train(config, data(opts, config), opts.callbacks, folder.path, after)
    epochs_s = folder.read_state().train_seconds
    return f" ({epochs_s:.1f} s of it in the epochs, the rest building, checking and saving)"


def data(opts: Options, config: TrainConfig) -> Dataset:
    """The data set the stages share, loaded once."""
    if opts.data is None:
        opts.data = load_dataset(data_dir=config.data_dir)
    return opts.data


def config_of(folder: RunFolder) -> TrainConfig:
    return make_config(folder.read_config_values())


def explore(folder: RunFolder, config: TrainConfig, opts: Options) -> None:
    write_exploration(data(opts, config), folder.explore, seed=config.seed)


def learn_photos(folder: RunFolder, opts: Options) -> None:
    learn_photos_if_asked(folder.path, data(opts, config_of(folder)), opts.echo)


def evaluate(folder: RunFolder, opts: Options) -> None:
    evaluate_run(folder.path, data(opts, config_of(folder)), opts.splits)


def save(folder: RunFolder, opts: Options) -> None:
    """The model in each format, each reloaded and compared with the kept Keras model."""
    images = data(opts, config_of(folder)).test_images
    source, saved = folder.model_path, []
    for name in check_formats(opts.formats):
        if name == "keras":
            path, check = source, verify_models(source, None, images)  # its reloaded copy
        else:
            path = convert(source, folder.model_format_path(name))
            check = verify_models(source, path, images, trust=True)  # pkl: we just wrote it
        saved.append(SavedFile(file=path.name, bytes=path.stat().st_size, **check))
    opts.pipeline.saved = saved
    write_pipeline(folder, opts)


def samples(folder: RunFolder, opts: Options) -> None:
    """SAMPLE_PREDICTIONS test images answered, drawn, and kept in the pipeline record."""
    config = config_of(folder)
    test = data(opts, config)
    predictor = Predictor.load(folder.model_path)
    count = len(test.test_labels)
    picked = pick_test_indices(count, random_count=SAMPLE_PREDICTIONS, seed=config.seed)
    answers = answer_test_images(predictor, test, picked)
    save_answer_figures(answers, predictor.class_names, folder.predictions, per_image=3)
    opts.pipeline.predictions = [a.to_dict(predictor.class_names) for a in answers]
    write_pipeline(folder, opts)


def report(folder: RunFolder, opts: Options) -> None:
    write_pipeline(folder, opts)  # the report reads it
    write_report(folder.path)


def track(folder: RunFolder, opts: Options) -> None:
    finish_tracking(folder.path)  # with --mlflow: final metrics, the model, the report


def write_pipeline(folder: RunFolder, opts: Options) -> None:
    """The pipeline record as the stages have made it so far, beside what it held."""
    record = folder.read_pipeline()
    new = opts.pipeline
    record.saved = new.saved or record.saved
    record.predictions = new.predictions or record.predictions
    record.data = new.data or record.data
    record.timings_s = {**record.timings_s, **new.timings_s}
    record.environment = describe_machine()
    folder.write_pipeline(record)


STAGE_WORK = {
    "photos": learn_photos,
    "evaluate": evaluate,
    "save": save,
    "samples": samples,
    "report": report,
    "track": track,
}


def adapt_run(run_dir: Path | str, photo_dirs, dataset: Dataset | None = None, echo=print,
              settings: Adapting = ADAPTING) -> ModelVersion:  # fmt: skip
    """A new version of the run's model that learned the new photos in `photo_dirs`
    (`fmnist.training.adapt`); then the run is evaluated again, the model files it keeps are
    saved again and its report shows the versions."""
    folder = RunFolder(run_dir)
    opts = Options(data=dataset, echo=echo)
    started = time.perf_counter()
    version = adapt(folder.path, photo_dirs, data(opts, config_of(folder)), echo, settings)
    echo(f"[adapt] version {version.version} in {time.perf_counter() - started:.1f} s")
    kept = tuple(Path(saved.file).suffix[1:] for saved in folder.read_pipeline().saved)
    opts.formats = tuple(name for name in FORMATS if name in kept)
    for stage in ("evaluate", "save", "report") if opts.formats else ("evaluate", "report"):
        timed(folder, stage, opts, lambda stage=stage: STAGE_WORK[stage](folder, opts))
    return version


def summarize_pipeline(run_dir: Path | str) -> str:
    """The saved model files with their sizes and reload verdicts, and where the report is."""
    from fmnist.terminal import render_table

    folder = RunFolder(run_dir)
    record = folder.read_pipeline()
    rows = [
        [saved.file, f"{saved.bytes:,} bytes", "reload OK" if saved.ok else "reload FAILED"]
        for saved in record.saved
    ]
    total = record.timings_s["total"] if "total" in record.timings_s else 0.0
    saved = render_table(["saved", "size", "check"], rows, numeric={1}) if rows else ""
    return "\n".join([saved, f"Report: {folder.report_path}  (total {total:.0f}s)"]).strip()
