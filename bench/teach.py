"""The teaching loop, measured: a photo-ready model that never saw one folder of photos is
corrected on N of them (N = 10, 25, 50, 100), adapts (`fmnist adapt`), and is measured on
the rest of that folder, on the photos held out when it learned the others, and on
Fashion-MNIST's test set.

    python bench/teach.py                         # dress held back, ../shared/photos-train
    python bench/teach.py --folder shirt --counts 10 50
    python bench/teach.py --base bench/results/teach-base   # reuse a base built before

The base is `fmnist train` (the default recipe) learning photos-train without the folder
(a view of it made of links); it is kept in bench/results/teach-base and reused when its
folder and seed match. The folder's photos are shuffled (--seed): the last 40% are
measured, the first N are the corrections. Each N starts from a fresh copy of the base.
Everything here is photos-train: choosing on it is allowed; photos-dev is not touched.
Prints a table and a Mermaid chart (for the docs) and writes bench/results/teach.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from common import RESULTS, data_dir, write_result  # noqa: E402
from fmnist.data.photo_sets import MAPPING_FILE, find_photo_set  # noqa: E402

PHOTOS_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "photos-train"


def view_without(photos: Path, folder: str, into: Path) -> Path:
    """photos-train's layout without `folder`: links to the other folders and the mapping."""
    into.mkdir(parents=True, exist_ok=True)
    for entry in photos.iterdir():
        if entry.name != folder and (entry.is_dir() or entry.name == MAPPING_FILE):
            (into / entry.name).symlink_to(entry.resolve())
    return into


def build_base(photos: Path, folder: str, seed: int, where: Path) -> Path:
    """A run of the default recipe that learned every photo folder but `folder`."""
    from fmnist.stages import TRAIN_STAGES, run_stages
    from fmnist.training.config import resolve_config

    marker = where / "base.txt"
    if marker.is_file() and marker.read_text().split() == [folder, str(seed)]:
        return Path(next(where.glob("runs/*")))
    shutil.rmtree(where, ignore_errors=True)
    view = view_without(photos, folder, where / "photos")
    config = resolve_config(
        data_dir=data_dir(), photos=str(view), seed=seed, runs_dir=str(where / "runs")
    )  # the default recipe, as fmnist train
    run = run_stages(config, [s for s in TRAIN_STAGES if s != "track"])
    marker.write_text(f"{folder} {seed}\n")
    return Path(run)


def top1(model_path: Path, files: list[Path], allowed: tuple) -> float:
    """Top-1 of `files`, answered as `fmnist predict` answers (the run's TTA)."""
    from fmnist.photos.prepared import prepare_photos
    from fmnist.predict import Predictor

    predictor = Predictor.load(model_path)
    probabilities = predictor.probabilities(prepare_photos(files).astype(np.float64))
    return float(np.isin(probabilities.argmax(axis=1), allowed).mean())


def mermaid(folder: str, counts, accuracies) -> str:
    labels = ", ".join(str(n) for n in counts)
    values = ", ".join(f"{100 * a:.1f}" for a in accuracies)
    return "\n".join([
        "```mermaid", "xychart-beta",
        f'    title "{folder} photos it never saw: top-1 after N corrections"',
        f"    x-axis \"corrections (N)\" [{labels}]", '    y-axis "top-1 (%)" 0 --> 100',
        f"    line [{values}]", "```",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=PHOTOS_TRAIN)
    parser.add_argument("--folder", default="dress", help="The folder the base never sees.")
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 25, 50, 100])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base", type=Path, default=RESULTS / "teach-base")
    args = parser.parse_args()
    from fmnist.photos.corrections import CorrectionStore
    from fmnist.run_folder import RunFolder
    from fmnist.training.adapt import adapt

    photo_set = find_photo_set(args.photos)
    allowed = photo_set.folders[args.folder]
    label = None if not allowed else photo_set_label(allowed)
    files = [p for p in photo_set.files if p.parent.name == args.folder]
    files = [files[k] for k in np.random.default_rng(args.seed).permutation(len(files))]
    measured, pool = files[-int(0.4 * len(files)) :], files[: len(files) - int(0.4 * len(files))]
    if max(args.counts) > len(pool):
        raise SystemExit(
            f"{args.folder}: {len(pool)} photos to correct, fewer than {max(args.counts)}"
        )
    started = time.perf_counter()
    base = build_base(args.photos, args.folder, args.seed, args.base)
    print(f"base: {base} ({time.perf_counter() - started:.0f} s)")
    base_top1 = top1(RunFolder(base).model_path, measured, allowed)
    rows = [{"corrections": 0, "top1": base_top1}]
    print(f"{'N':>4}  {args.folder + ' top-1':>12}  {'adapt s':>7}  {'earlier held-out':>16}  "
          f"{'FMNIST test':>15}")  # fmt: skip
    print(f"{0:>4}  {base_top1:>12.1%}")
    for count in args.counts:
        with tempfile.TemporaryDirectory() as scratch:
            run = Path(scratch) / "run"
            shutil.copytree(base, run)
            store = CorrectionStore(Path(scratch) / "corrections")
            for path in pool[:count]:
                store.add_file(path, label)
            clock = time.perf_counter()
            version = adapt(run, [store.root], echo=lambda line: None)
            seconds = time.perf_counter() - clock
            after = top1(RunFolder(run).model_path, measured, allowed)
        held = [version.earlier_held_out_before, version.earlier_held_out]
        test = [version.fmnist_test_before, version.fmnist_test]
        rows.append({"corrections": count, "top1": after, "adapt_s": round(seconds, 1),
                     "earlier_held_out": held, "fmnist_test": test})  # fmt: skip
        print(f"{count:>4}  {after:>12.1%}  {seconds:>7.1f}  "
              f"{version.earlier_held_out_before:>7.1%} -> {version.earlier_held_out:.1%}  "
              f"{version.fmnist_test_before:.2%} -> {version.fmnist_test:.2%}")  # fmt: skip
    print(mermaid(args.folder, [r["corrections"] for r in rows], [r["top1"] for r in rows]))
    write_result("teach", {"folder": args.folder, "measured": len(measured), "rows": rows,
                           "command": "python bench/teach.py"})  # fmt: skip


def photo_set_label(allowed: tuple) -> str:
    """The class a folder's corrections are labelled with (its first, for a set)."""
    from fmnist.data import CLASS_NAMES

    return CLASS_NAMES[allowed[0]]


if __name__ == "__main__":
    main()
