"""Adapting a run's model to new labelled photos (corrections a person made on the page or
the command line), as a new version of it: nothing it learned before is forgotten.

    >>> version = adapt("runs/20261206-132439-lean_cnn", ["corrections"])  # doctest: +SKIP
    >>> version.version, version.new_before, version.new_after           # doctest: +SKIP
    (2, 0.0, 1.0)

The round continues photo learning (`fmnist.training.photo_learning`, its loss and batches):
each pass learns every new photo (a few corrections are repeated up to `new_per_pass`),
`replay` times as many photos learned before (the run's photo set and earlier rounds'),
and Fashion-MNIST images whose targets blend their labels with the model's own answers,
so that neither is forgotten. Every new photo is learned: a correction is meant to be. Only
a run that has no held-out photos of its own (one that never learned photos) keeps a share
of each new folder of `hold_out_from` photos or more out, to choose its "not sure"
threshold on; the threshold is chosen again on every held-out photo, old and new. Before
and after, the round measures Fashion-MNIST's test set, the earlier rounds' held-out
photos and the new ones. The model the run had is kept as `versions/vN.keras`, the new one
becomes the run's model (written atomically), and versions.json says what each learned.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from fmnist.artifacts import load_model_with_metadata, save_model
from fmnist.data import CLASS_NAMES, load_dataset, make_splits
from fmnist.data.photo_sets import find_photo_set, split_photo_set
from fmnist.errors import FmnistError
from fmnist.inference.answers import answer_probabilities, forward_function
from fmnist.inference.unsure import SURE_RIGHT, is_unsure, photo_threshold, verdict
from fmnist.photos.prepared import prepare_photos
from fmnist.plots import RIGHT_COLOR, image_grid, save_figure
from fmnist.run_folder import ModelVersion, PhotoChange, Run, Versions
from fmnist.training.config import make_config
from fmnist.training.photo_learning import (
    PhotoBatches,
    fit_passes,
    fmnist_targets,
    folder_weights,
    held_right,
)


@dataclass(frozen=True)
class Adapting:
    # Chosen on photos-train with bench/teach.py (docs/models-and-predictions.md): a hundred
    # photos learned in well under a minute on 2 cores, the photos held out before and
    # Fashion-MNIST's test set kept within their noise.
    epochs: int = 12  # passes
    learning_rate: float = 1e-3  # Adam's peak, cosine decay: a quarter of photo learning's
    batch_size: int = 128
    new_per_pass: int = 48  # few new photos are repeated to this many draws a pass
    replay: float = 12.0  # photos learned before, drawn per new photo each pass: no forgetting
    balance: float = 0.5  # earlier folders drawn as count**(1 - balance)
    fmnist_per_photo: int = 4
    fmnist_pool: int = 12_000  # Fashion-MNIST training images drawn from (answers made once)
    distill: float = 0.7
    outlier_weight: float = 0.5
    holdout: float = 0.15  # a run with no held-out photos holds out this share of a folder ...
    hold_out_from: int = 10  # ... of this many new photos or more
    sure_right: float = SURE_RIGHT
    seed: int = 0


ADAPTING = Adapting()


@dataclass
class Labelled:
    """Photos with the classes each may be (N, 10; none: out of class) and their folder."""

    files: list[Path]
    allowed: np.ndarray
    folders: list[str]

    def __len__(self) -> int:
        return len(self.files)

    def __add__(self, other: Labelled) -> Labelled:
        return Labelled(self.files + other.files, np.concatenate([self.allowed, other.allowed]),
                        self.folders + other.folders)  # fmt: skip


def labelled(files, classes: dict[str, list[str]]) -> Labelled:
    """Files whose folder names their classes in `classes` (folder -> class names)."""
    files = [Path(f) for f in files]
    allowed = np.zeros((len(files), len(CLASS_NAMES)), np.float32)
    for row, path in enumerate(files):
        allowed[row, [CLASS_NAMES.index(c) for c in classes[path.parent.name]]] = 1
    return Labelled(files, allowed, [p.parent.name for p in files])


def existing(files) -> list[Path]:
    return [Path(f) for f in files if Path(f).is_file()]


def earlier_photos(run: Run) -> tuple[Labelled, Labelled, set[Path]]:
    """(learned, held out, every file) of the run's photo learning and earlier rounds."""
    learned, held = labelled([], {}), labelled([], {})
    if run.photos is not None:
        mapping = Path(run.photos.classes or "")
        photo_set = find_photo_set(run.photos.photos, mapping if mapping.is_file() else None)
        settings = run.photos.settings  # photo learning's: its held-out share and seed
        rows = split_photo_set(photo_set, settings["holdout"], settings["seed"])
        classes = {f: [CLASS_NAMES[k] for k in c] for f, c in photo_set.folders.items()}
        files = np.array(photo_set.files, dtype=object)
        learned += labelled(files[rows[0]].tolist(), classes)
        held += labelled(files[rows[1]].tolist(), classes)
    for version in run.versions.versions:
        learned += labelled(existing(version.learned_files), version.classes)
        held += labelled(existing(version.held_files), version.classes)
    seen = {p.resolve() for p in learned.files + held.files}
    return learned, held, seen


