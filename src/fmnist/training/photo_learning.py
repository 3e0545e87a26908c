"""Learning people's photos: a trained run fine-tuned on labelled photos and Fashion-MNIST
together, so that it answers photos well, says "not sure" for what is none of the ten
classes, and keeps what it knew.

    >>> settings = PhotoLearning("photos-train")  # doctest: +SKIP
    >>> record = learn_photos("runs/20261129-101500-lean_cnn", settings)  # doctest: +SKIP
    >>> record.after.overall.top1, record.unsure_below  # doctest: +SKIP

The method, one loss for every image (`set_loss`). A photo's target is the set of classes
it may be, as 0/1 over the ten: one class (a sneaker), several (a closed shoe that is none
of the three kinds: the loss is the negative log of their summed probability, so the model
is never made to pick one), or none (a hat, shorts, a skirt: the cross-entropy to the
uniform distribution, weighted; outlier exposure, Hendrycks et al. 2019). Every pass over
the photos mixes in `fmnist_per_photo` Fashion-MNIST training images for each photo,
mirrored at random as the recipe trains them, whose target is their label blended with the
run's own answer before photo learning (`distill`: learning without forgetting, Li and
Hoiem 2016), so the model keeps what it knew of Fashion-MNIST. Folders are drawn in
proportion to count**(1 - balance), so the few sandals and boots are seen more often than
their share. Photos are prepared exactly as `fmnist predict` prepares them
(`fmnist.photos.prepared`), augmented by flips, shifts and gain. A share of each folder is
held out: the "not sure" threshold is chosen on it (`fmnist.inference.unsure.photo_threshold`),
and it is scored before and after.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from fmnist.artifacts import load_model_with_metadata, save_model
from fmnist.data import CLASS_NAMES, load_dataset, make_splits
from fmnist.data.photo_sets import PhotoSet, find_photo_set, split_photo_set
from fmnist.errors import FmnistError
from fmnist.inference.answers import answer_probabilities, forward_function
from fmnist.inference.unsure import SURE_RIGHT, is_unsure, photo_threshold, verdict
from fmnist.photos.prepared import prepare_photos
from fmnist.photos.scoring import score_folders
from fmnist.plots import (
    RIGHT_COLOR,
    WRONG_COLOR,
    image_grid,
    risk_coverage_figure,
    save_figure,
)
from fmnist.run_folder import Photos, RunFolder
from fmnist.training.augment import augment, random_flip
from fmnist.training.config import make_config

CLASSES = len(CLASS_NAMES)


@dataclass(frozen=True)
class PhotoLearning:
    photos: str  # a folder of labelled photo folders (photos-train's layout)
    classes: str | None = None  # its class mapping (TOML); default: its classes.toml, or ours
    # Chosen on photos-train's held-out share and Fashion-MNIST's validation split
    # (docs/models-and-predictions.md, "How photo learning was chosen").
    epochs: int = 24  # passes over the photos kept for learning
    learning_rate: float = 4e-3  # Adam's peak, with a cosine decay; the run learned at 5e-3
    batch_size: int = 128  # images a step, photos and Fashion-MNIST together
    fmnist_per_photo: int = 4  # Fashion-MNIST images mixed in for each photo: no forgetting
    distill: float = 0.7  # a Fashion-MNIST image's target: this much the run's own answer
    balance: float = 0.5  # folders drawn as count**(1 - balance): the rare ones more often
    outlier_weight: float = 0.5  # the out-of-class photos' loss, relative to the others
    holdout: float = 0.15  # share of each folder held out to choose the threshold on
    sure_right: float = SURE_RIGHT  # the held-out sure answers are right this often
    seed: int = 0


def set_loss(outlier_weight: float):
    """The loss of probabilities against targets (N, 20): the first ten say which classes an
    image may be (0/1), the last ten are a distribution to match (a Fashion-MNIST image's).
    With a distribution: the cross-entropy to it; else -log(sum of the allowed classes'
    probabilities); for an empty set, `outlier_weight` times the cross-entropy to the
    uniform distribution."""

    def loss(targets, probabilities):
        ops = keras.ops
        probabilities = ops.clip(ops.cast(probabilities, "float32"), 1e-7, 1.0)
        targets = ops.cast(targets, "float32")
        allowed, soft = targets[:, :CLASSES], targets[:, CLASSES:]
        log_p = ops.log(probabilities)
        in_class = -ops.log(ops.clip(ops.sum(allowed * probabilities, axis=-1), 1e-7, 1.0))
        uniform = -ops.mean(log_p, axis=-1)
        matched = -ops.sum(soft * log_p, axis=-1)
        has_class = ops.sum(allowed, axis=-1) > 0
        has_soft = ops.sum(soft, axis=-1) > 0
        return ops.where(
            has_soft, matched, ops.where(has_class, in_class, outlier_weight * uniform)
        )

    return loss


def photo_targets(allowed: np.ndarray) -> np.ndarray:
    """(N, 20) targets of photos: which classes each may be, no distribution."""
    return np.concatenate([allowed, np.zeros_like(allowed)], axis=1).astype(np.float32)


def fmnist_targets(labels: np.ndarray, answers: np.ndarray, distill: float) -> np.ndarray:
    """(N, 20) targets of Fashion-MNIST images: the label blended with the run's answer."""
    soft = (1 - distill) * np.eye(CLASSES, dtype=np.float32)[labels] + distill * answers
    return np.concatenate([np.zeros_like(soft), soft], axis=1).astype(np.float32)


def folder_weights(folders: list[str], balance: float) -> np.ndarray:
    """Each photo's chance of being drawn: folders in proportion to count**(1 - balance)."""
    counts = {f: folders.count(f) for f in set(folders)}
    weights = np.array([counts[f] ** -balance for f in folders], dtype=np.float64)
    return weights / weights.sum()


class PhotoBatches(keras.utils.PyDataset):
    """One pass over the photos a Keras epoch: `per_pass` photos drawn by `weights`
    (augmented; all of them in order when `weights` is None) and `fmnist_per_photo` times as
    many Fashion-MNIST images drawn afresh, shuffled together; the draw depends on
    (seed, pass) alone."""

    def __init__(self, photos, allowed, weights, per_pass, fmnist_x, fmnist_targets_, settings):
        super().__init__()
        self.photos, self.allowed, self.settings = photos, allowed, settings
        self.fmnist_x, self.fmnist_targets = fmnist_x, fmnist_targets_
        self.weights, self.per_pass = weights, per_pass
        self.on_epoch_end(first=True)

    def on_epoch_end(self, first: bool = False):
        self.epoch = 0 if first else self.epoch + 1
        s = self.settings
        rng = np.random.default_rng([s.seed, self.epoch])
        count = self.per_pass
        drawn_photos = len(self.photos)
        rows = np.arange(drawn_photos) if self.weights is None else rng.choice(
            drawn_photos, size=count, p=self.weights)  # fmt: skip
        photos = augment_photos(self.photos[rows], rng)
        drawn = rng.choice(len(self.fmnist_x), min(s.fmnist_per_photo * count, len(self.fmnist_x)))
        images = np.concatenate([photos, random_flip(self.fmnist_x[drawn], rng)])
        targets = np.concatenate([photo_targets(self.allowed[rows]), self.fmnist_targets[drawn]])
        order = rng.permutation(len(images))
        self.images, self.targets = images[order], targets[order]

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.settings.batch_size)

    def __getitem__(self, index: int):
        part = slice(index * self.settings.batch_size, (index + 1) * self.settings.batch_size)
        return self.images[part][..., None].astype(np.float32), self.targets[part]


