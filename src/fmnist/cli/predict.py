"""The predict command: test images or people's photos."""

from __future__ import annotations

import click

from fmnist.cli.common import (
    data_dir_option,
    model_option,
    output_option,
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
@click.option("--json", "as_json", is_flag=True, help="Print the answers as a JSON array.")
@click.option(
    "--jsonl",
    "as_jsonl",
    is_flag=True,
    help="Print the answers as JSON Lines, one object a line as each is made (for big jobs).",
)
@output_option(
    "--out",
    None,
    "Save the 28x28 images the model saw and the prediction figures here.",
    folder=True,
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
    as_jsonl,
    out,
    explain,
    seed,
    trust_pickle,
    data_dir,
) -> None:
    """Predict test images (--index I [I ...] or --random N) or image files (FILE or
    FOLDER ...: a folder stands for the images under it)."""
    from fmnist.data.photo_sets import image_files
    from fmnist.images import PHOTO_SUFFIXES
    from fmnist.predict.output import AnswerOutput
    from fmnist.predict.predictor import Predictor, answer_test_selection, count_correct
    from fmnist.run_folder import resolve_model_path

    model_path, _ = resolve_model_path(model_path)
    if sum([by_index, random_count is not None, bool(targets) and not by_index]) != 1:
        raise click.UsageError("give test indices (--index I ...), --random N, or image files")
    if by_index and not targets:
        raise click.UsageError("--index needs at least one test index, e.g. --index 0 12")
    if explain and (by_index or random_count is not None):
        raise click.UsageError("--explain shows a photo's steps: give image files")
    if as_json and as_jsonl:
        raise click.UsageError("--json and --jsonl are two shapes of one output: choose one")
    predictor = Predictor.load(model_path, trust=trust_pickle)
    if by_index or random_count:
        try:
            answers = answer_test_selection(predictor, targets, random_count, seed, top_k, data_dir)
        except ValueError as error:  # indices out of range or not numbers: a usage error
            raise click.UsageError(str(error)) from None
    else:
        files = image_files(targets)
        if len(files) == 1:  # one file: its error is the command's one line
            (answer,) = predictor.predict_files(files, top_k)
            if answer.error:
                raise FmnistError(answer.error)
        if not files:
            raise FmnistError(f"{targets[0]}: no image files in it ({', '.join(PHOTO_SUFFIXES)})")
        answers = predictor.stream_files(files, top_k, images=explain)
    shape = "json" if as_json else "jsonl" if as_jsonl else "text"
    total = None if by_index or random_count else len(files)
    told = AnswerOutput(predictor, shape, out, explain, total, out=say, err=warn)
    for answer in answers:
        told.add(answer)
    told.close()
    right, judged = count_correct(told.known, predictor.class_names)
    if judged and shape == "text":
        click.echo(f"{right} of {judged} correct")
    if told.failed:
        raise click.ClickException(f"{told.failed} of {told.count} images could not be read")


def say(text: str = "", end: str = "\n") -> None:
    click.echo(text + end, nl=False)


def warn(text: str = "") -> None:
    click.echo(text, err=True)
