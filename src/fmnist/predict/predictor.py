"""Ask a trained model about images: arrays of raw pixels, or a user's own photos.

    >>> predictor = Predictor.load("runs/20261206-132439-lean_cnn")  # doctest: +SKIP
    >>> predictor.top_k(data.test_images[:2], k=3)  # doctest: +SKIP
    [[('Ankle boot', 0.98), ('Sneaker', 0.01), ('Sandal', 0.01)], ...]
    >>> answers = predictor.predict_files(["shirt.jpg", "boot.png"])  # doctest: +SKIP
    >>> answers[0].verdict, answers[0].steps.segmentation  # doctest: +SKIP
    ('not sure: looks most like Shirt', 'grabcut')

A photo is prepared by `fmnist.photos.prepare` (the garment found, Zalando's steps); every
answer goes through `fmnist.inference` (the model's views, its probabilities, "not sure").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fmnist.artifacts import load_model_with_metadata
from fmnist.inference.answers import answer_probabilities, forward_function, tta_level
from fmnist.inference.unsure import is_blank, is_unsure
from fmnist.photos.prepare import PhotoError, PhotoSteps
from fmnist.predict.schema import AnswerJSON, TopClass
from fmnist.run_folder import resolve_model_path


@dataclass
class Answer:
    """The model's answer for one image (or why there is none)."""

    source: str  # file name, or "test[12]"
    top: list[tuple[str, float]] = field(default_factory=list)  # best first
    image: np.ndarray | None = None  # the 28 x 28 pixels the model saw
    probabilities: np.ndarray | None = None
    true_label: int | None = None
    error: str = ""
    unsure: bool = False  # its top probability is under the model's "not sure" threshold
    steps: PhotoSteps | None = None  # a photo's way to the 28 x 28 input
    blank: bool = False  # nothing in the image (one flat grey): "not sure", whatever the model

    def __repr__(self) -> str:
        said = self.error or f"{self.verdict} ({self.top[0][0]} {self.top[0][1]:.1%})"
        return f"Answer({self.source!r}: {said})"

    def _repr_html_(self) -> str:
        """In a notebook: the 28 x 28 input the model saw, the verdict and the top classes."""
        import jinja2

        from fmnist.images import data_url

        loader = jinja2.PackageLoader("fmnist.predict", "templates")
        page = jinja2.Environment(loader=loader, autoescape=True).get_template("answer.j2")
        if self.error:
            return page.render(source=self.source, error=self.error)
        image = data_url(np.asarray(self.image).round().clip(0, 255).astype(np.uint8))
        return page.render(source=self.source, verdict=self.verdict, top=self.top, image=image)

    @property
    def verdict(self) -> str:
        """The answer in words: the class, or "not sure: looks most like" it."""
        from fmnist.inference.unsure import verdict

        return verdict(self.top[0][0], self.unsure, self.blank)

    def describe(self, class_names) -> str:
        """One line: the source, the verdict and the top classes, the true class when
        known, WRONG when the top class is not it; and a photo's segmentation fallback."""
        top = ", ".join(f"{name} {p:.1%}" for name, p in self.top)
        line = f"{self.source}: {self.verdict}  ({top})" if self.unsure else f"{self.source}: {top}"
        if self.steps is not None and self.steps.fell_back:
            line += f"  [{self.steps.segmentation}]"
        if self.true_label is None:
            return line
        truth = class_names[self.true_label]
        verdict = "right" if self.top[0][0] == truth else "WRONG"
        return f"{line}  (true: {truth}: {verdict})"

    def to_json(self, class_names, full: bool = False) -> AnswerJSON:
        """The answer in its JSON shape (`fmnist.predict.schema`); `full` adds every
        class's probability and the 28 x 28 pixels (the service's)."""
        if self.error:
            return AnswerJSON(source=self.source, error=self.error)
        truth = None if self.true_label is None else class_names[self.true_label]
        rounded = np.round(self.probabilities, 6).tolist() if full else None
        return AnswerJSON(
            source=self.source,
            answer=self.verdict,
            sure=not self.unsure,
            top_k=[TopClass(name=name, probability=round(p, 6)) for name, p in self.top],
            probabilities=dict(zip(class_names, rounded, strict=True)) if full else None,
            pixels=np.asarray(self.image).round().astype(int).tolist() if full else None,
            segmentation=self.steps.segmentation if self.steps is not None else None,
            true=truth,
            correct=None if truth is None else self.top[0][0] == truth,
        )

    def to_dict(self, class_names, full: bool = False) -> dict:
        """The answer as JSON, the one shape the CLI, the pipeline and the service give."""
        return self.to_json(class_names, full).render()