def augment_photos(pixels: np.ndarray, rng) -> np.ndarray:
    """Flips, shifts of up to 2 pixels, a gain of 0.75-1.25: what varies between two phone
    photos of one garment after the preparation steps (turns and scaling cost accuracy on
    photos-train's held-out share)."""
    images = augment(pixels, rng, shift=2, flip=True, erasing=0.0)
    gain = rng.uniform(0.75, 1.25, size=(len(pixels), 1, 1))
    return np.clip(images.astype(np.float32) * gain, 0, 255).astype(np.uint8)


class PassProgress(keras.callbacks.Callback):
    """A line every tenth of the passes: how far, how long, about how long is left."""

    def __init__(self, passes: int, echo, stage: str = "photos"):
        super().__init__()
        self.passes, self.echo, self.started = passes, echo, time.perf_counter()
        self.stage = stage
        self.every = max(1, passes // 10)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every and done != self.passes:
            return
        spent = time.perf_counter() - self.started
        left = spent / done * (self.passes - done)
        where = f"[{self.stage}] pass {done}/{self.passes}"
        self.echo(f"{where}, {spent:.0f} s, about {left:.0f} s left")


def score(probabilities, folders, mapping, threshold=None) -> dict:
    """Top-1, top-3, not-sure rates, sure answers' accuracy of held-out photos, per folder
    and overall (`fmnist.photos.scoring`)."""
    names = np.array(folders)
    by_folder = {f: probabilities[names == f] for f in sorted(set(folders))}
    return score_folders(by_folder, threshold, mapping)


def uncompiled(model):
    """The same network and weights with no loss attached: what a run keeps, so that plain
    `keras.models.load_model` reloads it (the photo loss is fmnist's own function)."""
    copy = type(model).from_config(model.get_config())  # clone_model would compile it again
    copy.set_weights(model.get_weights())
    return copy


def fit_passes(model, batches: PhotoBatches, settings, echo, stage: str = "photos"):
    """Fit `model` to `batches` for `settings.epochs` passes (Adam, cosine decay, the set
    loss), a progress line every tenth; returns the model with no loss attached."""
    keras.utils.set_random_seed(settings.seed)
    steps = settings.epochs * len(batches)
    rate = keras.optimizers.schedules.CosineDecay(settings.learning_rate, steps, alpha=1e-2)
    model.compile(optimizer=keras.optimizers.Adam(rate), loss=set_loss(settings.outlier_weight))
    progress = PassProgress(settings.epochs, echo, stage)
    model.fit(batches, epochs=settings.epochs, shuffle=False, verbose=0, callbacks=[progress])
    return uncompiled(model)


def fine_tune(model, photos: PhotoSet, rows, pixels, splits, answers, settings, echo):
    """Fit `model` to the photos at `rows` and Fashion-MNIST (`PhotoBatches`)."""
    folders = [photos.folder_of[i] for i in rows]
    weights = folder_weights(folders, settings.balance) if settings.balance else None
    batches = PhotoBatches(
        pixels[rows],
        photos.targets()[rows],
        weights,
        len(rows),
        splits.train_x,
        fmnist_targets(splits.train_y, answers, settings.distill),
        settings,
    )
    return fit_passes(model, batches, settings, echo)


def learn_photos(run_dir: Path | str, settings: PhotoLearning, data=None, echo=print) -> Photos:
    """Fine-tune the run's model on its photos and Fashion-MNIST; save it in place with what
    it learned (photos, mapping, the threshold) and write the run's photo record."""
    run = RunFolder(run_dir)
    if not run.model_path.is_file():
        raise FmnistError(f"{run.path}: no trained model to learn photos with")
    started = time.perf_counter()
    photo_set = find_photo_set(settings.photos, settings.classes)
    learn, held = split_photo_set(photo_set, settings.holdout, settings.seed)
    pixels = prepare_photos(photo_set.files)
    prepared_s = time.perf_counter() - started
    echo(f"[photos] {len(photo_set.files)} photos prepared in {prepared_s:.1f}s")
    if photo_set.describe_skipped():
        echo(f"[photos] {photo_set.describe_skipped()}")
    targets, folders = photo_set.targets(), photo_set.folder_of
    config = make_config(run.read_config_values())
    data = data or load_dataset(data_dir=config.data_dir)
    splits = make_splits(data, config)
    model, info = load_model_with_metadata(run.model_path)
    tta = config.tta  # as the model answers
    forward = forward_function(model)
    _, held_probabilities = answer_probabilities(forward, pixels[held], tta)
    before = score(held_probabilities, [folders[i] for i in held], photo_set.folders)
    _, answers = answer_probabilities(forward, splits.train_x, tta)
    model = fine_tune(model, photo_set, learn, pixels, splits, answers, settings, echo)
    forward = forward_function(model)
    _, held_probabilities = answer_probabilities(forward, pixels[held], tta)
    held_folders = [folders[i] for i in held]
    right = held_right(held_probabilities, targets[held])
    threshold = photo_threshold(held_probabilities, targets[held].sum(axis=1) > 0, right,
                                settings.sure_right)  # fmt: skip
    after = score(held_probabilities, held_folders, photo_set.folders, threshold)
    _, val = answer_probabilities(forward, splits.val_x, tta)
    learned = {
        "photos": str(photo_set.root),
        "classes": photo_set.mapping_source,
        "folders": {
            f: [CLASS_NAMES[k] for k in c]
            for f, c in photo_set.folders.items()
            if f not in photo_set.missing
        },
        "skipped": photo_set.skipped,
        "missing_folders": photo_set.missing,
        "learned_from": len(learn),
        "held_out": len(held),
        "settings": dataclasses.asdict(settings),
    }
    kept = {k: v for k, v in info.items() if k not in ("class_names", "input")}
    metadata = {**kept, "unsure_below": round(threshold, 6), "photo_learning": learned}
    save_model(model, run.model_path, info.get("class_names"), metadata)
    record = Photos(
        **learned,
        unsure_below=threshold,
        held_out_scores={"before": before, "after": after},
        val_accuracy_after=float(np.mean(val.argmax(axis=1) == splits.val_y)) if len(val) else None,
        prepare_s=round(prepared_s, 2),
        seconds=round(time.perf_counter() - started, 2),
    )
    run.write_photos(record)
    grid = held_out_grid(pixels[held], held_probabilities, held_folders, photo_set, threshold)
    save_figure(grid, run.photos_figure)
    answered = 1 - after.overall.in_class_flagged
    save_figure(risk_coverage_figure(after.risk_coverage, answered), run.photos_curve)
    return record


def held_right(probabilities: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Whether each in-class photo's answer is one of the classes it may be (False for
    out-of-class photos, which have no right class)."""
    answers = np.asarray(probabilities).argmax(axis=1)
    return targets[np.arange(len(answers)), answers] > 0


def held_out_grid(pixels, probabilities, folders, photo_set, threshold, count: int = 20):
    """A few held-out photos of each folder as the model saw them, titled with its answer
    and the folder: blue when right ("not sure" is right for out-of-class photos)."""
    rng = np.random.default_rng(0)
    chosen = rng.permutation(len(pixels))[:count]
    titles, colors = [], []
    for k in sorted(chosen, key=lambda k: folders[k]):
        answer = int(np.argmax(probabilities[k]))
        unsure = is_unsure(probabilities[k], threshold)
        allowed = photo_set.folders[folders[k]]
        right = unsure if not allowed else (answer in allowed and not unsure)
        said = verdict(CLASS_NAMES[answer], unsure).replace("not sure: looks most like", "?")
        titles.append(f"{said}\n({folders[k]})")
        colors.append(RIGHT_COLOR if right else WRONG_COLOR)
    return image_grid(pixels[sorted(chosen, key=lambda k: folders[k])], titles, colors)


def learn_photos_if_asked(run_dir: Path | str, data=None, echo=print) -> Photos | None:
    """A trained run whose config names photos (`--photos`) learns them, once."""
    run = RunFolder(run_dir)
    config = make_config(run.read_config_values())
    if not config.photos or run.photos_path.is_file():
        return None
    settings = PhotoLearning(config.photos, config.photo_classes, seed=config.seed)
    record = learn_photos(run.path, settings, data, echo)
    before, after = record.before.overall.top1, record.after.overall.top1
    if before is not None and after is not None:  # none when no held-out photo has a class
        echo(f"[photos] held-out photos top-1 {before:.1%} -> {after:.1%}; "
             f"not sure below {record.unsure_below:.3f}")  # fmt: skip
    return record
