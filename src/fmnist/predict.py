"""Ask a trained model about images: arrays of raw pixels, or a user's own photos.

    >>> predictor = Predictor.load("shirts.keras")              # loads once
    >>> predictor.top_k(data.test_images[:2], k=3)
    [[('Ankle boot', 0.98), ('Sneaker', 0.01), ('Sandal', 0.01)], ...]
    >>> answers = predictor.predict_files(["shirt.jpg", "boot.png"])
    >>> answers[0].verdict, answers[0].steps.segmentation
    ('not sure: looks most like Shirt', 'grabcut')

A photo has its garment found (`fmnist.garment_segmentation`, unless its ground is
plain), then goes through the steps Zalando used to make Fashion-MNIST from product photos
(see `photo_steps`), so the model sees what it was trained on: a light article on a dark
ground, 28 x 28, 8-bit grayscale. An answer under the model's threshold is "not sure"
(`fmnist.unsure`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from fmnist.artifacts import load_model_with_metadata
from fmnist.errors import FmnistError
from fmnist.models import as_model_input

MAX_PIXELS = 40_000_000  # larger images are refused before decoding (decompression bombs)
TRIM_DISTANCE = 0.05 * 255 * np.sqrt(3)  # 5% of the largest distance in RGB space
CANVAS = 28
MAX_ASPECT = 50  # a photo of a garment is never 50 times wider than tall (strip-image bombs)
WORKING_SIZE = 256  # photos are shrunk to about this (long edge) before any arithmetic
PLAIN = "plain background: trimmed"  # segmentation skipped: Zalando's trim suffices
PLAIN_SHARE = 0.95  # share of the edge pixels that must match the corners for PLAIN


class PhotoError(FmnistError):
    """An image file cannot be read or used."""


def open_photo(source, name: str = "image", max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an image file (path or file object), refusing oversized or unreadable ones."""
    try:
        image = Image.open(source)
        if image.width * image.height > max_pixels:
            raise PhotoError(
                f"{name}: {image.width}x{image.height} pixels is over the limit of {max_pixels:,}"
            )
        if max(image.size) > MAX_ASPECT * max(1, min(image.size)):
            raise PhotoError(
                f"{name}: {image.width}x{image.height} pixels: the sides differ by more than "
                f"{MAX_ASPECT}:1, not a photo"
            )
        if image.format == "JPEG":  # decode at 1/2, 1/4 or 1/8 scale: most of the work saved
            image.draft("RGB", (WORKING_SIZE, WORKING_SIZE))
        image.load()
    except PhotoError:
        raise
    except UnidentifiedImageError:  # its message shows Python internals, not the file
        raise PhotoError(f"{name}: not a readable image (not PNG, JPEG or WebP data)") from None
    except Image.DecompressionBombError:
        raise PhotoError(f"{name}: too many pixels to decode safely") from None
    except (OSError, SyntaxError, ValueError):  # truncated or corrupt data
        raise PhotoError(f"{name}: cannot decode the image (truncated or corrupt)") from None
    return image


