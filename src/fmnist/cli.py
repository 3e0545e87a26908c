"""The `fmnist` command line: a thin layer over the Python API, one command per stage.

    $ fmnist data verify --data-dir ../shared/data/fashion-mnist
    $ fmnist data info --json

Errors the user can act on (fmnist.errors.FmnistError) print as one line on stderr
and exit with status 1; usage errors exit with status 2 (click's convention).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
from pathlib import Path

import click

from fmnist import __version__
from fmnist.config import PRECISIONS
from fmnist.errors import FmnistError, describe_os_error
from fmnist.models import DEFAULT_MODEL


class Group(click.Group):
    """A click group that turns FmnistError into a one-line error and exit status 1."""

    def format_commands(self, ctx: click.Context, formatter) -> None:
        """The command list with each command's whole first sentence, wrapped (click's own
        cuts it at the terminal's width with "...")."""
        commands = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        rows = [(name, c.get_short_help_str(limit=300)) for name, c in commands if not c.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FmnistError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(error.exit_code)
        except OSError as error:  # a user's path: read-only, under a file, disk full, ...
            click.echo(f"Error: {describe_os_error(error)}", err=True)
            ctx.exit(1)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up chatter (absl and oneDNN notices, printed
    before any log level applies) kept off the terminal; replayed if the import fails."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # failures still raise in Python
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401 - imports TensorFlow, its backend
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def uses_tensorflow(command):
    """Decorator for commands that need TensorFlow: import it quietly first."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        import_tensorflow_quietly()
        return command(*args, **kwargs)

    return run


config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A TOML, YAML or JSON file of TrainConfig keys; flags override it.",
)

tensorboard_option = click.option(
    "--tensorboard",
    is_flag=True,
    default=None,
    help="Also write TensorBoard logs into RUN/tensorboard/ (view: tensorboard --logdir RUN).",
)

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder with the four idx files (default: $FMNIST_DATA_DIR, the cache, the Keras cache).",
)


def output_option(flag: str, default: str, help: str, folder: bool = False):
    """An option naming where a command writes (a file, or with `folder` a folder)."""
    return click.option(
        flag,
        type=click.Path(file_okay=not folder, dir_okay=folder, path_type=Path),
        default=default,
        show_default=True,
        help=help,
    )


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="fmnist")
def main() -> None:
    """fmnist: Fashion-MNIST image classification, end to end."""


@main.group(cls=Group)
def data() -> None:
    """Fetch, verify and describe the data set."""


@data.command("download")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to put the files (default: the per-user cache).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def data_download(data_dir: Path | None, quiet: bool) -> None:
    """Download the four files from the official mirrors, each verified by its MD5."""
    from fmnist.download import download

    folder = download(data_dir, progress=not quiet)
    click.echo(f"Fashion-MNIST is in {folder} (four files, MD5 verified)")


@data.command("verify")
@data_dir_option
def data_verify(data_dir: Path | None) -> None:
    """Check the MD5 of each file against the published one."""
    from fmnist.data import locate
    from fmnist.download import format_checks, verify_folder

    _, folder = locate(data_dir)
    if not folder.is_dir():
        raise FmnistError(f"{folder}: no such folder")
    checks = verify_folder(folder)
    if all(check.path is None for check in checks):
        raise FmnistError(f"{folder}: none of the four Fashion-MNIST files is here")
    click.echo(format_checks(folder, checks))
    if not all(check.ok for check in checks):
        raise FmnistError(f"{folder}: some files are not the published Fashion-MNIST")


@data.command("info")
@data_dir_option
@click.option(
    "--source",
    type=click.Choice(["auto", "folder", "download", "keras", "openml"]),
    default="auto",
    show_default=True,
    help="Where to load the data from.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def data_info(data_dir: Path | None, source: str, as_json: bool) -> None:
    """Shapes, dtypes, class counts per split, pixel mean and std."""
    from fmnist.data import format_summary, load_dataset, summarize

    summary = summarize(load_dataset(source, data_dir, progress=not as_json))
    click.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))


@main.command("explore")
@data_dir_option
@output_option("--out", "explore", "Folder for stats.json and the figures.", folder=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random samples.")
@click.option("--tsne", is_flag=True, help="t-SNE instead of PCA for the 2-D embedding (slower).")
def explore_command(data_dir: Path | None, out: Path, seed: int, tsne: bool) -> None:
    """Statistics and figures of the data set: samples, balance, means, pixels, embedding."""
    from fmnist.data import load_dataset
    from fmnist.explore import format_statistics, write_exploration

    data = load_dataset(data_dir=data_dir)
    paths = write_exploration(data, out, seed=seed, method="tsne" if tsne else "pca")
    click.echo(format_statistics(json.loads(paths[0].read_text())))
    click.echo(f"\nWrote {len(paths)} files to {out}: {', '.join(p.name for p in paths)}")


@main.command("models")
@uses_tensorflow
def models_command() -> None:
    """List the registered models with parameter counts and a one-line description."""
    from fmnist.models import describe_models
    from fmnist.terminal import render_table

    rows = [[r["name"], f"{r['params']:,}", r["description"]] for r in describe_models()]
    click.echo(render_table(["model", "parameters", "description"], rows, numeric={1}))


@main.command("train")
@click.option(
    "--model",
    help=f"A model from `fmnist models` (default: the config's, else {DEFAULT_MODEL}, the "
    "default recipe).",
)
@click.option("--epochs", type=click.IntRange(min=1), help="Maximum number of epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Images per step.")
@click.option(
    "--lr", "learning_rate", type=float, help="Learning rate (the peak, with a schedule)."
)
@config_option
@click.option("--runs-dir", type=click.Path(file_okay=False), help="Parent of run folders.")
@click.option("--name", help="Run folder suffix (default: the model name).")
@click.option("--seed", type=int, help="Seeds everything: split, shuffling, augmentation, weights.")
@click.option(
    "--validate-on-test",
    is_flag=True,
    default=None,
    help="Validate on the test set, as some tutorials do (model selection sees it).",
)
@tensorboard_option
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    help="Training arithmetic (default auto: bfloat16 on CPUs with AMX).",
)
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Continue an interrupted run folder from its last finished epoch.",
)
@data_dir_option
@uses_tensorflow
def train_command(config_file, resume_dir, data_dir, **flags) -> None:
    """Train a model and write a run folder (config, history, model, metrics, curves)."""
    from fmnist.config import resolve_config
    from fmnist.evaluate import evaluate_run
    from fmnist.train import resume, train

    if resume_dir:
        run_dir = resume(resume_dir)
    else:
        config = resolve_config(config_file, data_dir=str(data_dir) if data_dir else None, **flags)
        run_dir = train(config)
    evaluate_run(run_dir)
    print_run_summary(run_dir)


def print_run_summary(run_dir: Path) -> None:
    from fmnist.runs import format_run_summary

    click.echo(format_run_summary(run_dir))


trust_option = click.option(
    "--trust-pickle",
    is_flag=True,
    help="Allow loading .pkl models: unpickling runs code from the file; only for trusted files.",
)


@main.command("evaluate")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--split",
    type=click.Choice(["test", "val"]),
    default="test",
    show_default=True,
    help="The test set, or the run's own validation split (rebuilt from its config).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: RUN/evaluations/<split>-<tta|plain>/, or <model>-evaluation/).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option(
    "--tta/--no-tta",
    default=None,
    help="Average with horizontally flipped images (default: the run's own setting; off for "
    "a model file).",
)
@click.option(
    "--update",
    is_flag=True,
    help="Write into the run folder itself (its recorded metrics) and rebuild its report.",
)
@trust_option
@data_dir_option
@uses_tensorflow
def evaluate_command(path, split, out, as_json, tta, update, trust_pickle, data_dir) -> None:
    """Metrics, confusion matrix, per-class report, confused pairs, calibration of a model.

    PATH is a run folder or a model file (.keras, .h5, .pkl). A run folder is evaluated
    with its own settings, and its recorded metrics stay as they are unless --update."""
    from fmnist.evaluate import evaluate_path, format_evaluation

    result, out_dir = evaluate_path(path, split, out, tta, trust_pickle, data_dir, update)
    if as_json:
        click.echo(json.dumps(result.metrics, indent=2))
        return
    used = "with flip TTA" if result.metrics["tta"] else "without TTA"
    if tta is None and path.is_dir():
        used += " (the run's setting)"
    click.echo(f"{path}, {split} split, {used}:\n")
    click.echo(format_evaluation(result.metrics))
    click.echo(f"\nWrote the metrics, CSVs and plots/ to {out_dir}")


@main.command("convert")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@trust_option
@uses_tensorflow
def convert_command(source: Path, target: Path, trust_pickle: bool) -> None:
    """Convert a model between .keras, .h5 and .pkl (chosen by extension)."""
    from fmnist.artifacts import convert

    convert(source, target, trust=trust_pickle)
    click.echo(f"Wrote {target} ({target.stat().st_size:,} bytes)")


@main.command("export")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "export_format",
    type=click.Choice(["saved_model", "onnx", "litert"]),
    required=True,
    help="SavedModel folder, ONNX file or LiteRT (.tflite) file.",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Where to write it.")
@trust_option
@uses_tensorflow
def export_command(path: Path, export_format: str, out: Path, trust_pickle: bool) -> None:
    """Export a model for deployment through Keras' model.export."""
    from fmnist.artifacts import export_model

    export_model(path, export_format, out, trust=trust_pickle)
    click.echo(f"Exported {path} as {export_format} to {out}")


@main.command("verify")
@click.argument("first", type=click.Path(exists=True, path_type=Path))
@click.argument("second", type=click.Path(exists=True, path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@trust_option
@data_dir_option
@uses_tensorflow
def verify_command(first, second, as_json, trust_pickle, data_dir) -> None:
    """Compare two models' predictions on the test set (or one model with its own reloaded
    copy): label agreement and the largest probability difference."""
    from fmnist.artifacts import verify_models
    from fmnist.data import load_dataset

    images = load_dataset(data_dir=data_dir).test_images
    result = verify_models(first, second, images, trust=trust_pickle)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(
            f"{first} vs {second or 'its reloaded copy'}: {result['label_agreement']:.2%} of "
            f"{result['images']:,} labels agree ({result['disagreements']} differ), largest "
            f"probability difference {result['max_probability_difference']:.2e}"
        )
    if not result["ok"]:
        raise click.ClickException(
            f"agreement below the required {result['required_agreement']:.1%}"
        )


@main.command("predict")
@click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="A model file, or a run folder (the model it kept).",
)
@click.option("--index", "by_index", is_flag=True, help="TARGETS are test-set indices.")
@click.option(
    "--random", "random_count", type=click.IntRange(min=1), help="Predict N random test images."
)
@click.argument("targets", nargs=-1)
@click.option(
    "--top-k",
    type=click.IntRange(1, 10),
    default=3,
    show_default=True,
    help="How many of the likeliest classes to show for each image (1-10).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the answers as JSON.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Save the 28x28 images the model saw and the prediction figures here.",
)
@click.option(
    "--explain",
    is_flag=True,
    help="For photos: draw each one's steps (garment found, article, 28x28 input), the "
    "pixels that drove the answer and the probabilities, into --out (default: here).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --random.")
@trust_option
@data_dir_option
@uses_tensorflow
def predict_command(
    model_path,
    by_index,
    random_count,
    targets,
    top_k,
    as_json,
    out,
    explain,
    seed,
    trust_pickle,
    data_dir,
) -> None:
    """Predict test images (--index I [I ...] or --random N) or image files (FILE ...)."""
    from fmnist.predict import Predictor, answer_test_selection, count_correct
    from fmnist.run_folder import resolve_model_path

    model_path, _ = resolve_model_path(model_path)
    if sum([by_index, random_count is not None, bool(targets) and not by_index]) != 1:
        raise click.UsageError("give test indices (--index I ...), --random N, or image files")
    if explain and (by_index or random_count is not None):
        raise click.UsageError("--explain shows a photo's steps: give image files")
    predictor = Predictor.load(model_path, trust=trust_pickle)
    if by_index or random_count:
        try:
            answers = answer_test_selection(predictor, targets, random_count, seed, top_k, data_dir)
        except ValueError as error:  # indices out of range or not numbers: a usage error
            raise click.UsageError(str(error)) from None
    else:
        answers = predictor.predict_files(list(targets), top_k)
        if len(answers) == 1 and answers[0].error:
            raise FmnistError(answers[0].error)  # one file, one line
    report_answers(answers, predictor.class_names, as_json, out)
    if explain:
        from fmnist.predict import save_explanations

        for path in save_explanations(predictor, [a for a in answers if not a.error], out or "."):
            click.echo(f"Explained: {path}", err=as_json)
    right, judged = count_correct(answers, predictor.class_names)
    if judged and not as_json:
        click.echo(f"{right} of {judged} correct")
    failed = [a for a in answers if a.error]
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(answers)} images could not be read")


def report_answers(answers, class_names, as_json: bool, out: Path | None) -> None:
    if as_json:
        click.echo(json.dumps([a.to_dict(class_names) for a in answers], indent=2))
    for answer in answers:
        if answer.error:
            click.echo(f"Error: {answer.error}", err=True)
        elif not as_json:
            click.echo(answer.describe(class_names))
    if out:
        from fmnist.predict import save_answer_figures

        save_answer_figures([a for a in answers if not a.error], class_names, out)
        click.echo(f"Saved the images and figures to {out}", err=as_json)


@main.command("serve")
@click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="A model file, or a run folder (the model it kept).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to bind; 0.0.0.0 exposes the service to the network.",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, help="TCP port (default: 8000)."
)
@click.option(
    "--max-upload-mb",
    type=click.FloatRange(min=0.001),
    default=5.0,
    show_default=True,
    help="Largest request body accepted.",
)
@click.option(
    "--max-megapixels",
    type=click.FloatRange(min=0.001),
    default=25.0,
    show_default=True,
    help="Largest image accepted, checked before decoding.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help="Allow browser pages from this origin (repeatable); CORS is off by default.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Server processes sharing the port, each with its own model (docs/service.md: when "
    "it helps).",
)
@click.option(
    "--batching/--no-batching",
    default=True,
    show_default=True,
    help="Answer concurrent requests with shared model calls.",
)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Most images in one model call.",
)
@click.option(
    "--max-wait-ms",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="How long a model call waits for requests already being read (never for none).",
)
@trust_option
@uses_tensorflow
def serve_command(
    model_path,
    host,
    port,
    max_upload_mb,
    max_megapixels,
    cors_origins,
    workers,
    batching,
    max_batch,
    max_wait_ms,
    trust_pickle,
) -> None:
    """Serve the model over HTTP: POST /v1/predict, a web page at /, API docs at /docs,
    Prometheus metrics at /metrics."""
    from fmnist.serve import ServiceLimits, serve

    limits = ServiceLimits(
        max_upload_bytes=int(max_upload_mb * 1e6),
        max_pixels=int(max_megapixels * 1e6),
        batching=batching,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
    )
    serve(model_path, host, port, trust_pickle, limits, cors_origins, workers)


