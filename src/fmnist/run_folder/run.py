"""A run as data: its folder's records read once, typed.

    >>> run = Run.load("runs/20261206-132439-lean_cnn")                   # doctest: +SKIP
    >>> run.config["model"], run.metrics.best_epoch, run.state.live_status  # doctest: +SKIP

Stages take a `Run` and read its fields instead of reopening the folder; one that changes a
record writes it through `save` and keeps the `Run` current.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fmnist.errors import FmnistError
from fmnist.run_folder.paths import RunFolder
from fmnist.run_folder.records import (
    Curves,
    Metrics,
    Photos,
    Pipeline,
    Record,
    RunState,
    Versions,
)


@dataclass
class Run:
    """A run folder's records: config and versions, state, metrics, pipeline, photos, and
    the history of its epochs."""

    folder: RunFolder
    record: Record
    state: RunState
    metrics: Metrics
    pipeline: Pipeline
    photos: Photos | None = None
    versions: Versions = field(default_factory=Versions)
    history: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | str | RunFolder) -> Run:
        """Every record of the run folder at `path`, read once."""
        folder = path if isinstance(path, RunFolder) else RunFolder(path)
        if not folder.is_run:
            raise FmnistError(f"{folder.path}: not a run folder (no {folder.config_path.name})")
        return cls(
            folder,
            folder.read_record(),
            folder.read_state(),
            folder.read_metrics(),
            folder.read_pipeline(),
            folder.read_photos(),
            folder.read_versions(),
            folder.read_history(),
        )

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def curves(self) -> Curves:
        """The history's columns by name."""
        return Curves.model_validate(self.history)

    @property
    def config(self) -> dict:
        """The resolved config as written (`fmnist.training.config.make_config` types it)."""
        return self.record.config

    def save(self, *records: str) -> None:
        """Write the named records: state, metrics, pipeline, photos, versions, record."""
        for name in records:
            getattr(self.folder, f"write_{name}")(getattr(self, name))
