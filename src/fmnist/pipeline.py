"""The whole workflow in one call: the data found and checked, the photos to learn found,
then every stage (`fmnist.stages`) into one run folder with its report.

    >>> run_dir = run_pipeline(resolve_config(model="lean_cnn"))          # doctest: +SKIP

What each stage found goes into the run folder's pipeline record, so `fmnist report
RUN_DIR` can rebuild the report from the folder alone.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from fmnist.data.dataset import load_dataset, locate
from fmnist.data.download import download, verify_folder
from fmnist.data.photo_download import PhotoDownloadError, find_photos
from fmnist.errors import DataError
from fmnist.run_folder import Pipeline, records
from fmnist.stages import FORMATS, RUN_STAGES, check_formats, run_stages
from fmnist.training.config import TrainConfig


def data_checks(config: TrainConfig) -> tuple[Path, list[records.FileCheck]]:
    """Locate (or download) the four files and check each one's MD5."""
    try:
        _, folder = locate(config.data_dir)
    except DataError:
        folder = download()
    checks = verify_folder(folder)
    bad = [c for c in checks if not c.ok]
    if bad:
        raise DataError(f"{bad[0].path or folder / bad[0].name}: {bad[0].problem}")
    return folder, [records.FileCheck(file=c.name, md5=c.md5, ok=c.ok) for c in checks]


def photos_to_learn(config: TrainConfig, wanted: bool = True, echo: Callable = print):
    """The config with the labelled photos the run learns: `--photos` as given; else, when
    `wanted`, the photo set found ($FMNIST_PHOTOS_DIR, the cache) or downloaded
    (`fmnist.data.photo_download`). Where none can be had, one line says so and the run
    goes on with Fashion-MNIST alone."""
    if not wanted:
        return dataclasses.replace(config, photos=None)
    if config.photos:
        return config
    try:
        folder = find_photos()
    except PhotoDownloadError as error:
        echo(
            f"[photos] not taught photos: {error}. Its model answers people's photos "
            "less well; fmnist data photos download fetches them (--no-photos: skip this)"
        )
        return config
    return dataclasses.replace(config, photos=str(folder))


def run_pipeline(
    config: TrainConfig, formats=FORMATS, echo: Callable = print, photos: bool = True
) -> Path:
    """Every stage, in order, into one run folder; returns it. With `photos`, the run
    learns the photo set too where none is named (`photos_to_learn`)."""
    formats = check_formats(formats)  # before minutes of training, not after
    started = time.perf_counter()
    folder, checks = data_checks(config)
    data = load_dataset("folder", folder)
    config = photos_to_learn(config, photos, echo)
    seconds = round(time.perf_counter() - started, 2)
    learns = f"; photos to learn: {config.photos}" if config.photos else ""
    echo(f"[data] done in {seconds:.1f} s{learns}")
    pipeline = Pipeline(data=records.DataChecks(folder=str(folder), files=checks))
    pipeline.timings_s["data"] = seconds
    options = dict(data=data, echo=echo, formats=formats, pipeline=pipeline)
    return run_stages(config, RUN_STAGES, **options)