@main.command("run")
@click.option(
    "--model", help=f"A model from `fmnist models` (default: {DEFAULT_MODEL}, the default recipe)."
)
@config_option
@click.option("--epochs", type=click.IntRange(min=1), help="Maximum number of epochs.")
@click.option("--runs-dir", type=click.Path(file_okay=False), help="Parent of run folders.")
@click.option("--name", help="Run folder suffix (default: the model name).")
@click.option("--seed", type=int, help="Seeds everything.")
@click.option(
    "--formats",
    default="keras,h5,pkl",
    show_default=True,
    help="Model files to save and verify: any of keras, h5, pkl.",
)
@tensorboard_option
@data_dir_option
@uses_tensorflow
def run(model, config_file, epochs, runs_dir, name, seed, formats, tensorboard, data_dir) -> None:
    """The whole workflow: verify the data, explore it, train, evaluate, save and verify the
    model files, predict samples, write the HTML report."""
    from fmnist.config import resolve_config
    from fmnist.pipeline import format_pipeline_summary, run_pipeline

    config = resolve_config(
        config_file,
        model=model,
        epochs=epochs,
        runs_dir=runs_dir,
        name=name,
        seed=seed,
        tensorboard=tensorboard,
        data_dir=str(data_dir) if data_dir else None,
    )
    chosen = tuple(f.strip() for f in formats.split(",") if f.strip())
    run_dir = run_pipeline(config, chosen, echo=click.echo)
    print_run_summary(run_dir)
    click.echo(format_pipeline_summary(run_dir))


