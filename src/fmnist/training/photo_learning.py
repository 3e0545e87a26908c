"""Learning people's photos: a trained run fine-tuned on labelled photos and Fashion-MNIST
together, so that it answers photos well, says "not sure" for what is none of the ten
classes, and keeps what it knew.

    >>> summary = learn_photos("runs/20261129-101500-lean_cnn", PhotoLearning("photos-train"))
    >>> summary["held_out"]["after"]["top1"], summary["unsure_below"]

The method, one loss for every image (`set_loss`): each image's target is the set of classes
it may be, as 0/1 over the ten. A Fashion-MNIST image or a photo of one class has one; a
photo of "shoes" has three (Sandal, Sneaker, Ankle boot: the loss is the negative log of
their summed probability, so the model is never made to pick one); a photo of none of the
ten (a hat, shorts, a skirt) has an empty set, and its loss is the cross-entropy to the
uniform distribution (outlier exposure, Hendrycks et al. 2019), weighted. Every batch mixes
photos with Fashion-MNIST images (`fmnist_per_photo` of them for each photo), so the model
does not forget. Photos are prepared exactly as `fmnist predict` prepares them
(`fmnist.photos.prepared`), augmented by flips, shifts and gain. A share of each folder is
held out: the "not sure" threshold is chosen on it, and it is scored before and after.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from fmnist.artifacts import load_model_with_metadata, save_model
from fmnist.data import CLASS_NAMES, load_dataset, make_splits
from fmnist.data.photo_sets import find_photo_set, split_photo_set
from fmnist.errors import FmnistError
from fmnist.photos.prepared import prepare_photos
from fmnist.photos.scoring import score_folders
from fmnist.photos.unsure import photo_threshold, verdict
from fmnist.plots import RIGHT_COLOR, WRONG_COLOR, image_grid, save_figure
from fmnist.run_folder import RunFolder, write_json
from fmnist.training.augment import augment
from fmnist.training.config import make_config
from fmnist.training.models import answer_probabilities, forward_function


@dataclass(frozen=True)
class PhotoLearning:
    photos: str  # a folder of labelled photo folders (photos-train's layout)
    classes: str | None = None  # its class mapping (TOML); default: its classes.toml, or ours
    # Chosen on photos-train's held-out share and Fashion-MNIST's validation split
    # (docs/models-and-predictions.md): 80 passes at 4e-3 gave held-out top-1 83.5% and
    # validation 93.8%; 40 at 2e-3 80.8% and 93.7%, 80 at 2e-3 81.8% and 94.0%, 80 at 6e-3
    # 81.0% and 93.6%; 2 Fashion-MNIST images per photo instead of 4 forgot more.
    epochs: int = 80  # passes over the photos kept for learning
    learning_rate: float = 4e-3  # Adam's peak, with a cosine decay; the run learned at 5e-3
    batch_size: int = 128  # images a step, photos and Fashion-MNIST together
    fmnist_per_photo: int = 4  # Fashion-MNIST images mixed in for each photo: no forgetting
    outlier_weight: float = 0.5  # the out-of-class photos' loss, relative to the others
    holdout: float = 0.15  # share of each folder held out to choose the threshold on
    in_class_flagged: float = 0.10  # at most this share of held-out in-class photos "not sure"
    rotation: float = 0.0  # photos turned by up to this many degrees each way (12: worse)
    scale: float = 0.0  # photos scaled by up to this share each way (0.12: worse)
    seed: int = 0


def set_loss(outlier_weight: float):
    """The loss of probabilities against 0/1 targets over the classes each image may be:
    -log(sum of the allowed classes' probabilities); for an empty set, `outlier_weight`
    times the cross-entropy to the uniform distribution."""

    def loss(targets, probabilities):
        ops = keras.ops
        probabilities = ops.clip(ops.cast(probabilities, "float32"), 1e-7, 1.0)
        targets = ops.cast(targets, "float32")
        allowed = ops.sum(targets * probabilities, axis=-1)
        in_class = -ops.log(ops.clip(allowed, 1e-7, 1.0))
        uniform = -ops.mean(ops.log(probabilities), axis=-1)
        has_class = ops.sum(targets, axis=-1) > 0
        return ops.where(has_class, in_class, outlier_weight * uniform)

    return loss


def photo_batches(photos, photo_targets, fmnist_x, fmnist_y, settings, epoch):
    """One epoch's images and targets: every kept photo (augmented) and `fmnist_per_photo`
    times as many Fashion-MNIST training images, drawn afresh each epoch, shuffled."""
    rng = np.random.default_rng([settings.seed, epoch])
    count = settings.fmnist_per_photo * len(photos)
    rows = rng.choice(len(fmnist_x), size=min(count, len(fmnist_x)), replace=False)
    photos = augment_photos(photos, rng, settings.rotation, settings.scale)
    images = np.concatenate([photos, fmnist_x[rows]])
    targets = np.concatenate(
        [photo_targets, np.eye(len(CLASS_NAMES), dtype=np.float32)[fmnist_y[rows]]]
    )
    order = rng.permutation(len(images))
    return images[order][..., None].astype(np.float32), targets[order]


def augment_photos(pixels: np.ndarray, rng, rotation: float = 0.0, scale: float = 0.0):
    """Flips, shifts of up to 2 pixels, a gain of 0.75-1.25, and with `rotation` and `scale`
    a random turn and size: what varies between two phone photos of one garment after the
    preparation steps."""
    images = augment(pixels, rng, shift=2, flip=True, erasing=0.0)
    if rotation or scale:
        import cv2

        angles = rng.uniform(-rotation, rotation, len(images))
        sizes = rng.uniform(1 - scale, 1 + scale, len(images))
        images = np.stack(
            [
                cv2.warpAffine(image, cv2.getRotationMatrix2D((13.5, 13.5), a, s), (28, 28))
                for image, a, s in zip(images, angles, sizes, strict=True)
            ]
        )
    gain = rng.uniform(0.75, 1.25, size=(len(pixels), 1, 1))
    return np.clip(images.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def score(probabilities, folders, mapping, threshold=None) -> dict:
    """Top-1, top-3 and not-sure rates of held-out photos, per folder and overall."""
    names = np.array(folders)
    by_folder = {f: probabilities[names == f] for f in sorted(set(folders))}
    return score_folders(by_folder, threshold, mapping)


def learn_photos(run_dir: Path | str, settings: PhotoLearning, data=None, echo=print) -> dict:
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
    targets, folders = photo_set.targets(), photo_set.folder_of
    config = make_config(run.read_config_values())
    data = data or load_dataset(data_dir=config.data_dir)
    splits = make_splits(data, config)
    model, info = load_model_with_metadata(run.model_path)
    held_folders = [folders[i] for i in held]
    views = dict(flip_tta=config.tta, shift_tta=config.shift_tta)  # as the model answers
    _, held_probabilities = answer_probabilities(forward_function(model), pixels[held], **views)
    before = score(held_probabilities, held_folders, photo_set.folders)
    keras.utils.set_random_seed(settings.seed)
    steps = settings.epochs * int(
        np.ceil(len(learn) * (1 + settings.fmnist_per_photo) / settings.batch_size)
    )
    rate = keras.optimizers.schedules.CosineDecay(settings.learning_rate, max(steps, 1), alpha=1e-2)
    model.compile(optimizer=keras.optimizers.Adam(rate), loss=set_loss(settings.outlier_weight))
    for epoch in range(settings.epochs):
        x, y = photo_batches(
            pixels[learn], targets[learn], splits.train_x, splits.train_y, settings, epoch
        )
        model.fit(x, y, batch_size=settings.batch_size, epochs=1, shuffle=False, verbose=0)
    forward = forward_function(model)
    _, held_probabilities = answer_probabilities(forward, pixels[held], **views)
    in_class = targets[held].sum(axis=1) > 0
    threshold = photo_threshold(held_probabilities, in_class, settings.in_class_flagged)
    after = score(held_probabilities, held_folders, photo_set.folders, threshold)
    _, val = answer_probabilities(forward, splits.val_x, **views)
    learned = {
        "photos": str(photo_set.root),
        "classes": photo_set.mapping_source,
        "folders": {f: [CLASS_NAMES[k] for k in c] for f, c in photo_set.folders.items()},
        "learned_from": len(learn),
        "held_out": len(held),
        "settings": dataclasses.asdict(settings),
    }
    save_model(
        model,
        run.model_path,
        info.get("class_names"),
        {
            **{k: v for k, v in info.items() if k not in ("class_names", "input")},
            "unsure_below": round(threshold, 6),
            "photo_learning": learned,
        },
    )
    record = {
        **learned,
        "unsure_below": threshold,
        "held_out_scores": {"before": before, "after": after},
        "val_accuracy_after": float(np.mean(val.argmax(axis=1) == splits.val_y))
        if len(val)
        else None,
        "prepare_s": round(prepared_s, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_json(run.photos_path, record)
    grid = held_out_grid(pixels[held], held_probabilities, held_folders, photo_set, threshold)
    save_figure(grid, run.photos_figure)
    return record


def held_out_grid(pixels, probabilities, folders, photo_set, threshold, count: int = 20):
    """A few held-out photos of each folder as the model saw them, titled with its answer
    and the folder: blue when right ("not sure" is right for out-of-class photos)."""
    rng = np.random.default_rng(0)
    chosen = rng.permutation(len(pixels))[:count]
    titles, colors = [], []
    for k in sorted(chosen, key=lambda k: folders[k]):
        answer = int(np.argmax(probabilities[k]))
        unsure = probabilities[k].max() < threshold
        allowed = photo_set.folders[folders[k]]
        right = unsure if not allowed else (answer in allowed and not unsure)
        said = verdict(CLASS_NAMES[answer], unsure).replace("not sure: looks most like", "?")
        titles.append(f"{said}\n({folders[k]})")
        colors.append(RIGHT_COLOR if right else WRONG_COLOR)
    return image_grid(pixels[sorted(chosen, key=lambda k: folders[k])], titles, colors)


def learn_photos_if_asked(run_dir: Path | str, data=None, echo=print) -> dict | None:
    """A trained run whose config names photos (`--photos`) learns them, once."""
    run = RunFolder(run_dir)
    config = make_config(run.read_config_values())
    if not config.photos or run.photos_path.is_file():
        return None
    settings = PhotoLearning(config.photos, config.photo_classes, seed=config.seed)
    record = learn_photos(run.path, settings, data, echo)
    held = record["held_out_scores"]
    echo(
        f"[photos] held-out photos top-1 {held['before']['overall']['top1']:.1%} -> "
        f"{held['after']['overall']['top1']:.1%}; not sure below {record['unsure_below']:.3f}"
    )
    return record
