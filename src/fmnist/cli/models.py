"""The commands on models: the registered ones (models), and model files: evaluate, convert,
export, verify."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fmnist.cli.common import data_dir_option, shown_option, trust_option, uses_tensorflow

SPLIT_HELP = "The test set, or the run's own validation split (rebuilt from its config)."


@click.command("evaluate")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@shown_option("--split", click.Choice(["test", "val"]), "test", SPLIT_HELP)
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
    from fmnist.evaluation.evaluate import evaluate_path, format_evaluation
    from fmnist.inference.answers import tta_level, tta_name

    result, out_dir = evaluate_path(path, split, out, tta, trust_pickle, data_dir, update)
    if update and path.is_dir():
        from fmnist.reports.report import write_report

        write_report(path)
    if as_json:
        click.echo(json.dumps(result.metrics, indent=2))
        return
    level = tta_level(result.metrics)
    used = f"with {tta_name(level)}" if level else "without TTA"
    if tta is None and path.is_dir():
        used += " (the run's setting)"
    click.echo(f"{path}, {split} split, {used}:\n")
    click.echo(format_evaluation(result.metrics))
    click.echo(f"\nWrote the metrics, CSVs and plots/ to {out_dir}")


@click.command("convert")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@trust_option
@uses_tensorflow
def convert_command(source: Path, target: Path, trust_pickle: bool) -> None:
    """Convert a model between .keras, .h5 and .pkl (chosen by extension)."""
    from fmnist.artifacts import convert

    convert(source, target, trust=trust_pickle)
    click.echo(f"Wrote {target} ({target.stat().st_size:,} bytes)")


@click.command("export")
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

    written = export_model(path, export_format, out, trust=trust_pickle)
    click.echo(f"Exported {path} as {export_format} to {written}")


@click.command("verify")
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
    from fmnist.data.dataset import load_dataset

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


@click.command("models")
@uses_tensorflow
def models_command() -> None:
    """List the registered models with parameter counts and a one-line description."""
    from fmnist.terminal import render_table
    from fmnist.training.models import describe_models

    rows = [[r["name"], f"{r['params']:,}", r["description"]] for r in describe_models()]
    click.echo(render_table(["model", "parameters", "description"], rows, numeric={1}))