@main.command("sweep")
@click.option(
    "--config",
    "sweep_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The sweep file (TOML, YAML or JSON): model, space, metric, budget. With --repeat, "
    "a sweep file without a space, or a `fmnist train --config` file.",
)
@click.option(
    "--trials", type=click.IntRange(min=1), help="Samples of the space (overrides the file)."
)
@click.option(
    "--max-concurrent", type=click.IntRange(min=1), help="Trials at once (default: one per CPU)."
)
@click.option(
    "--address", help="A Ray cluster to join (ray start --head prints it); default: local Ray."
)
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="runs",
    show_default=True,
    help="Where the sweep folder goes (its trials are run folders inside it).",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=2),
    help="Train the file's one config over this many seeds: test accuracy's mean and spread.",
)
@click.option(
    "--resume",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Continue an interrupted sweep folder (Ray Tune's restore).",
)
@data_dir_option
def sweep_command(sweep_file, trials, max_concurrent, address, runs_dir, repeat, resume, data_dir):
    """Hyperparameter sweeps (ASHA early stopping) and repeated runs on Ray Tune."""
    import dataclasses

    from fmnist.sweep import resume_sweep, run_sweep
    from fmnist.sweep_file import load_repeat, load_sweep

    if resume:
        resume_sweep(resume, address, echo=click.echo)
        return
    if sweep_file is None:
        raise click.UsageError("give --config SWEEP_FILE (or --resume SWEEP_DIR)")
    spec = load_repeat(sweep_file) if repeat else load_sweep(sweep_file)
    changes = {"trials": trials, "max_concurrent": max_concurrent}
    spec = dataclasses.replace(spec, **{k: v for k, v in changes.items() if v is not None})
    run_sweep(spec, runs_dir, address, data_dir and str(data_dir), repeat or 0, echo=click.echo)


@main.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--diagnose",
    is_flag=True,
    help="Print the run's diagnosis (the tutorials' questions answered) instead of writing "
    "the page.",
)
def report_command(run_dir: Path, diagnose: bool) -> None:
    """Rebuild a run's HTML report (diagnosis first) from its folder alone."""
    if diagnose:
        from fmnist.diagnosis import diagnose as diagnose_run
        from fmnist.diagnosis import format_diagnosis

        click.echo(format_diagnosis(diagnose_run(run_dir)))
        return
    from fmnist.report import write_report

    path = write_report(run_dir)
    click.echo(f"Wrote {path} ({path.stat().st_size / 1e6:.1f} MB, self-contained)")


