"""Answers told as they come, in bounded memory: `fmnist predict`'s output.

    >>> output = AnswerOutput(predictor, "jsonl", total=len(files))       # doctest: +SKIP
    >>> for answer in predictor.stream_files(files):                      # doctest: +SKIP
    ...     output.add(answer)
    >>> output.close()                                                    # doctest: +SKIP

Each answer is written as it is made (a line of text, an element of a JSON array, or a JSON
Line), its figures saved into `out`; a progress bar (rich) shows on a terminal's stderr for
20 images or more; nothing is kept but the few answers with a true class that a grid of
test images draws, so memory stays flat however many files there are.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

PROGRESS_FROM = 20  # images: fewer finish before a bar would tell anything


def write_out(text: str = "", end: str = "\n") -> None:
    sys.stdout.write(text + end)
    sys.stdout.flush()


def write_err(text: str = "") -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class AnswerOutput:
    """Where each answer goes: text, a JSON array or JSON Lines on `out`; errors, figures'
    paths and the progress bar on `err` (the terminal's stderr)."""

    def __init__(
        self,
        predictor,
        shape: str = "text",
        figures: Path | None = None,
        explain: bool = False,
        total: int | None = None,
        out: Callable = write_out,
        err: Callable = write_err,
    ):
        self.predictor, self.shape, self.figures, self.explain = predictor, shape, figures, explain
        self.out, self.err = out, err
        self.count, self.failed = 0, 0
        self.known = []  # answers with a true class (test images: a few), for the grid
        self.bar = progress_bar(total) if total and total >= PROGRESS_FROM else None
        if shape == "json":
            out("[", end="")

    def add(self, answer) -> None:
        names = self.predictor.class_names
        if self.shape == "json":
            text = json.dumps(answer.to_dict(names), indent=2).replace("\n", "\n  ")
            self.out(("," if self.count else "") + "\n  " + text, end="")
        elif self.shape == "jsonl":
            self.out(json.dumps(answer.to_dict(names)))
        self.count += 1
        if answer.error:
            self.failed += 1
            self.err(f"Error: {answer.error}")
        else:
            if self.shape == "text":
                self.out(answer.describe(names))
            self.save_figures(answer)
        if answer.true_label is not None:
            self.known.append(answer)
        if self.bar is not None:
            self.bar.advance(self.bar.task_ids[0])

    def save_figures(self, answer) -> None:
        from fmnist.predict.figures import save_answer_figures, save_explanations

        if self.figures:
            save_answer_figures([answer], self.predictor.class_names, self.figures, grid=False)
        if self.explain:
            for path in save_explanations(self.predictor, [answer], self.figures or "."):
                (self.out if self.shape == "text" else self.err)(f"Explained: {path}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
        if self.shape == "json":
            self.out("\n]" if self.count else "]")
        if self.figures:
            from fmnist.predict.figures import save_grid

            save_grid(self.known, self.predictor.class_names, self.figures)  # test images
            saved = f"Saved the images and figures to {self.figures}"
            (self.out if self.shape == "text" else self.err)(saved)


def progress_bar(total: int):
    """rich's bar on a terminal's stderr (None elsewhere: a log or a pipe gets no bar);
    lines written meanwhile go above it."""
    if not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    bar.add_task("images", total=total)
    bar.start()
    return bar