def _to_8bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit grayscale scaled to 8 bits (Pillow's own conversion clips them: a
    16-bit photo would come out all white or all black)."""
    if image.mode.startswith("I"):
        pixels = np.asarray(image, dtype=np.float64)
        scale = 257.0 if pixels.max(initial=0) > 255 else 1.0  # 65535 -> 255
        return Image.fromarray(np.clip(pixels / scale, 0, 255).astype(np.uint8), "L")
    if image.mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        pixels = pixels * 255 if pixels.max(initial=0) <= 1 else pixels
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")
    return image


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """RGB at about WORKING_SIZE, with any transparency composited onto white (a product
    photo's background). Shrinking first (a box reduction by a whole factor) keeps the
    arithmetic on a few hundred pixels a side, whatever the camera."""
    image = _to_8bit(ImageOps.exif_transpose(image))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    factor = max(image.size) // WORKING_SIZE
    if factor >= 2:
        image = image.reduce(factor)
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


@dataclass
class PhotoSteps:
    """What became of a photo on its way to the model, step by step (`--explain` draws it)."""

    original: np.ndarray  # RGB uint8, the photo at about WORKING_SIZE
    mask: np.ndarray | None  # bool, the garment found in `original`; None where none was
    crop: np.ndarray  # RGB uint8: the article, trimmed (background white where masked)
    pixels: np.ndarray  # uint8 (28, 28): what the model sees
    segmentation: str  # "grabcut", PLAIN, "fallback to trimming: <why>" or "not asked"

    @property
    def segmented(self) -> bool:
        return self.mask is not None

    @property
    def fell_back(self) -> bool:
        """Segmentation was tried and found nothing plausible: the answer should say so."""
        return self.segmentation.startswith("fallback")


def photo_steps(image: Image.Image, segment: bool = True) -> PhotoSteps:
    """Find the garment (`fmnist.garment_segmentation`; skipped on a plain background, where
    Zalando's trim finds it, and with segment=False), then Zalando's steps
    (`zalando_steps`), keeping each step's image."""
    from fmnist.garment_segmentation import ground_fill, isolate_garment

    original = np.asarray(_flatten_alpha(image))  # uint8 throughout: no float copy
    mask, how = None, "not asked"
    article = original
    if segment and plain_ground(original):
        how = PLAIN
    elif segment:
        article, mask, how = isolate_garment(original)
    # A garment cut out of a phone photo is not sharpened: its creases and texture are
    # already stronger than a product shot's (photos-dev, top-1 with the default model:
    # 52.8% unsharpened against 49.0% sharpened; docs/models-and-predictions.md).
    # A cut-out's ground is known (its corners may be sleeves, not ground).
    ground = None if mask is None else (ground_fill(original, mask),) * 3
    pixels, crop = zalando_steps(article, sharpen=mask is None, background=ground)
    return PhotoSteps(original, mask, crop, pixels, how)


def prepare_photo(image: Image.Image, segment: bool = True) -> np.ndarray:
    """A photo as Fashion-MNIST pixels: uint8 (28, 28), the article light on a dark ground
    (see `photo_steps`)."""
    return photo_steps(image, segment).pixels


def plain_ground(rgb: np.ndarray) -> bool:
    """Whether the photo's edges are all about one colour, a product shot's: at least
    PLAIN_SHARE of the outermost pixels within TRIM_DISTANCE of the corners' median colour.
    There Zalando's trim finds the article as it was made to, at no cost."""
    corners = rgb[[0, 0, -1, -1], [0, -1, 0, -1]].astype(np.float64)
    ground = np.median(corners, axis=0)
    edges = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float64)
    near = np.sqrt(((edges - ground) ** 2).sum(axis=1)) <= TRIM_DISTANCE
    return float(near.mean()) >= PLAIN_SHARE


def zalando_steps(
    rgb: np.ndarray, sharpen: bool = True, background=None
) -> tuple[np.ndarray, np.ndarray]:
    """Zalando's steps on an RGB uint8 array: trim the edges close to the background
    colour (the corners' unless given; within 5% of the largest RGB distance); resize the
    longest edge to 28 keeping the aspect ratio; sharpen (unless told not to); centre on a
    28 x 28 canvas of the background colour; negate; 8-bit grayscale. Negation is skipped
    when the background is already dark, so the article always ends up light. Returns the
    28 x 28 pixels and the trimmed article.
    """
    height, width = rgb.shape[:2]
    if background is None:
        corners = rgb[[0, 0, -1, -1], [0, -1, 0, -1]].astype(np.int32)
        background = np.median(corners, axis=0)  # a whole or half number per channel
    background = np.asarray(background, dtype=np.float64)
    # The distance test in integers: doubled, so the half numbers are whole, and squared,
    # so no square root: the same decision as |rgb - background| > TRIM_DISTANCE, read
    # from one 256-entry table a channel instead of computed pixel by pixel.
    levels = 2 * np.arange(256, dtype=np.int32)
    tables = [(levels - int(2 * b)) ** 2 for b in background]
    distance = sum(table[rgb[..., c]] for c, table in enumerate(tables))
    foreground = distance > (2 * TRIM_DISTANCE) ** 2
    rows, cols = np.flatnonzero(foreground.any(axis=1)), np.flatnonzero(foreground.any(axis=0))
    if len(rows):
        rgb = rgb[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        height, width = rgb.shape[:2]
    scale = CANVAS / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    article = Image.fromarray(np.ascontiguousarray(rgb)).resize(size, Image.Resampling.LANCZOS)
    if sharpen:
        article = article.filter(ImageFilter.UnsharpMask(radius=1, percent=100, threshold=0))
    fill = tuple(int(v) for v in background)
    canvas = Image.new("RGB", (CANVAS, CANVAS), fill)
    canvas.paste(article, ((CANVAS - size[0]) // 2, (CANVAS - size[1]) // 2))
    gray = np.asarray(canvas.convert("L"))
    light_background = float(np.mean(background)) > 127
    return (255 - gray if light_background else gray).astype(np.uint8), rgb


def load_photo_steps(path: Path | str, max_pixels: int = MAX_PIXELS, segment=True) -> PhotoSteps:
    """Read and prepare one photo file; PhotoError naming the file when it cannot."""
    path = Path(path)
    if path.is_dir():
        raise PhotoError(f"{path}: a folder, not an image file; name the images in it")
    if not path.is_file():
        raise PhotoError(f"{path}: no such file")
    return photo_steps(open_photo(path, str(path), max_pixels), segment)


def load_photo(path: Path | str, max_pixels: int = MAX_PIXELS, segment=True) -> np.ndarray:
    """One photo file as the model's 28 x 28 input (see `photo_steps`)."""
    return load_photo_steps(path, max_pixels, segment).pixels


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

    @property
    def verdict(self) -> str:
        """The answer in words: the class, or "not sure: looks most like" it."""
        from fmnist.unsure import verdict

        return verdict(self.top[0][0], self.unsure)

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

    def to_dict(self, class_names) -> dict:
        result = {"source": self.source}
        if self.error:
            return {**result, "error": self.error}
        result["answer"] = self.verdict
        result["sure"] = not self.unsure
        result["top_k"] = [{"class": name, "probability": round(p, 6)} for name, p in self.top]
        if self.steps is not None:
            result["segmentation"] = self.steps.segmentation
        if self.true_label is not None:
            result["true"] = class_names[self.true_label]
            result["correct"] = self.top[0][0] == class_names[self.true_label]
        return result


class Predictor:
    """Loads a model once and answers for raw pixel arrays or image files."""

    def __init__(
        self, model, class_names=None, unsure_below: float | None = None, flip_tta: bool = False
    ):
        import tensorflow as tf

        from fmnist.data import CLASS_NAMES

        self.model = model
        self.class_names = tuple(class_names or CLASS_NAMES)
        # Answers whose top probability is under this are "not sure" (fmnist.unsure: chosen
        # on validation data when the model was trained; None: a model from before it).
        self.unsure_below = unsure_below
        # Average each answer with its mirror image's, as the run's test accuracy was
        # measured (recipes with flip augmentation): photos-dev top-1 55.9% against 53.4%.
        self.flip_tta = flip_tta
        spec = tf.TensorSpec([None, 28, 28, 1], tf.float32)
        # One traced graph for every batch size: far faster than model.predict per call.
        self._forward = tf.function(lambda x: model(x, training=False), input_signature=[spec])

    @classmethod
    def load(cls, path: Path | str, trust: bool = False) -> Predictor:
        model, info = load_model_with_metadata(path, trust=trust)
        return cls(
            model, info.get("class_names"), info.get("unsure_below"), info.get("flip_tta", False)
        )

    def probabilities(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """(N, 10) class probabilities for raw pixels (N, 28, 28[, 1]) or one image."""
        x = as_model_input(images)
        parts = [self._answer(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.class_names)), np.float32)

    def _answer(self, x: np.ndarray) -> np.ndarray:
        if not self.flip_tta:
            return self._forward(x).numpy()
        both = self._forward(np.concatenate([x, x[:, :, ::-1]])).numpy()  # one model call
        return (both[: len(x)] + both[len(x) :]) / 2

    def top_k(self, images: np.ndarray, k: int = 3) -> list[list[tuple[str, float]]]:
        return [self._top(p, k) for p in self.probabilities(images)]

    def _top(self, probabilities: np.ndarray, k: int) -> list[tuple[str, float]]:
        order = np.argsort(probabilities)[::-1][:k]
        return [(self.class_names[i], float(probabilities[i])) for i in order]

    def is_unsure(self, probabilities: np.ndarray) -> bool:
        return self.unsure_below is not None and float(np.max(probabilities)) < self.unsure_below

    def answer(self, images, sources, k: int = 3, true_labels=None, steps=None) -> list[Answer]:
        probabilities = self.probabilities(images)
        trues = true_labels if true_labels is not None else [None] * len(probabilities)
        steps = steps if steps is not None else [None] * len(probabilities)
        return [
            Answer(
                s,
                self._top(p, k),
                np.asarray(x).reshape(28, 28),
                p,
                None if t is None else int(t),
                unsure=self.is_unsure(p),
                steps=step,
            )
            for s, p, x, t, step in zip(sources, probabilities, images, trues, steps, strict=True)
        ]

    def predict_files(self, paths, k: int = 3) -> list[Answer]:
        """Answers for image files, in order; an unreadable file gets an Answer with error."""
        answers, steps, readable = [], [], []
        for path in paths:
            try:
                steps.append(load_photo_steps(path))
                readable.append(len(answers))
                answers.append(None)
            except PhotoError as error:
                answers.append(Answer(str(path), error=str(error)))
        if steps:
            images = np.stack([s.pixels for s in steps])
            found = self.answer(images, [str(paths[i]) for i in readable], k, steps=steps)
            for slot, result in zip(readable, found, strict=True):
                answers[slot] = result
        return answers


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
    (`random_count`, `seed`), loading the test set from `data_dir` (fmnist.data's order)."""
    from fmnist.data import load_dataset

    data = load_dataset(data_dir=data_dir)
    picked = pick_test_indices(len(data.test_labels), indices, random_count, seed)
    return answer_test_images(predictor, data, picked, k)


def count_correct(answers: list[Answer], class_names) -> tuple[int, int]:
    """(right, judged): how many answers with a known true class have it as their top one."""
    judged = [a for a in answers if a.true_label is not None and a.top]
    right = sum(a.top[0][0] == class_names[a.true_label] for a in judged)
    return right, len(judged)


def save_answer_figures(
    answers: list[Answer], class_names, out: Path | str, per_image: int | None = None
) -> list[Path]:
    """For each answer (the first `per_image` of them, if given): the 28 x 28 image the
    model saw, the image titled with its prediction, and the image beside its probability
    bars; and a blue/red grid of all answers that have true labels."""
    from fmnist.plots import (
        image_with_probabilities,
        prediction_figure,
        prediction_grid,
        save_figure,
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for answer in answers[:per_image]:
        stem = _file_stem(answer.source)
        Image.fromarray(answer.image.astype(np.uint8)).save(out / f"{stem}_28x28.png")
        name, probability = answer.top[0]
        paths += [
            out / f"{stem}_28x28.png",
            save_figure(
                prediction_figure(answer.image, f"{name} ({probability:.0%})"),
                out / f"{stem}_prediction.png",
            ),
            save_figure(
                image_with_probabilities(
                    answer.image, answer.probabilities, class_names, answer.true_label
                ),
                out / f"{stem}_bars.png",
            ),
        ]
    known = [a for a in answers if a.true_label is not None]
    if known:
        grid = prediction_grid(
            np.stack([a.image for a in known]),
            [int(np.argmax(a.probabilities)) for a in known],
            [a.true_label for a in known],
            [a.top[0][1] for a in known],
            class_names,
        )
        paths.append(save_figure(grid, out / "grid.png"))
    return paths


def save_explanations(predictor: Predictor, answers: list[Answer], out: Path | str) -> list[Path]:
    """For each photo's answer: `<name>_explain.png`, its steps, the saliency of the answered
    class (fmnist.saliency) and the probability bars."""
    from fmnist.plots import explanation_figure, save_figure
    from fmnist.saliency import saliency_map

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for answer in answers:
        if answer.steps is None:
            continue
        predicted = int(np.argmax(answer.probabilities))
        heat = saliency_map(predictor.model, answer.image, predicted)
        figure = explanation_figure(
            answer.steps,
            answer.probabilities,
            predictor.class_names,
            heat,
            f"{answer.verdict} ({answer.top[0][1]:.0%})",
            answer.source,
        )
        paths.append(save_figure(figure, out / f"{_file_stem(answer.source)}_explain.png"))
    return paths


def _file_stem(source: str) -> str:
    """A file-name-safe stem for an answer's source ("test[3]" -> "test-3")."""
    stem = Path(source.replace("[", "-").rstrip("]")).stem
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)
