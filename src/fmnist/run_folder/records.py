"""The shapes of a run folder's records: what each JSON file holds, as pydantic models that
every stage reads by field.

    >>> state = RunState(status="finished", epochs_done=7)
    >>> state.to_dict()
    {'status': 'finished', 'epochs_done': 7, 'train_seconds': 0.0}
    >>> Evaluation.model_validate({"accuracy": 0.93, "tta": True, "shift_tta": True}).tta
    2

Readers are lenient where a run folder is old (fields added since default to None or
empty; keys no longer written are ignored; the two switches test-time augmentation had
read as the level they meant) and strict where a value is of the wrong type: such a
file is refused in one line naming it (`fmnist.run_folder.paths.read_record_file`).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fmnist.inference.answers import tta_level
from fmnist.run_folder.atomic import process_alive


class Shape(BaseModel):
    """A record: unknown keys from other versions ignored, fields assignable."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    def to_dict(self) -> dict:
        """The record as its file holds it: what is unknown (None) or empty left out."""
        values = self.model_dump(exclude_none=True)
        return {k: v for k, v in values.items() if v != [] and v != {}}


class Record(Shape):
    """config.json: the resolved config, the versions used, when, the command."""

    config: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    created: str | None = None
    command: list[str] = Field(default_factory=list)


class RunState(Shape):
    """state.json: where a run stands; what resume and `fmnist runs` read."""

    status: str = "running"  # one of STATUSES, or "unknown" for a folder without a state
    epochs_done: int = 0  # finished epochs, each with its history row
    checkpoint: str | None = None  # the resume checkpoint, relative to the run folder
    train_seconds: float = 0.0  # time inside the epochs, checkpoints included
    precision: str | None = None  # the arithmetic it trains in: float32 or bfloat16
    stopped_by: str | None = None  # epochs | early_stopping | overfitting_gap | asha (a sweep)
    stage: str | None = None  # failed or interrupted: the stage it stopped in
    error: str | None = None  # failed or diverged: the one-line reason
    stages: list[str] = Field(default_factory=list)  # asked of the run after training
    stages_done: list[str] = Field(default_factory=list)  # of those, done
    pid: int | None = None  # running: the process that runs it, on `host`
    host: str | None = None

    @property
    def live_status(self) -> str:
        """The status, with a "running" run whose process is gone (kill -9, a crash, a
        reboot) seen as "interrupted": only checked on the machine that ran it."""
        if self.status != "running" or self.pid is None or self.host != socket.gethostname():
            return self.status
        return "running" if process_alive(self.pid) else "interrupted"

    def mark_running(self, running: bool) -> None:
        """Name this process and host while running (`live_status`), nothing otherwise."""
        self.pid, self.host = (os.getpid(), socket.gethostname()) if running else (None, None)

    @property
    def trained(self) -> bool:
        """Whether training itself is over (its model kept; stages may follow)."""
        return self.stopped_by is not None

    @property
    def stages_left(self) -> list[str]:
        return [stage for stage in self.stages if stage not in self.stages_done]


class LevelledTTA(Shape):
    """A record with a test-time augmentation level, read from the two switches (`tta`,
    `shift_tta`) older records wrote where it has them."""

    tta: int = 0  # the test-time augmentation level the answers were made at

    @model_validator(mode="before")
    @classmethod
    def _level(cls, values):
        old = isinstance(values, dict) and (
            "shift_tta" in values or isinstance(values.get("tta"), bool)
        )
        if not old:
            return values
        return {k: v for k, v in values.items() if k != "shift_tta"} | {"tta": tta_level(values)}


class Curves(Shape):
    """history.csv's columns, one value per finished epoch (empty where not recorded)."""

    loss: list[float] = Field(default_factory=list)
    accuracy: list[float] = Field(default_factory=list)
    val_loss: list[float] = Field(default_factory=list)
    val_accuracy: list[float] = Field(default_factory=list)
    crossentropy: list[float] = Field(default_factory=list)  # label-smoothed runs: plain CE
    val_crossentropy: list[float] = Field(default_factory=list)
    learning_rate: list[float] = Field(default_factory=list)  # at each epoch's end

    @property
    def epochs(self) -> int:
        return len(self.loss)


class ClassScore(Shape):
    precision: float
    recall: float
    f1: float
    support: int


class ConfusedPair(Shape):
    true: str
    predicted: str
    count: int


class CalibrationBin(Shape):
    low: float
    high: float
    count: int
    accuracy: float
    confidence: float


class Evaluation(LevelledTTA):
    """One split's evaluation (metrics.json, `evaluation.<split>`)."""

    images: int = 0
    loss: float | None = None
    accuracy: float | None = None
    accuracy_without_tta: float | None = None  # with test-time augmentation: the plain one
    top2_accuracy: float | None = None
    macro_f1: float | None = None
    per_class: dict[str, ClassScore] = Field(default_factory=dict)
    most_confused: list[ConfusedPair] = Field(default_factory=list)
    confusion: list[list[int]] = Field(default_factory=list)  # rows: true class
    ece: float | None = None
    calibration_bins: list[CalibrationBin] = Field(default_factory=list)

    @property
    def plain_accuracy(self) -> float | None:
        """The accuracy without test-time augmentation, whichever it was measured with."""
        return self.accuracy if self.accuracy_without_tta is None else self.accuracy_without_tta


class Layer(Shape):
    name: str
    type: str
    output: str
    params: int


