"""The predict command: test images or people's photos."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fmnist.cli.common import (
    data_dir_option,
    model_option,
    trust_option,
    uses_tensorflow,
)
from fmnist.errors import FmnistError


@click.command("predict")
@model_option
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
    from fmnist.predict.predictor import Predictor, answer_test_selection, count_correct
    from fmnist.run_folder import resolve_model_path

    model_path, _ = resolve_model_path(model_path)
    if sum([by_index, random_count is not None, bool(targets) and not by_index]) != 1:
        raise click.UsageError("give test indices (--index I ...), --random N, or image files")
    if by_index and not targets:
        raise click.UsageError("--index needs at least one test index, e.g. --index 0 12")
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
        from fmnist.predict.figures import save_explanations

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
        from fmnist.predict.figures import save_answer_figures

        save_answer_figures([a for a in answers if not a.error], class_names, out)
        click.echo(f"Saved the images and figures to {out}", err=as_json)