def new_photos(photo_dirs, seen: set[Path], settings: Adapting, hold_out: bool):
    """(learned, held out, classes) of the photos in `photo_dirs` not learned before; with
    `hold_out`, a share of each folder of `hold_out_from` photos or more is held out."""
    learned, held, classes = labelled([], {}), labelled([], {}), {}
    for root in photo_dirs:
        photo_set = find_photo_set(root)
        names = {f: [CLASS_NAMES[k] for k in c] for f, c in photo_set.folders.items()}
        classes.update(names)
        for folder in sorted(set(photo_set.folder_of)):
            files = [p for p in photo_set.files
                     if p.parent.name == folder and p.resolve() not in seen]  # fmt: skip
            share = settings.holdout if hold_out and len(files) >= settings.hold_out_from else 0
            rng = np.random.default_rng(settings.seed)
            order = rng.permutation(len(files))
            cut = int(round(share * len(files)))
            held += labelled([files[k] for k in sorted(order[:cut])], names)
            learned += labelled([files[k] for k in sorted(order[cut:])], names)
    if not len(learned) + len(held):
        raise FmnistError(f"{', '.join(map(str, photo_dirs))}: no photos the model has not "
                          "learned already")  # fmt: skip
    return learned, held, classes


def top1(probabilities: np.ndarray, photos: Labelled) -> float | None:
    """Top-1 of the in-class photos (None without any)."""
    in_class = photos.allowed.sum(axis=1) > 0
    if not in_class.any():
        return None
    return float(held_right(probabilities, photos.allowed)[in_class].mean())


def said(probabilities: np.ndarray, threshold: float | None) -> str:
    answer = CLASS_NAMES[int(np.argmax(probabilities))]
    return verdict(answer, is_unsure(probabilities, threshold))


def is_answered_right(probabilities, allowed, threshold) -> np.ndarray:
    """Right answers: one of the photo's classes and sure; "not sure" for out-of-class ones."""
    unsure = np.array([is_unsure(p, threshold) for p in probabilities], dtype=bool)
    in_class = allowed.sum(axis=1) > 0
    return np.where(in_class, held_right(probabilities, allowed) & ~unsure, unsure)


def changes(photos: Labelled, before, after, thresholds) -> tuple[list, list]:
    """The new photos the round fixed (wrong before, right after) and broke."""
    right_before = is_answered_right(before, photos.allowed, thresholds[0])
    right_after = is_answered_right(after, photos.allowed, thresholds[1])
    rows = [
        PhotoChange(file=str(photos.files[k]), folder=photos.folders[k],
                    before=said(before[k], thresholds[0]), after=said(after[k], thresholds[1]))
        for k in range(len(photos))
    ]  # fmt: skip
    fixed = [rows[k] for k in np.flatnonzero(~right_before & right_after)]
    broken = [rows[k] for k in np.flatnonzero(right_before & ~right_after)]
    return fixed, broken


def per_folder(photos: Labelled, before, after) -> dict[str, list]:
    names = np.array(photos.folders)
    result = {}
    for folder in sorted(set(photos.folders)):
        part = names == folder
        chosen = Labelled([f for f, p in zip(photos.files, part, strict=True) if p],
                          photos.allowed[part], [folder] * int(part.sum()))  # fmt: skip
        result[folder] = [top1(before[part], chosen), top1(after[part], chosen)]
    return result