@main.group("runs", cls=Group, invoke_without_command=True)
@click.option(
    "--runs-dir",
    type=click.Path(path_type=Path),
    default="runs",
    show_default=True,
    help="The folder whose run folders to list.",
)
@click.pass_context
def runs_command(ctx: click.Context, runs_dir: Path) -> None:
    """A leaderboard of the runs in a folder, best first (interrupted runs included)."""
    if ctx.invoked_subcommand is None:
        from fmnist.runs import format_leaderboard, leaderboard

        click.echo(format_leaderboard(leaderboard(runs_dir)))


@runs_command.command("compare")
@click.argument("first", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("second", type=click.Path(exists=True, file_okay=False, path_type=Path))
@output_option("--out", "compare.png", "Where to write the figure.")
@output_option(
    "--page", "compare.html", "Where to write the HTML page (figure, config changes, diagnoses)."
)
def runs_compare(first: Path, second: Path, out: Path, page: Path) -> None:
    """Two runs side by side: what changed, both diagnoses, their curves on one figure."""
    from fmnist.plots import save_figure
    from fmnist.runs import compare_runs, comparison, format_comparison, write_comparison_page

    found = comparison(first, second)  # both runs diagnosed once, for the terminal and page
    click.echo(format_comparison(found))
    figure = save_figure(compare_runs(first, second), out)
    click.echo(f"Wrote {figure} and {write_comparison_page(found, page, figure)}")