class Metrics(LevelledTTA):
    """metrics.json: how training went, and what evaluation measured per split."""

    model: str | None = None
    params: int | None = None
    layers: list[Layer] = Field(default_factory=list)
    trained_in: str | None = None
    unsure_below: float | None = None
    unsure_validation_share: float | None = None
    epochs_run: int | None = None
    stopped_by: str | None = None
    best_epoch: int | None = None
    wall_time_s: float | None = None
    train_images_per_s: float | None = None
    validated_on: str | None = None
    node: str | None = None  # a sweep trial: the Ray node it ran on
    evaluation: dict[str, Evaluation] = Field(default_factory=dict)
    diagnosis: list[dict] = Field(default_factory=list)  # the report's findings, as shown

    def split(self, name: str) -> Evaluation | None:
        """What evaluation recorded for `name` ("val", "test"), or None."""
        return self.evaluation.get(name)


class FileCheck(Shape):
    file: str
    md5: str
    ok: bool


class DataChecks(Shape):
    folder: str
    files: list[FileCheck] = Field(default_factory=list)


class SavedFile(Shape):
    """A saved model file, reloaded and compared with the kept Keras model."""

    file: str
    bytes: int
    images: int = 0
    label_agreement: float = 1.0
    disagreements: int = 0
    max_probability_difference: float = 0.0
    required_agreement: float = 1.0
    ok: bool = True


class Pipeline(Shape):
    """pipeline.json: what `fmnist run`'s stages found besides training."""

    data: DataChecks | None = None
    saved: list[SavedFile] = Field(default_factory=list)
    predictions: list[dict[str, Any]] = Field(default_factory=list)  # answers' JSON
    timings_s: dict[str, float] = Field(default_factory=dict)
    environment: dict[str, Any] = Field(default_factory=dict)


class FolderScore(Shape):
    """One photo folder's held-out photos: how many, right, unsure, sure and right."""

    photos: int
    unsure: int | None = None
    top1: int | None = None  # in-class folders only
    top3: int | None = None
    sure: int | None = None
    sure_right: int | None = None
    answers: dict[str, int] = Field(default_factory=dict)

    def share(self, count: int | None) -> float | None:
        return None if count is None or not self.photos else count / self.photos


class PhotoOverall(Shape):
    top1: float | None = None
    top3: float | None = None
    top1_without_approximate: float | None = None
    in_class_photos: int = 0
    out_of_class_photos: int = 0
    weakest_folder: str | None = None
    threshold: float | None = None
    out_of_class_flagged: float | None = None
    in_class_flagged: float | None = None
    sure_accuracy: float | None = None


class PhotoScores(Shape):
    folders: dict[str, FolderScore] = Field(default_factory=dict)
    overall: PhotoOverall = Field(default_factory=PhotoOverall)
    risk_coverage: list[list[float]] = Field(default_factory=list)  # [coverage, right, cut]


class Photos(Shape):
    """photos.json: what learning photos did."""

    photos: str
    classes: str | None = None
    folders: dict[str, list[str]] = Field(default_factory=dict)  # folder -> its classes
    learned_from: int = 0
    held_out: int = 0
    skipped: list[str] = Field(default_factory=list)  # files in its folders, not photos
    missing_folders: list[str] = Field(default_factory=list)  # named by the mapping, absent
    settings: dict[str, Any] = Field(default_factory=dict)
    unsure_below: float | None = None
    held_out_scores: dict[str, PhotoScores] = Field(default_factory=dict)  # before, after
    val_accuracy_after: float | None = None
    prepare_s: float | None = None
    seconds: float | None = None

    @property
    def before(self) -> PhotoScores:
        return self.held_out_scores.get("before", PhotoScores())

    @property
    def after(self) -> PhotoScores:
        return self.held_out_scores.get("after", PhotoScores())


class PhotoChange(Shape):
    """A photo whose answer an adapt round changed: its file, folder and both answers."""

    file: str
    folder: str
    before: str
    after: str


class ModelVersion(Shape):
    """One version of a run's model: what it learned and what that changed."""

    version: int
    file: str  # its copy, relative to the run folder (the newest is also model.keras)
    learned: str  # training, photos (the run's photo learning) or corrections (fmnist adapt)
    created: str | None = None
    photos: list[str] = Field(default_factory=list)  # the photo folders this round learned
    new_photos: int = 0  # photos new to the model in this round
    learned_from: int = 0  # of them, learned (the rest held out to choose the threshold on)
    replayed_from: int = 0  # photos learned before, drawn from again so none is forgotten
    unsure_below: float | None = None
    fmnist_test_before: float | None = None  # Fashion-MNIST test accuracy, the run's TTA
    fmnist_test: float | None = None
    earlier_held_out_before: float | None = None  # top-1, photos held out in earlier rounds
    earlier_held_out: float | None = None
    new_before: float | None = None  # top-1 of this round's new in-class photos
    new_after: float | None = None
    per_folder: dict[str, list[float | None]] = Field(default_factory=dict)  # [before, after]
    fixed: list[PhotoChange] = Field(default_factory=list)  # wrong before, right after
    broken: list[PhotoChange] = Field(default_factory=list)  # right before, wrong after
    classes: dict[str, list[str]] = Field(default_factory=dict)  # folder -> its classes
    learned_files: list[str] = Field(default_factory=list)  # replayed by later rounds
    held_files: list[str] = Field(default_factory=list)  # measured by later rounds
    settings: dict[str, Any] = Field(default_factory=dict)
    seconds: float | None = None


class Versions(Shape):
    """versions.json: every version of the run's model, oldest first."""

    versions: list[ModelVersion] = Field(default_factory=list)

    @property
    def current(self) -> ModelVersion | None:
        return self.versions[-1] if self.versions else None


class Tracking(Shape):
    """mlflow.json: the MLflow run a tracked run logs into."""

    run_id: str
    tracking_uri: str
    experiment_id: str | None = None