def photo_batches(new: Labelled, new_pixels, old: Labelled, old_pixels, fmnist, settings):
    """Each pass: every new photo (repeated to `new_per_pass` draws), `replay` times as many
    earlier ones, and Fashion-MNIST (`PhotoBatches`)."""
    seen_new = max(len(new), settings.new_per_pass) if len(new) else 0
    replayed = min(len(old), int(settings.replay * seen_new)) if len(old) else 0
    weights = np.concatenate([
        np.full(len(new), seen_new / len(new)) if len(new) else np.zeros(0),
        folder_weights(old.folders, settings.balance) * replayed if len(old) else np.zeros(0),
    ])  # fmt: skip
    pixels = np.concatenate([new_pixels, old_pixels]) if len(old) else new_pixels
    allowed = np.concatenate([new.allowed, old.allowed]) if len(old) else new.allowed
    return PhotoBatches(pixels, allowed, weights / weights.sum(), seen_new + replayed, *fmnist,
                        settings)  # fmt: skip


def fmnist_pool(model_forward, splits, tta: int, settings: Adapting):
    """A pool of Fashion-MNIST training images and their blended targets."""
    rng = np.random.default_rng(settings.seed)
    rows = rng.choice(len(splits.train_x), min(settings.fmnist_pool, len(splits.train_x)), False)
    _, answers = answer_probabilities(model_forward, splits.train_x[rows], tta)
    return splits.train_x[rows], fmnist_targets(splits.train_y[rows], answers, settings.distill)


def test_accuracy(forward, data, tta: int) -> float:
    _, probabilities = answer_probabilities(forward, data.test_images, tta)
    return float(np.mean(probabilities.argmax(axis=1) == data.test_labels))


def first_version(run: Run) -> Versions:
    """The versions so far; a run never adapted has one, the model as its stages made it."""
    if run.versions.versions:
        return run.versions
    test = run.metrics.split("test")
    photos = run.photos
    return Versions(versions=[ModelVersion(
        version=1, file=str(run.folder.version_path(1).relative_to(run.path)),
        learned="photos" if photos else "training", created=run.record.created,
        photos=[photos.photos] if photos else [], fmnist_test=test.accuracy if test else None,
        earlier_held_out=photos.after.overall.top1 if photos else None,
        unsure_below=photos.unsure_below if photos else None,
    )])  # fmt: skip


@dataclass
class Round:
    """A correction round's photos, each group with its prepared pixels: the new ones
    (learned, held out) and those learned before (replayed, held out then)."""

    new: Labelled
    new_held: Labelled
    old: Labelled
    old_held: Labelled
    classes: dict
    pixels: dict  # group name -> (N, 28, 28) uint8

    @property
    def everything(self) -> Labelled:  # every new photo: what the round is judged on
        return self.new + self.new_held

    @property
    def held(self) -> Labelled:  # every held-out photo: what the threshold is chosen on
        return self.old_held + self.new_held

    def x(self, *groups: str) -> np.ndarray:
        return np.concatenate([self.pixels[g] for g in groups])


def gather_round(run: Run, photo_dirs, settings: Adapting) -> Round:
    """The new photos in `photo_dirs` and those the run learned before, prepared."""
    old, old_held, seen = earlier_photos(run)
    new, new_held, classes = new_photos(photo_dirs, seen, settings, hold_out=not len(old_held))
    groups = {"new": new, "new_held": new_held, "old": old, "old_held": old_held}
    pixels = prepare_photos([f for g in groups.values() for f in g.files])
    parts = np.split(pixels, np.cumsum([len(g) for g in groups.values()])[:-1])
    return Round(new, new_held, old, old_held, classes, dict(zip(groups, parts, strict=True)))


def measure(forward, photos: Round, data, tta: int) -> tuple:
    """Answers for every new photo and every held-out one, and Fashion-MNIST test accuracy."""

    def answer(x):
        return answer_probabilities(forward, x, tta)[1] if len(x) else np.zeros((0, 10))

    everything, held = photos.x("new", "new_held"), photos.x("old_held", "new_held")
    return answer(everything), answer(held), test_accuracy(forward, data, tta)


def chosen_threshold(held: Labelled, probabilities, before: float | None, settings) -> float | None:
    """The "not sure" threshold chosen again on the held-out photos (kept without any)."""
    in_class = held.allowed.sum(axis=1) > 0
    if not in_class.any():
        return before
    right = held_right(probabilities, held.allowed)
    return photo_threshold(probabilities, in_class, right, settings.sure_right)


