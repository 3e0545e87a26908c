"""The predict command: test images or people's photos."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

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
    from fmnist.data.photo_sets import PHOTO_SUFFIXES, image_files
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
    told = AnswerOutput(predictor, shape, out, explain, total)
    for answer in answers:
        told.add(answer)
    told.close()
    right, judged = count_correct(told.known, predictor.class_names)
    if judged and shape == "text":
        click.echo(f"{right} of {judged} correct")
    if told.failed:
        raise click.ClickException(f"{told.failed} of {told.count} images could not be read")


class AnswerOutput:
    """Each answer told as it comes (text, a JSON array or JSON Lines on stdout; its figures
    into --out), progress on a terminal's stderr, and nothing kept but the few answers a
    grid of test images draws: memory stays flat however many files there are."""

    def __init__(self, predictor, shape: str, out: Path | None, explain: bool, total=None):
        self.predictor, self.shape, self.out, self.explain = predictor, shape, out, explain
        self.total, self.count, self.failed = total, 0, 0
        self.known = []  # answers with a true class (test images: a few), for the grid
        self.progress = total is not None and total >= 20 and sys.stderr.isatty()
        self.started = time.perf_counter()
        if shape == "json":
            click.echo("[", nl=False)

    def add(self, answer) -> None:
        names = self.predictor.class_names
        if self.shape == "json":
            text = json.dumps(answer.to_dict(names), indent=2).replace("\n", "\n  ")
            click.echo(("," if self.count else "") + "\n  " + text, nl=False)
        elif self.shape == "jsonl":
            click.echo(json.dumps(answer.to_dict(names)))
        self.count += 1
        if answer.error:
            self.failed += 1
            self._clear_progress()
            click.echo(f"Error: {answer.error}", err=True)
        else:
            if self.shape == "text":
                self._clear_progress()
                click.echo(answer.describe(names))
            self._figures(answer)
        if answer.true_label is not None:
            self.known.append(answer)
        if self.progress:
            rate = self.count / max(time.perf_counter() - self.started, 1e-9)
            click.echo(f"\r{self.count:,}/{self.total:,} images, {rate:.0f}/s", nl=False, err=True)

    def _figures(self, answer) -> None:
        from fmnist.predict.figures import save_answer_figures, save_explanations

        if self.out:
            save_answer_figures([answer], self.predictor.class_names, self.out, grid=False)
        if self.explain:
            for path in save_explanations(self.predictor, [answer], self.out or "."):
                click.echo(f"Explained: {path}", err=self.shape != "text")

    def _clear_progress(self) -> None:
        if self.progress and self.count > 1:
            click.echo("\r\033[K", nl=False, err=True)

    def close(self) -> None:
        if self.shape == "json":
            click.echo("\n]" if self.count else "]")
        if self.progress:
            click.echo("", err=True)
        if self.out:
            from fmnist.predict.figures import save_grid

            save_grid(self.known, self.predictor.class_names, self.out)  # test images
            click.echo(f"Saved the images and figures to {self.out}", err=self.shape != "text")
