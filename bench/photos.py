"""Prediction on people's photos: top-1 and top-3 per folder and overall, the unsure rates,
how often a sure answer is right, and the risk-coverage curve, for a folder laid out like
photos-dev (each folder's classes as its classes.toml maps them).

    python bench/photos.py --model runs/<run>        # ../shared/photos-dev, else the cache's
    python bench/photos.py --model runs/<run> --photos DIR --threshold 0.6
    python bench/photos.py --model runs/<run> --no-segment          # Zalando's steps alone
    python bench/photos.py --model runs/<run> --photos ../shared/photos-train --grabcut-size 80

Footwear is scored exactly where a folder names one kind (sneaker, sandal, ankle-boot);
"shoes" counts any of Sandal, Sneaker, Ankle boot; hat, shorts and skirt are out of class,
right only when "not sure". The share flagged "not sure" uses the model's own threshold
(fmnist.inference.unsure), or --threshold. The photos go through `fmnist predict`'s steps (the
garment found first). Writes bench/results/photos.json. Photos are for measuring only:
nothing here trains on them.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from common import write_result  # noqa: E402
from fmnist.data.photo_sets import PhotoSetError, find_photo_set  # noqa: E402
from fmnist.photos import segmentation  # noqa: E402
from fmnist.photos.prepare import PLAIN, load_photo_steps  # noqa: E402
from fmnist.photos.scoring import score_folders  # noqa: E402
from fmnist.predict import Predictor  # noqa: E402
from fmnist.run_folder import resolve_model_path  # noqa: E402

SHARED_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "photos-dev"


def default_photos() -> Path:
    """../shared/photos-dev beside the checkout, else the downloaded set's validation split."""
    from fmnist.data.photo_download import photo_set_dir

    return SHARED_PHOTOS if SHARED_PHOTOS.is_dir() else photo_set_dir() / "validation"


def read_folders(root: Path, classes: Path | None) -> tuple[dict[str, list[Path]], dict]:
    """The photos by folder, and what each folder holds (fmnist.data.photo_sets)."""
    try:
        photo_set = find_photo_set(root, classes)
    except PhotoSetError as error:
        raise SystemExit(str(error)) from None
    folders: dict[str, list[Path]] = {}
    for path in photo_set.files:
        folders.setdefault(path.parent.name, []).append(path)
    return folders, photo_set.folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="A model file or a run folder.")
    parser.add_argument("--photos", type=Path, default=None, help="Photo folders.")
    parser.add_argument(
        "--threshold", type=float, help="Top probability below: not sure (default: the model's)."
    )
    parser.add_argument(
        "--no-segment", action="store_true", help="Skip finding the garment (GrabCut)."
    )
    parser.add_argument(
        "--classes", type=Path, help="The folders' class mapping (default: theirs, or ours)."
    )
    parser.add_argument(
        "--grabcut-size",
        type=int,
        default=segmentation.WORKING_SIZE,
        help="GrabCut's working size, pixels of the long edge (to weigh its cost).",
    )
    parser.add_argument(
        "--grabcut-iterations", type=int, default=segmentation.ITERATIONS, help="GrabCut's rounds."
    )
    args = parser.parse_args()
    segmentation.WORKING_SIZE, segmentation.ITERATIONS = args.grabcut_size, args.grabcut_iterations
    path, _ = resolve_model_path(args.model)
    predictor = Predictor.load(path)
    threshold = args.threshold if args.threshold is not None else predictor.unsure_below
    probabilities, seconds, count, fallbacks, plain = {}, 0.0, 0, 0, 0
    args.photos = args.photos or default_photos()
    folders, mapping = read_folders(args.photos, args.classes)
    for name, files in folders.items():
        started = time.perf_counter()
        steps = [load_photo_steps(f, segment=not args.no_segment) for f in files]
        seconds += time.perf_counter() - started
        count += len(files)
        fallbacks += sum(s.fell_back for s in steps)
        plain += sum(s.segmentation == PLAIN for s in steps)
        probabilities[name] = predictor.probabilities(np.stack([s.pixels for s in steps]))
    score = score_folders(probabilities, threshold, mapping)
    print_folders(score)
    o = score.overall
    print(
        f"\noverall ({o.in_class_photos} photos with a class): top-1 {100 * o.top1:.1f}%, "
        f"top-3 {100 * o.top3:.1f}% (top-1 without longsleeve "
        f"{100 * o.top1_without_approximate:.1f}%); weakest folder {o.weakest_folder}; "
        f"preprocessing {1000 * seconds / count:.1f} ms a photo"
    )
    if not args.no_segment:
        print(
            f"plain background (trimmed, no GrabCut): {plain} of {count} photos; no garment "
            f"found (trimmed instead): {fallbacks}"
        )
    if threshold is not None:
        sure = o.sure_accuracy
        print(
            f"not sure below {threshold:.3f}: {percent(o.out_of_class_flagged)} of "
            f"out-of-class photos flagged, {percent(o.in_class_flagged)} of in-class ones; "
            + ("no answer is sure" if sure is None else f"sure answers right {100 * sure:.1f}%")
        )
    print("\nrisk-coverage (in-class photos, surest first):")
    for coverage, accuracy, confidence in score.risk_coverage:
        print(f"  {100 * coverage:5.0f}% answered: {100 * accuracy:5.1f}% right "
              f"(top probability >= {confidence:.3f})")  # fmt: skip
    write_result(
        "photos",
        {
            "model": str(path),
            "photos": str(args.photos),
            "segment": not args.no_segment,
            "grabcut": {"size": args.grabcut_size, "iterations": args.grabcut_iterations},
            "segmentation_fallbacks": fallbacks,
            "plain_background": plain,
            "preprocess_ms": 1000 * seconds / count,
            **score.to_dict(),
        },
    )


def percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f}%"


def print_folders(score) -> None:
    print(
        f"{'folder':<11} {'photos':>6} {'top-1':>7} {'top-3':>7} {'unsure':>7} "
        f"{'sure right':>10}  most answered"
    )
    for name, s in score.folders.items():
        top1, top3, unsure = (percent(s.share(n)) for n in (s.top1, s.top3, s.unsure))
        sure = f"{s.sure_right}/{s.sure}" if s.sure is not None else "-"
        most = sorted(s.answers.items(), key=lambda x: -x[1])[:3]
        answers = ", ".join(f"{k} {v}" for k, v in most)
        print(f"{name:<11} {s.photos:>6} {top1:>7} {top3:>7} {unsure:>7} {sure:>10}  {answers}")


if __name__ == "__main__":
    main()