def adapt(run_dir, photo_dirs, data=None, echo=print, settings=ADAPTING) -> ModelVersion:
    """Learn the new photos in `photo_dirs` as a new version of the run's model."""
    started = time.perf_counter()
    run = Run.load(run_dir)
    if not run.folder.model_path.is_file():
        raise FmnistError(f"{run.path}: no trained model to adapt")
    versions = first_version(run)
    photos = gather_round(run, photo_dirs, settings)
    echo(f"[adapt] {len(photos.everything)} new photos ({len(photos.new_held)} held out), "
         f"{len(photos.old)} learned before to replay")  # fmt: skip
    config = make_config(run.config)
    data = data or load_dataset(data_dir=config.data_dir)
    model, info = load_model_with_metadata(run.folder.model_path)
    forward = forward_function(model)
    before = measure(forward, photos, data, config.tta)
    pool = fmnist_pool(forward, make_splits(data, config), config.tta, settings)
    batches = photo_batches(photos.new, photos.pixels["new"], photos.old, photos.pixels["old"],
                            pool, settings)  # fmt: skip
    model = fit_passes(model, batches, settings, echo, stage="adapt")
    after = measure(forward_function(model), photos, data, config.tta)
    unsure_before = info.get("unsure_below")
    thresholds = (unsure_before, chosen_threshold(photos.held, after[1], unsure_before, settings))
    number = versions.current.version + 1
    save_version(run, model, info, versions.current.version, number, thresholds[1])
    version = version_record(run, number, photos, before, after, thresholds, photo_dirs, settings)
    version.seconds = round(time.perf_counter() - started, 2)
    versions.versions.append(version)
    run.folder.write_versions(versions)
    draw_fixed(run, version, photos.everything, photos.x("new", "new_held"))
    return version


def save_version(run: Run, model, info: dict, current: int, number: int, threshold) -> None:
    """The model the run had kept as version `current`; the new one becomes the run's
    model (atomically) and version `number`."""
    keep_version(run, current)
    kept = {k: v for k, v in info.items() if k not in ("class_names", "input")}
    metadata = {**kept, "unsure_below": round(threshold, 6) if threshold is not None else None,
                "version": number}  # fmt: skip
    save_model(model, run.folder.model_path, info.get("class_names"), metadata)
    shutil.copyfile(run.folder.model_path, run.folder.version_path(number))


def version_record(run, number, photos: Round, before, after, thresholds, photo_dirs, settings):
    """What version `number` learned and what it changed, before -> after."""
    everything, old_held = photos.everything, photos.old_held
    fixed, broken = changes(everything, before[0], after[0], thresholds)
    return ModelVersion(
        version=number, file=str(run.folder.version_path(number).relative_to(run.path)),
        learned="corrections", created=datetime.now().isoformat(timespec="seconds"),
        photos=[str(Path(d)) for d in photo_dirs], new_photos=len(everything),
        learned_from=len(photos.new), replayed_from=len(photos.old), unsure_below=thresholds[1],
        fmnist_test_before=before[2], fmnist_test=after[2],
        earlier_held_out_before=top1(before[1][: len(old_held)], old_held),
        earlier_held_out=top1(after[1][: len(old_held)], old_held),
        new_before=top1(before[0], everything), new_after=top1(after[0], everything),
        per_folder=per_folder(everything, before[0], after[0]), fixed=fixed, broken=broken,
        settings=dataclasses.asdict(settings), classes=photos.classes,
        learned_files=[str(f) for f in photos.new.files],
        held_files=[str(f) for f in photos.new_held.files],
    )  # fmt: skip


def keep_version(run: Run, number: int) -> None:
    """The run's model as it is now, kept as version `number` before a new one replaces it."""
    path = run.folder.version_path(number)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run.folder.model_path, path)


def draw_fixed(run: Run, version: ModelVersion, photos: Labelled, pixels, count: int = 20):
    """The photos the round fixed, as the model sees them, with both answers."""
    index = {str(f): k for k, f in enumerate(photos.files)}
    shown = version.fixed[:count]
    if not shown:
        run.folder.version_figure(version.version).unlink(missing_ok=True)
        return
    images = pixels[[index[c.file] for c in shown]]
    titles = [f"{c.before.replace('not sure: looks most like', '?')}\n-> {c.after}" for c in shown]
    columns = min(5, len(shown))
    figure = image_grid(images, titles, [RIGHT_COLOR] * len(shown), columns=columns)
    save_figure(figure, run.folder.version_figure(version.version))
