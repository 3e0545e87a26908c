"""Ways to decide "not sure", measured against each other on a photo-ready run's held-out
photos (the share of photos-train it did not learn from; photos-dev is never used here).

    python bench/unsure_rules.py --model runs/<photo-ready run>

Each rule scores every answer; a higher score is surer. For each it prints how well the
score tells out-of-class photos from in-class ones and wrong in-class answers from right
ones (AUROC: 1 perfect, 0.5 chance), the area under the risk-coverage curve (the mean error
of the surest answers over every share answered: lower is better), and, at the cut that
leaves 10% of the in-class photos "not sure", the out-of-class photos flagged and how often
a sure answer is right. Rules: the top probability (fmnist's), the top probability after
temperature scaling (the temperature fitted on these photos), the energy score (the
log-sum-exp of the logits; Liu et al. 2020) and the margin between the two top classes.
Writes bench/results/unsure_rules.json.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from common import write_result  # noqa: E402
from fmnist.data.photo_sets import find_photo_set, split_photo_set  # noqa: E402
from fmnist.photos.prepared import prepare_photos  # noqa: E402
from fmnist.run_folder import RunFolder  # noqa: E402


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """The chance that a random positive scores above a random negative (ties: half)."""
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    greater = (positive[:, None] > negative[None, :]).mean()
    return float(greater + 0.5 * (positive[:, None] == negative[None, :]).mean())


def aurc(scores: np.ndarray, right: np.ndarray) -> float:
    order = np.argsort(-scores, kind="stable")
    errors = np.cumsum(~right[order]) / np.arange(1, len(order) + 1)
    return float(errors.mean())


def held_out_logits(run: RunFolder):
    """The held-out photos' logits (flip views averaged, as the model answers), their 0/1
    targets over the ten classes, and the run's threshold."""
    import keras

    from fmnist.artifacts import load_model_with_metadata
    from fmnist.inference.answers import answer_views, tta_level
    from fmnist.training.photo_learning import PhotoLearning

    record = run.read_photos()
    settings = PhotoLearning(**record.settings)  # how the run learned its photos
    photo_set = find_photo_set(settings.photos, settings.classes)
    _, held = split_photo_set(photo_set, settings.holdout, settings.seed)
    pixels = prepare_photos([photo_set.files[i] for i in held]).astype(np.float32)[..., None]
    model, info = load_model_with_metadata(run.model_path)
    head = model.get_layer("probabilities")
    features = keras.Model(model.inputs, head.input)
    weights, bias = head.get_weights()
    views = answer_views(pixels, tta_level(info))  # as the model answers
    logits = np.mean([features.predict(v, verbose=0) @ weights + bias for v in views], axis=0)
    return logits, photo_set.targets()[held], record.unsure_below


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature that minimises the in-class photos' negative log-likelihood of the
    classes they may be."""
    grid = np.exp(np.linspace(np.log(0.25), np.log(8), 80))
    nll = [-np.log((softmax(logits, t) * targets).sum(axis=1) + 1e-12).mean() for t in grid]
    return float(grid[int(np.argmin(nll))])


def measure(scores: np.ndarray, in_class: np.ndarray, right: np.ndarray) -> dict:
    """How a score separates, and its two operating points: the cut leaving 10% of the
    in-class photos unsure, and the lowest cut whose sure answers are 95% right."""
    inside = scores[in_class]
    cut = np.sort(inside)[int(np.floor(0.10 * len(inside)))]
    order = np.argsort(-inside, kind="stable")
    accuracy_of_top = np.cumsum(right[order]) / np.arange(1, len(order) + 1)
    enough = np.flatnonzero(accuracy_of_top >= 0.95)
    right_cut = inside[order][enough[-1]] if len(enough) else np.inf
    return {
        "auroc_out_of_class": auroc(inside, scores[~in_class]),
        "auroc_wrong": auroc(inside[right], inside[~right]),
        "aurc": aurc(inside, right),
        "out_of_class_flagged_at_10": float(np.mean(scores[~in_class] < cut)),
        "sure_accuracy_at_10": float(right[inside >= cut].mean()),
        "in_class_flagged_at_95": float(np.mean(inside < right_cut)),
        "out_of_class_flagged_at_95": float(np.mean(scores[~in_class] < right_cut)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="A photo-ready run folder.")
    args = parser.parse_args()
    run = RunFolder(args.model)
    if run.read_photos() is None:
        raise SystemExit(f"{run.path}: learned no photos (fmnist run learns them)")
    logits, targets, threshold = held_out_logits(run)
    in_class = targets.sum(axis=1) > 0
    probabilities = softmax(logits)
    right = (targets[in_class] * np.eye(10)[probabilities[in_class].argmax(axis=1)]).sum(1) > 0
    temperature = fit_temperature(logits[in_class], targets[in_class])
    top_two = np.sort(probabilities, axis=1)[:, -2:]
    rules = {
        "top probability": probabilities.max(axis=1),
        f"top probability, temperature {temperature:.2f}": softmax(logits, temperature).max(1),
        "energy (log-sum-exp of the logits)": np.log(np.exp(logits).sum(axis=1)),
        "margin of the two top classes": top_two[:, 1] - top_two[:, 0],
    }
    results = {name: measure(scores, in_class, right) for name, scores in rules.items()}
    print(
        f"{int(in_class.sum())} in-class and {int((~in_class).sum())} out-of-class held-out "
        f"photos; top-1 {right.mean():.1%}; the run's threshold {threshold:.3f}\n"
    )
    print(
        f"{'':<38} {'':>9} {'':>11} {'':>6} {'10% in-class unsure':>22} "
        f"{'sure answers 95% right':>24}"
    )
    print(f"{'rule':<38} {'AUROC out':>9} {'AUROC wrong':>11} {'AURC':>6} {'out flagged':>11} "
          f"{'sure right':>10} {'in flagged':>11} {'out flagged':>12}")  # fmt: skip
    for name, r in results.items():
        print(
            f"{name:<38} {r['auroc_out_of_class']:>9.3f} {r['auroc_wrong']:>11.3f} "
            f"{r['aurc']:>6.3f} {r['out_of_class_flagged_at_10']:>11.1%} "
            f"{r['sure_accuracy_at_10']:>10.1%} {r['in_class_flagged_at_95']:>11.1%} "
            f"{r['out_of_class_flagged_at_95']:>12.1%}"
        )
    write_result("unsure_rules", {"model": str(run.path), "rules": results})


if __name__ == "__main__":
    main()