class Predictor:
    """Loads a model once and answers for raw pixel arrays or image files."""

    def __init__(
        self,
        model,
        class_names=None,
        unsure_below: float | None = None,
        tta: int = 0,
    ):
        from fmnist.data import CLASS_NAMES

        self.model = model
        self.class_names = tuple(class_names or CLASS_NAMES)
        # Answers whose top probability is under this are "not sure" (fmnist.inference.unsure:
        # chosen when the model was trained; None: a model from before it).
        self.unsure_below = unsure_below
        # The views each answer averages, as the run's test accuracy was measured: the
        # mirror image for the recipes trained with flips (2.8 points of photo top-1).
        self.tta = tta
        # The model call, images (N, 28, 28, 1) float32 -> probabilities: TensorFlow's traced
        # graph; the service may put ONNX Runtime here (fmnist.serving.engine).
        self.forward = forward_function(model)

    @classmethod
    def load(cls, path: Path | str, trust: bool = False) -> Predictor:
        """The model of a run folder, or a model file, with how its answers are made."""
        model_path, _ = resolve_model_path(path)
        model, info = load_model_with_metadata(model_path, trust=trust)
        return cls(model, info.get("class_names"), info.get("unsure_below"), tta_level(info))

    def probabilities(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """(N, 10) class probabilities for raw pixels (N, 28, 28[, 1]) or one image."""
        return answer_probabilities(self.forward, images, self.tta, batch_size)[1]

    def top_k(self, images: np.ndarray, k: int = 3) -> list[list[tuple[str, float]]]:
        return [self._top(p, k) for p in self.probabilities(images)]

    def _top(self, probabilities: np.ndarray, k: int) -> list[tuple[str, float]]:
        order = np.argsort(probabilities)[::-1][:k]
        return [(self.class_names[i], float(probabilities[i])) for i in order]

    def answer(self, images, sources, k: int = 3, true_labels=None, steps=None) -> list[Answer]:
        """Answers for raw pixels, with their sources (and true labels, photo steps)."""
        return self.answers_for(self.probabilities(images), images, sources, k, true_labels, steps)

    def answers_for(
        self, probabilities, images, sources, k: int = 3, true_labels=None, steps=None
    ) -> list[Answer]:
        """Answers from probabilities already computed (the service's batcher makes them)."""
        trues = true_labels if true_labels is not None else [None] * len(probabilities)
        steps = steps if steps is not None else [None] * len(probabilities)
        answers = []
        for s, p, x, t, step in zip(sources, probabilities, images, trues, steps, strict=True):
            blank = is_blank(x)  # nothing in it: "not sure", whatever the model says
            true = None if t is None else int(t)
            pixels = np.asarray(x).reshape(28, 28)
            unsure = blank or is_unsure(p, self.unsure_below)
            answers.append(
                Answer(s, self._top(p, k), pixels, p, true, unsure=unsure, steps=step, blank=blank)
            )
        return answers

    def predict_files(self, paths, k: int = 3) -> list[Answer]:
        """Answers for image files, in order, each with its photo's steps and their images;
        an unreadable file gets an Answer with error. For many files, `stream_files`."""
        return list(self.stream_files(paths, k, images=True, workers=1))

    def stream_files(
        self, paths, k: int = 3, images: bool = False, workers: int | None = None, batch=64
    ):
        """Answers for image files, in order, made `batch` at a time as the photos are
        prepared on every core (`fmnist.photos.prepared.stream_photo_steps`): memory stays
        flat however many files there are. Each answer keeps its 28 x 28 input and how the
        garment was found; `images` keeps every step's images too (for `--explain`)."""
        from fmnist.photos.prepared import stream_photo_steps

        waiting: list[tuple[str, PhotoSteps | PhotoError]] = []
        readable = 0
        for item in stream_photo_steps(paths, workers, images):
            waiting.append(item)
            readable += isinstance(item[1], PhotoSteps)
            if readable >= batch:
                yield from self._answer_waiting(waiting, k)
                waiting, readable = [], 0
        yield from self._answer_waiting(waiting, k)

    def _answer_waiting(self, waiting, k: int):
        readable = [(path, s) for path, s in waiting if isinstance(s, PhotoSteps)]
        found = iter([])
        if readable:
            sources, steps = zip(*readable, strict=True)
            pixels = np.stack([s.pixels for s in steps])
            found = iter(self.answer(pixels, list(sources), k, steps=list(steps)))
        for path, steps in waiting:
            yield next(found) if isinstance(steps, PhotoSteps) else Answer(path, error=str(steps))


def pick_test_indices(count: int, targets=(), random_count=None, seed: int = 0) -> list[int]:
    """Test-set indices: `random_count` random ones, or `targets` checked to be in range."""
    if random_count:
        return np.random.default_rng(seed).choice(count, size=random_count, replace=False).tolist()
    try:
        indices = [int(t) for t in targets]
    except ValueError:
        raise ValueError(f"--index takes integers, got {' '.join(map(str, targets))}") from None
    bad = [i for i in indices if not 0 <= i < count]
    if bad:
        raise ValueError(f"test index {bad[0]} is outside 0-{count - 1}")
    return indices


def answer_test_images(predictor: Predictor, data, indices: list[int], k: int = 3) -> list[Answer]:
    """Answers for test images, with their true labels."""
    sources = [f"test[{i}]" for i in indices]
    return predictor.answer(data.test_images[indices], sources, k, data.test_labels[indices])


def answer_test_selection(predictor, indices, random_count, seed, k=3, data_dir=None):
    """Answers for the test images named by index (`indices`) or drawn at random
    (`random_count`, `seed`), loading the test set from `data_dir` (fmnist.data.dataset's order)."""
    from fmnist.data.dataset import load_dataset

    data = load_dataset(data_dir=data_dir)
    picked = pick_test_indices(len(data.test_labels), indices, random_count, seed)
    return answer_test_images(predictor, data, picked, k)


def count_correct(answers: list[Answer], class_names) -> tuple[int, int]:
    """(right, judged): how many answers with a known true class have it as their top one."""
    judged = [a for a in answers if a.true_label is not None and a.top]
    right = sum(a.top[0][0] == class_names[a.true_label] for a in judged)
    return right, len(judged)
